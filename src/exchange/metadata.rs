//! A GCE/GKE metadata server as an upstream: access tokens, ID tokens, identity facts.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::{Http, oauth};
use crate::{
    credentials::MetadataServer,
    error::{Endpoint, Error, Result, UpstreamError},
    secret::Secret,
    token::Token,
    validate::Scope,
};

const ENDPOINT: Endpoint = Endpoint::Metadata;
const ACCOUNT: &str = "instance/service-accounts/default/";
/// When ADC merely falls back to the metadata server, a short wait decides "not on GCE".
const DETECT_TIMEOUT: Duration = Duration::from_secs(2);

/// An access token from the metadata server, for `scopes` where the server honours them.
pub(crate) async fn access_token(
    http: &Http,
    server: &MetadataServer,
    scopes: Option<&[Scope]>,
) -> Result<Token> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: Option<Secret>,
        expires_in: Option<serde_json::Value>,
    }
    let joined = scopes.map(|s| Scope::joined(s, ","));
    let query: Vec<(&str, &str)> = joined.iter().map(|s| ("scopes", s.as_str())).collect();
    let url = format!("{}{ACCOUNT}token", server.base_url());
    let body = get(http, server, &url, &query).await?;
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| bad(&url, &format!("not a token answer ({})", super::oauth::unquoted(&e))))?;
    let value =
        answer.access_token.filter(|t| !t.is_empty()).ok_or_else(|| bad(&url, "no \"access_token\""))?;
    let seconds =
        oauth::expires_in(answer.expires_in.as_ref()).ok_or_else(|| bad(&url, "no usable \"expires_in\""))?;
    Ok(Token::from_lifetime(value, SystemTime::now(), seconds).map_err(|why| bad(&url, &why))?)
}

/// An ID token for `audience`; `format=full` adds the email claims.
pub(crate) async fn id_token(
    http: &Http,
    server: &MetadataServer,
    audience: &str,
    include_email: bool,
) -> Result<Token> {
    let format = if include_email { "full" } else { "standard" };
    let url = format!("{}{ACCOUNT}identity", server.base_url());
    let body = get(http, server, &url, &[("audience", audience), ("format", format)]).await?;
    let text = String::from_utf8(body).map_err(|_| bad(&url, "not text"))?;
    Ok(oauth::id_token_with_expiry(&url, Secret::new(text.trim()))?)
}

/// A plain-text value such as `project/project-id` or the account's `email`.
pub(crate) async fn text(http: &Http, server: &MetadataServer, path: &str) -> Result<String> {
    let url = format!("{}{path}", server.base_url());
    let body = get(http, server, &url, &[]).await?;
    Ok(String::from_utf8_lossy(&body).trim().to_owned())
}

async fn get(http: &Http, server: &MetadataServer, url: &str, query: &[(&str, &str)]) -> Result<Vec<u8>> {
    if !server.explicit {
        detect(http, server).await?;
    }
    let build = |client: &reqwest::Client| client.get(url).query(query).header("Metadata-Flavor", "Google");
    Ok(http.send(ENDPOINT, url, build).await?)
}

/// When ADC merely falls back to the default address, make sure a metadata server is there:
/// like Python google-auth, require a 200 carrying `Metadata-Flavor: Google` (a firewall or
/// proxy answering on that address is not one). Anything else means "no credentials".
async fn detect(http: &Http, server: &MetadataServer) -> Result<()> {
    let url = format!("http://{}/", server.host);
    let answer = http
        .client_for(&url)
        .get(&url)
        .header("Metadata-Flavor", "Google")
        .timeout(DETECT_TIMEOUT)
        .send()
        .await;
    let why = match answer {
        Ok(r)
            if r.status().is_success()
                && r.headers().get("metadata-flavor").is_some_and(|v| v == "Google") =>
        {
            return Ok(());
        }
        Ok(r) => format!("HTTP {} without Metadata-Flavor: Google", r.status().as_u16()),
        Err(e) if e.is_timeout() => "no answer".to_owned(),
        Err(_) => "cannot connect".to_owned(),
    };
    Err(Error::NoCredentials {
        looked: format!(
            "GOOGLE_APPLICATION_CREDENTIALS (unset), gcloud's application_default_credentials.json (absent), \
             and a metadata server at {} ({why})",
            server.host
        ),
    })
}

fn bad(url: &str, why: &str) -> UpstreamError {
    UpstreamError::bad_response(ENDPOINT, url, why)
}
