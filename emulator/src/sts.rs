//! `POST /v1/token`: Google STS's RFC 8693 token exchange for workload
//! identity federation. Error texts are the ones real STS was measured to
//! send, so clients' error handling is exercised on the real words.

use std::time::Duration;

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::form::Form;
use super::issue::issue_bare_token;
use super::keys::RawJwt;
use super::server::{OAuthError, json_body};
use super::state::Shared;
use super::token::parse_scopes;

type Outcome<T> = Result<T, OAuthError>;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const SUBJECT_TYPES: [&str; 2] =
    ["urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token"];
const FIELDS: [&str; 7] = [
    "grant_type",
    "audience",
    "scope",
    "requested_token_type",
    "subject_token",
    "subject_token_type",
    "options",
];
const OPTION_FIELDS: [&str; 4] = ["userProject", "audiences", "accessBoundary", "bindCertFingerprint"];
const BAD_AUDIENCE: &str = "Invalid value for \"audience\". This value should be the full resource name of \
    the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for \
    the list of possible formats.";
const BAD_SIGNATURE: &str = "Unable to verify the ID Token signature.";
const UNKNOWN_KEY: &str = "Error connecting to the given credential's issuer.";
/// Documented limit on `exp - iat` of an OIDC subject token.
const MAX_SUBJECT_LIFETIME: u64 = 48 * 3600;

/// Answers a parsed STS request.
pub fn respond(shared: &Shared, headers: &HeaderMap, form: Outcome<Form>) -> Response {
    match form.and_then(|form| exchange(shared, headers, &form)) {
        Ok(body) => json_body(200, body),
        Err(rejection) => rejection.into_response(),
    }
}

fn exchange(shared: &Shared, headers: &HeaderMap, form: &Form) -> Outcome<Value> {
    check_client(shared, headers)?;
    let scopes = check_form(form)?;
    let audience = form.get("audience").map(String::as_str).unwrap_or_default();
    let (issuer, allowed, prefix) = provider(shared, audience)?;
    let (sub, exp) = verify_subject(shared, required(form, "subject_token")?, &issuer, &allowed)?;
    // Real STS caps the federated token at the subject's own expiry.
    let now = shared.now();
    let lifetime = shared.lock().lifetime.min(exp.saturating_sub(now)).max(1);
    let principal = format!("{prefix}{sub}");
    let (token, _) = issue_bare_token(shared, "ya29.sts-", &principal, scopes, Duration::from_secs(lifetime));
    let mut body = json!({
        "access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "Bearer",
    });
    if !shared.lock().federation.omit_expires_in {
        body["expires_in"] = json!(lifetime);
    }
    Ok(body)
}

/// Field names, grant and token types, `options`; returns the scopes.
fn check_form(form: &Form) -> Outcome<Vec<String>> {
    if let Some(unknown) = form.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid_request(&format!("Unknown parameter: {unknown}")));
    }
    if required(form, "grant_type")? != TOKEN_EXCHANGE {
        return Err(OAuthError::new(400, "unsupported_grant_type", "Invalid value for \"grant_type\"."));
    }
    expect_value(form, "requested_token_type", &[ACCESS_TOKEN_TYPE])?;
    expect_value(form, "subject_token_type", &SUBJECT_TYPES)?;
    if let Some(options) = form.get("options") {
        check_options(options)?;
    }
    let scope = form.get("scope").filter(|s| !s.is_empty());
    let scope = scope.ok_or_else(|| invalid_request("Scope(s) must be provided."))?;
    parse_scopes(scope).ok_or_else(|| OAuthError::new(400, "invalid_scope", "Invalid scope."))
}

/// Optional HTTP Basic client authentication; a client sent must be known.
fn check_client(shared: &Shared, headers: &HeaderMap) -> Outcome<()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(());
    };
    let unauthorized = || OAuthError::new(401, "invalid_client", "The OAuth client was not found.");
    let encoded = value.to_str().ok().and_then(|v| v.strip_prefix("Basic ")).ok_or_else(unauthorized)?;
    let decoded = STANDARD.decode(encoded.trim()).ok().and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = decoded.as_deref().and_then(|d| d.split_once(':')).ok_or_else(unauthorized)?;
    let state = shared.lock();
    match state.federation.clients.get(id) {
        Some(known) if known == secret => Ok(()),
        _ => Err(unauthorized()),
    }
}

