//! Google STS: the RFC 8693 token exchange of workload identity federation.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::{Http, oauth};
use crate::{
    credentials::ExternalAccount,
    error::{Endpoint, Result, UpstreamError},
    secret::Secret,
    token::{Token, jwt_expiry},
    validate::Scope,
};

const ENDPOINT: Endpoint = Endpoint::Sts;
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Without `expires_in` (a Google subject token) and no JWT expiry to go by, assume an hour.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
struct Answer {
    access_token: Option<Secret>,
    expires_in: Option<serde_json::Value>,
}

/// Exchanges `subject` for a federated access token with `scopes`.
pub(crate) async fn exchange(
    http: &Http,
    account: &ExternalAccount,
    subject: &Secret,
    scopes: &[Scope],
) -> Result<Token> {
    let scope = Scope::joined(scopes, " ");
    // Google's libraries send `userProject` only for workforce pools without a client.
    let options = match (&account.workforce_pool_user_project, &account.client) {
        (Some(project), None) => Some(serde_json::json!({ "userProject": project }).to_string()),
        _ => None,
    };
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("audience", account.audience.as_str()),
        ("scope", scope.as_str()),
        ("requested_token_type", ACCESS_TOKEN_TYPE),
        ("subject_token", subject.expose()),
        ("subject_token_type", account.subject_token_type.as_str()),
    ];
    if let Some(options) = &options {
        form.push(("options", options));
    }
    let url = &account.token_url;
    let body = http
        .send(ENDPOINT, url, |client| {
            let request = client.post(url).form(&form);
            match &account.client {
                Some((id, secret)) => request.basic_auth(id, Some(secret.expose())),
                None => request,
            }
        })
        .await?;
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| bad(url, &format!("not an STS answer ({})", super::oauth::unquoted(&e))))?;
    let value =
        answer.access_token.filter(|t| !t.is_empty()).ok_or_else(|| bad(url, "no \"access_token\""))?;
    let now = SystemTime::now();
    let token = match answer.expires_in {
        Some(v) => {
            let seconds = oauth::expires_in(Some(&v))
                .ok_or_else(|| bad(url, "\"expires_in\" is not a positive whole number"))?;
            Token::from_lifetime(value, now, seconds)
        }
        None => {
            let default = now.checked_add(DEFAULT_LIFETIME).unwrap_or(now);
            let expires_at = jwt_expiry(subject.expose()).filter(|t| *t > now).unwrap_or(default);
            Token::from_upstream(value, now, expires_at)
        }
    };
    Ok(token.map_err(|why| bad(url, &why))?)
}

fn bad(url: &str, why: &str) -> UpstreamError {
    UpstreamError::bad_response(ENDPOINT, url, why)
}
