//! IAM Credentials: a service account's access and ID tokens for a caller allowed to
//! impersonate it (`roles/iam.serviceAccountTokenCreator`).

use serde::Deserialize;
use serde_json::json;

use super::{Http, oauth};
use crate::{
    credentials::Impersonation,
    error::{Endpoint, Result, UpstreamError},
    secret::Secret,
    token::{Token, parse_rfc3339},
    validate::Scope,
};

const ENDPOINT: Endpoint = Endpoint::IamCredentials;

/// `generateAccessToken` for the target, authenticated with `bearer`.
pub(crate) async fn generate_access_token(
    http: &Http,
    target: &Impersonation,
    bearer: &Secret,
    scopes: &[Scope],
) -> Result<Token> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        access_token: Option<Secret>,
        expire_time: Option<String>,
    }
    let mut body = serde_json::Map::new();
    body.insert("scope".to_owned(), json!(scopes));
    if let Some(lifetime) = target.lifetime {
        body.insert("lifetime".to_owned(), json!(format!("{}s", lifetime.as_secs())));
    }
    if !target.delegates.is_empty() {
        body.insert("delegates".to_owned(), json!(target.delegates));
    }
    let body = serde_json::Value::Object(body);
    let answer: Answer = post(http, &target.url, bearer, &body).await?;
    let url = &target.url;
    let value =
        answer.access_token.filter(|t| !t.is_empty()).ok_or_else(|| bad(url, "no \"accessToken\""))?;
    let expires_at = answer
        .expire_time
        .as_deref()
        .and_then(parse_rfc3339)
        .ok_or_else(|| bad(url, "no RFC 3339 \"expireTime\""))?;
    Ok(Token::from_upstream(value, std::time::SystemTime::now(), expires_at).map_err(|why| bad(url, &why))?)
}

/// `generateIdToken` for the target, authenticated with `bearer`.
pub(crate) async fn generate_id_token(
    http: &Http,
    target: &Impersonation,
    bearer: &Secret,
    audience: &str,
    include_email: bool,
) -> Result<Token> {
    #[derive(Deserialize)]
    struct Answer {
        token: Option<Secret>,
    }
    let url = id_token_url(&target.url);
    let mut body = serde_json::Map::new();
    body.insert("audience".to_owned(), json!(audience));
    body.insert("includeEmail".to_owned(), json!(include_email));
    if !target.delegates.is_empty() {
        body.insert("delegates".to_owned(), json!(target.delegates));
    }
    let body = serde_json::Value::Object(body);
    let answer: Answer = post(http, &url, bearer, &body).await?;
    let value = answer.token.filter(|t| !t.is_empty()).ok_or_else(|| bad(&url, "no \"token\""))?;
    Ok(oauth::id_token_with_expiry(&url, value).map_err(|e| UpstreamError { endpoint: ENDPOINT, ..e })?)
}

/// The `:generateIdToken` URL beside a `:generateAccessToken` one.
fn id_token_url(access_url: &str) -> String {
    let base = access_url.strip_suffix(":generateAccessToken").unwrap_or(access_url);
    format!("{base}:generateIdToken")
}

async fn post<T: serde::de::DeserializeOwned>(
    http: &Http,
    url: &str,
    bearer: &Secret,
    body: &serde_json::Value,
) -> Result<T, UpstreamError> {
    let bytes =
        http.send(ENDPOINT, url, |client| client.post(url).bearer_auth(bearer.expose()).json(body)).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| bad(url, &format!("not an IAM Credentials answer ({})", oauth::unquoted(&e))))
}

fn bad(url: &str, why: &str) -> UpstreamError {
    UpstreamError::bad_response(ENDPOINT, url, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_token_url_sits_beside_the_access_token_url() {
        let url =
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateAccessToken";
        assert_eq!(
            id_token_url(url),
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateIdToken"
        );
    }
}
