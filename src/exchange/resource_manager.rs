//! Cloud Resource Manager: a project's number from its id (`projects.get`), so `run`'s
//! metadata API can answer `project/numeric-project-id`, which gcloud needs to detect it.

use std::time::Duration;

use serde::Deserialize;

use super::{Http, RetryPolicy};
use crate::{
    error::{Endpoint, UpstreamError},
    secret::Secret,
    validate::ProjectId,
};

const ENDPOINT: Endpoint = Endpoint::ResourceManager;
/// Wait before the one retry a transient failure gets.
const RETRY_DELAY: Duration = Duration::from_secs(2);

/// `https://cloudresourcemanager.UNIVERSE`, as Google's client libraries build it.
pub(crate) fn default_endpoint(universe_domain: &str) -> String {
    format!("https://cloudresourcemanager.{universe_domain}")
}

/// `GET {endpoint}/v1/projects/{project_id}` with `bearer`; its `projectNumber`. A transient
/// failure (5xx, 429, no answer) is tried once more; a refusal (403, 404) is not.
pub(crate) async fn project_number(
    http: &Http,
    endpoint: &str,
    project_id: &ProjectId,
    bearer: &Secret,
) -> Result<String, UpstreamError> {
    let url = format!("{}/v1/projects/{project_id}", endpoint.trim_end_matches('/'));
    match get(http, &url, bearer).await {
        Err(e) if e.kind.is_retryable() => {
            tracing::debug!("{e}; trying once more in {RETRY_DELAY:?}");
            tokio::time::sleep(RETRY_DELAY).await;
            get(http, &url, bearer).await
        }
        answer => answer,
    }
}

async fn get(http: &Http, url: &str, bearer: &Secret) -> Result<String, UpstreamError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Project {
        project_number: Option<String>,
    }
    // One attempt: the caller decides about the single retry, so nothing loops here.
    let once = RetryPolicy { attempts: 1, ..RetryPolicy::default() };
    let build = |client: &reqwest::Client| client.get(url).bearer_auth(bearer.expose());
    let body = http.send_with(once, ENDPOINT, url, build).await?;
    let bad = |why: &str| UpstreamError::bad_response(ENDPOINT, url, why);
    let project: Project = serde_json::from_slice(&body)
        .map_err(|e| bad(&format!("not a Resource Manager project ({})", super::oauth::unquoted(&e))))?;
    let number = project.project_number.ok_or_else(|| bad("no \"projectNumber\""))?;
    if crate::validate::project_number(&number) {
        Ok(number)
    } else {
        Err(bad("\"projectNumber\" is not a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_endpoint_follows_the_universe() {
        assert_eq!(default_endpoint("googleapis.com"), "https://cloudresourcemanager.googleapis.com");
        assert_eq!(default_endpoint("example.cloud"), "https://cloudresourcemanager.example.cloud");
    }
}
