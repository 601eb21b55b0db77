//! IAM Credentials: `generateAccessToken` and `generateIdToken` for a
//! caller holding the Token Creator permission on the target service account,
//! directly or through a chain of delegates.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::iam_body::{self, Body};
use super::issue::{issue_bare_token, sign_id_token};
use super::server::{ApiError, json_body};
use super::state::Shared;

type Outcome<T> = Result<T, ApiError>;

/// Google's answer to a missing, unknown or expired bearer token.
pub const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 access \
    token, login cookie or other valid authentication credential.";
/// Scopes that let a token call IAM Credentials at all.
const IAM_CALLER_SCOPES: [&str; 2] =
    ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/iam"];

/// Who may impersonate whom.
#[derive(Default)]
pub struct IamPolicy {
    /// Target email -> members holding Token Creator on it (emails or
    /// `principal://` federated identities).
    pub creators: HashMap<String, HashSet<String>>,
    /// Targets whose org policy allows access tokens of up to 12 h.
    pub extended_lifetime: HashSet<String>,
    /// Send `expireTime` with microseconds, as Google sometimes does.
    pub fractional_expire_time: bool,
}

/// Route name for a path after `/v1/projects/`.
pub fn classify(rest: &str) -> &'static str {
    if !rest.contains("/serviceAccounts/") {
        "other"
    } else if rest.ends_with(":generateAccessToken") {
        "iam_access"
    } else if rest.ends_with(":generateIdToken") {
        "iam_id"
    } else {
        "other"
    }
}

/// Answers `route` ("iam_access" or "iam_id").
pub fn respond(shared: &Shared, route: &str, parts: &Parts, body: &[u8]) -> Response {
    if parts.method != "POST" {
        return ApiError::new(404, "NOT_FOUND", "Method not found.").into_response();
    }
    match handle(shared, route, parts, body) {
        Ok(answer) => json_body(200, answer),
        Err(rejection) => rejection.into_response(),
    }
}

fn handle(shared: &Shared, route: &str, parts: &Parts, body: &[u8]) -> Outcome<Value> {
    let caller = authenticate(shared, parts, &IAM_CALLER_SCOPES)?;
    let target = target_email(parts.uri.path())?;
    let access = route == "iam_access";
    let allowed: &[&str] = if access {
        &["scope", "lifetime", "delegates"]
    } else {
        &["audience", "includeEmail", "delegates", "organizationNumberIncluded"]
    };
    let body = Body::parse(parts, body, allowed)?;
    let delegates = body.delegates()?;
    let permission = if access { "getAccessToken" } else { "getOpenIdToken" };
    let client_id = {
        let state = shared.lock();
        let not_found =
            || ApiError::new(404, "NOT_FOUND", format!("Not found; Gaia id not found for email {target}"));
        let account = state.accounts.get(&target).ok_or_else(not_found)?;
        check_chain(&state.iam, &caller, &delegates, &target, permission)?;
        account.client_id.clone()
    };
    if access { access_token(shared, &target, &body) } else { id_token(shared, &target, &client_id, &body) }
}

/// The principal behind the bearer token, which must be a live access
/// token this emulator issued with one of `scopes` (those that reach the API).
pub fn authenticate(shared: &Shared, parts: &Parts, scopes: &[&str]) -> Outcome<String> {
    let unauthenticated = || ApiError::new(401, "UNAUTHENTICATED", UNAUTHENTICATED);
    let bearer = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = bearer.and_then(|v| v.strip_prefix("Bearer ")).ok_or_else(unauthenticated)?;
    let state = shared.lock();
    let issued = state.issued.get(token.trim()).filter(|i| i.audience.is_none());
    let issued = issued.filter(|i| i.expires_at > SystemTime::now()).ok_or_else(unauthenticated)?;
    if !issued.scopes.iter().any(|s| scopes.contains(&s.as_str())) {
        return Err(ApiError::new(
            403,
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
        ));
    }
    Ok(issued.principal_email.clone())
}

/// The email in `/v1/projects/-/serviceAccounts/EMAIL:method`; the project
/// must be the `-` wildcard.
fn target_email(path: &str) -> Outcome<String> {
    let rest = path.strip_prefix("/v1/projects/").unwrap_or_default();
    let (project, rest) = rest.split_once("/serviceAccounts/").unwrap_or_default();
    if project != "-" {
        let msg =
            format!("Invalid resource name: projects/{project}; the project must be the wildcard \"-\".");
        return Err(ApiError::new(400, "INVALID_ARGUMENT", msg));
    }
    let email = rest.rsplit_once(':').map(|(email, _)| email).unwrap_or_default();
    // Clients that percent-encode the `@` reach the same account.
    Ok(email.replace("%40", "@"))
}

/// caller -> `delegates[0]` -> ... -> target: each must hold the permission on the next.
fn check_chain(
    policy: &IamPolicy,
    caller: &str,
    delegates: &[String],
    target: &str,
    permission: &str,
) -> Outcome<()> {
    let chain: Vec<&str> = std::iter::once(caller)
        .chain(delegates.iter().map(String::as_str))
        .chain(std::iter::once(target))
        .collect();
    let granted =
        |pair: &[&str]| policy.creators.get(pair[1]).is_some_and(|members| members.contains(pair[0]));
    if chain.windows(2).all(granted) {
        return Ok(());
    }
    let msg =
        format!("Permission 'iam.serviceAccounts.{permission}' denied on resource (or it may not exist).");
    Err(ApiError::new(403, "PERMISSION_DENIED", msg))
}

fn access_token(shared: &Shared, target: &str, body: &Body) -> Outcome<Value> {
    let scopes = body.scopes()?;
    let (default, max, fractional) = {
        let state = shared.lock();
        let extended = state.iam.extended_lifetime.contains(target);
        (state.lifetime, if extended { 43_200 } else { 3600 }, state.iam.fractional_expire_time)
    };
    let lifetime = body.lifetime(max)?.unwrap_or(Duration::from_secs(default));
    let (token, expires_at) = issue_bare_token(shared, "ya29.iam-", target, scopes, lifetime);
    Ok(json!({ "accessToken": token, "expireTime": iam_body::rfc3339(expires_at, fractional) }))
}

fn id_token(shared: &Shared, target: &str, client_id: &str, body: &Body) -> Outcome<Value> {
    let audience = body.audience()?;
    let mut claims = Map::new();
    claims.insert("aud".into(), json!(audience));
    claims.insert("azp".into(), json!(client_id));
    claims.insert("sub".into(), json!(client_id));
    if body.include_email()? {
        claims.insert("email".into(), json!(target));
        claims.insert("email_verified".into(), json!(true));
    }
    let jwt = sign_id_token(shared, target, None, Value::Object(claims));
    Ok(json!({ "token": jwt }))
}