/// The provider's issuer, allowed audiences and principal prefix.
fn provider(shared: &Shared, audience: &str) -> Outcome<(String, Vec<String>, String)> {
    let state = shared.lock();
    let provider = state.federation.providers.get(audience).ok_or_else(|| invalid_request(BAD_AUDIENCE))?;
    Ok((provider.issuer.clone(), provider.allowed_audiences.clone(), provider.principal_prefix.clone()))
}

/// `options` is a JSON object serialized to a string; Python URL-quotes it
/// once more before form encoding, so a quoted form is accepted too.
fn check_options(raw: &str) -> Outcome<()> {
    let bad = || invalid_request("Invalid value for \"options\".");
    let parsed = serde_json::from_str::<Value>(raw)
        .ok()
        .or_else(|| percent_decode(raw).and_then(|d| serde_json::from_str(&d).ok()));
    let object = parsed.as_ref().and_then(Value::as_object).ok_or_else(bad)?;
    match object.keys().find(|k| !OPTION_FIELDS.contains(&k.as_str())) {
        Some(_) => Err(bad()),
        None => Ok(()),
    }
}

fn percent_decode(raw: &str) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            other => other,
        });
    }
    String::from_utf8(out).ok()
}

/// Verifies an OIDC subject token; returns its `sub` and `exp`.
fn verify_subject(shared: &Shared, token: &str, issuer: &str, allowed: &[String]) -> Outcome<(String, u64)> {
    let jwt = RawJwt::split(token).ok_or_else(|| bad_grant("Unable to parse the ID Token."))?;
    let claims = &jwt.claims;
    let iss = claims["iss"].as_str().unwrap_or("null");
    if iss != issuer {
        return Err(bad_grant(&format!(
            "The issuer in ID Token {iss} does not match the expected one in config"
        )));
    }
    let kid = jwt.header["kid"].as_str().filter(|_| jwt.header["alg"] == "RS256");
    let key = {
        let state = shared.lock();
        let keys = state.federation.issuers.get(issuer);
        kid.and_then(|kid| keys?.get(kid).cloned()).ok_or_else(|| bad_grant(UNKNOWN_KEY))?
    };
    if !jwt.verify(&key) {
        return Err(bad_grant(BAD_SIGNATURE));
    }
    let aud = claims["aud"].as_str().unwrap_or_default();
    if !allowed.iter().any(|a| a == aud) {
        let msg = format!("The audience in ID Token [{aud}] does not match the expected audience.");
        return Err(bad_grant(&msg));
    }
    let exp = check_times(shared.now(), claims)?;
    let sub = claims["sub"].as_str().filter(|s| !s.is_empty());
    let sub = sub.ok_or_else(|| bad_grant("The mapped attribute google.subject must not be empty."))?;
    if sub.len() > 127 {
        return Err(bad_grant("The size of mapped attribute google.subject exceeds the 127 bytes limit."));
    }
    Ok((sub.to_string(), exp))
}

/// `iat` and `exp` present, not expired, and at most 48 h apart; returns `exp`.
fn check_times(now: u64, claims: &Value) -> Outcome<u64> {
    let stale = |iat: &Value| bad_grant(&format!("ID Token issued at {iat} is stale to sign-in."));
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(stale(&claims["iat"]));
    };
    if exp <= now || iat > now + 60 || exp <= iat {
        return Err(stale(&claims["iat"]));
    }
    if exp - iat > MAX_SUBJECT_LIFETIME {
        return Err(bad_grant("The lifetime of the ID Token (exp - iat) must not exceed 48 hours."));
    }
    Ok(exp)
}

fn expect_value(form: &Form, name: &str, allowed: &[&str]) -> Outcome<()> {
    let value = required(form, name)?;
    match allowed.contains(&value) {
        true => Ok(()),
        false => Err(invalid_request(&format!("Invalid value for \"{name}\"."))),
    }
}

fn required<'f>(form: &'f Form, name: &str) -> Outcome<&'f str> {
    match form.get(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(invalid_request(&format!("Missing required parameter: {name}"))),
    }
}

fn invalid_request(msg: &str) -> OAuthError {
    OAuthError::new(400, "invalid_request", msg)
}

fn bad_grant(msg: &str) -> OAuthError {
    OAuthError::new(400, "invalid_grant", msg)
}
