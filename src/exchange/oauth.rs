//! OAuth 2.0 grants at Google's token endpoint: JWT-bearer (RFC 7523) for service
//! accounts, for access and ID tokens, and refresh-token for users.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::{Http, jwt};
use crate::{
    credentials::{AuthorizedUser, ServiceAccountKey},
    error::{Endpoint, Result, UpstreamError},
    secret::Secret,
    token::{Token, jwt_expiry},
    validate::Scope,
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ENDPOINT: Endpoint = Endpoint::Token;

/// A token endpoint's success body.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<Secret>,
    id_token: Option<Secret>,
    /// Seconds; some servers send a string, and Google's libraries accept both.
    expires_in: Option<serde_json::Value>,
}

/// An access token for `scopes` from a service-account key.
pub(crate) async fn service_account_access(
    http: &Http,
    key: &ServiceAccountKey,
    scopes: &[Scope],
    subject: Option<&str>,
) -> Result<Token> {
    let mut claims = jwt::Claims::new(key, SystemTime::now());
    claims.scope = Some(Scope::joined(scopes, " "));
    claims.aud = Some(&key.token_uri);
    claims.sub = subject;
    let assertion = jwt::sign(key, &claims)?;
    let response =
        post(http, &key.token_uri, &[("grant_type", JWT_BEARER), ("assertion", &assertion)]).await?;
    access_token(&key.token_uri, response)
}

/// An ID token for `audience` from a service-account key (the `target_audience` grant).
pub(crate) async fn service_account_id(
    http: &Http,
    key: &ServiceAccountKey,
    audience: &str,
) -> Result<Token> {
    let mut claims = jwt::Claims::new(key, SystemTime::now());
    claims.aud = Some(&key.token_uri);
    claims.target_audience = Some(audience);
    let assertion = jwt::sign(key, &claims)?;
    let response =
        post(http, &key.token_uri, &[("grant_type", JWT_BEARER), ("assertion", &assertion)]).await?;
    let id_token = response.id_token.ok_or_else(|| bad(&key.token_uri, "no \"id_token\" in the answer"))?;
    id_token_with_expiry(&key.token_uri, id_token).map_err(Into::into)
}

/// A self-signed JWT used directly as the access token: how Google's libraries authenticate
/// in universes other than googleapis.com, which have no OAuth token endpoint.
pub(crate) fn self_signed_access(key: &ServiceAccountKey, scopes: &[Scope]) -> Result<Token> {
    let now = SystemTime::now();
    let mut claims = jwt::Claims::new(key, now);
    claims.scope = Some(Scope::joined(scopes, " "));
    claims.sub = Some(&key.client_email);
    let jwt = jwt::sign(key, &claims)?;
    Ok(Token::new(Secret::new(jwt), now, Duration::from_secs(jwt::ASSERTION_LIFETIME_SECS)))
}

/// An access token from a user's refresh token. Scopes are sent only when asked for:
/// a refresh token cannot be widened, and by default Google returns its granted scopes.
pub(crate) async fn refresh_grant(
    http: &Http,
    user: &AuthorizedUser,
    scopes: Option<&[Scope]>,
) -> Result<Token> {
    let scope = scopes.map(|s| Scope::joined(s, " "));
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", user.client_id.as_str()),
        ("client_secret", user.client_secret.expose()),
        ("refresh_token", user.refresh_token.expose()),
    ];
    if let Some(scope) = &scope {
        form.push(("scope", scope));
    }
    let response = post(http, &user.token_uri, &form).await?;
    access_token(&user.token_uri, response)
}

async fn post(http: &Http, url: &str, form: &[(&str, &str)]) -> Result<TokenResponse, UpstreamError> {
    let body = http.send(ENDPOINT, url, |client| client.post(url).form(form)).await?;
    let response: TokenResponse = serde_json::from_slice(&body)
        .map_err(|e| bad(url, &format!("not a token response ({})", unquoted(&e))))?;
    Ok(response)
}

fn access_token(url: &str, response: TokenResponse) -> Result<Token> {
    let value = response
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad(url, "no \"access_token\" in the answer"))?;
    let seconds =
        expires_in(response.expires_in.as_ref()).ok_or_else(|| bad(url, "no usable \"expires_in\""))?;
    Token::from_lifetime(value, SystemTime::now(), seconds).map_err(|why| bad(url, &why).into())
}

/// An ID token expires when its own `exp` claim says.
pub(crate) fn id_token_with_expiry(url: &str, value: Secret) -> Result<Token, UpstreamError> {
    let expires_at =
        jwt_expiry(value.expose()).ok_or_else(|| bad(url, "the ID token is not a JWT with \"exp\""))?;
    Token::from_upstream(value, SystemTime::now(), expires_at).map_err(|why| bad(url, &why))
}

/// `expires_in` as a positive whole number of seconds, from a number or a numeric string.
pub(crate) fn expires_in(value: Option<&serde_json::Value>) -> Option<u64> {
    let seconds = match value? {
        serde_json::Value::Number(n) => n.as_u64()?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (seconds > 0).then_some(seconds)
}

/// A parser's message about an upstream answer, without the values it quotes.
pub(crate) fn unquoted(error: &serde_json::Error) -> String {
    crate::validate::without_quoted(&error.to_string())
}

pub(crate) fn bad(url: &str, why: &str) -> UpstreamError {
    UpstreamError::bad_response(ENDPOINT, url, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expires_in_accepts_numbers_and_numeric_strings() {
        assert_eq!(expires_in(Some(&json!(3599))), Some(3599));
        assert_eq!(expires_in(Some(&json!("3599"))), Some(3599));
        assert_eq!(expires_in(Some(&json!(-5))), None);
        assert_eq!(expires_in(Some(&json!(1e12))), None, "not a whole number");
        assert_eq!(expires_in(Some(&json!(0))), None);
        assert_eq!(expires_in(Some(&json!("soon"))), None);
        assert_eq!(expires_in(None), None);
    }
}
