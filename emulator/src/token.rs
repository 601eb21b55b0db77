//! `POST /token`: the JWT-bearer, refresh-token and authorization-code
//! grants (the last in `code_grant.rs`), as strict as
//! `oauth2.googleapis.com` so client bugs fail here rather than in production.

use axum::response::{IntoResponse, Response};
use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};

use super::code_grant;
use super::form::Form;
use super::issue::{issue_access_token, sign_id_token};
use super::keys::RawJwt;
use super::server::{OAuthError, json_body};
use super::state::{GOOGLE_TOKEN_URI, Shared};

/// A successful JSON body or a Google error.
type Outcome<T> = Result<T, OAuthError>;

/// One grant type's handler.
type Grant = fn(&Shared, &Form) -> Outcome<Value>;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const BAD_SIGNATURE: &str = "Invalid JWT Signature.";
const BAD_TIMES: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
    reasonable timeframe. Check your iat and exp values in the JWT claim.";
const BAD_SCOPE: &str = "Invalid OAuth scope or ID token audience provided.";
const NO_DWD: &str = "Client is unauthorized to retrieve access tokens using this method, or \
    client not authorized for any of the scopes requested.";
const ASSERTION_CLAIMS: [&str; 8] = ["iss", "scope", "aud", "exp", "iat", "sub", "prn", "target_audience"];

/// Answers a parsed token request.
pub fn respond(shared: &Shared, form: Outcome<Form>) -> Response {
    let form = match form {
        Ok(form) => form,
        Err(rejection) => return rejection.into_response(),
    };
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    let (allowed, handler): (&[&str], Grant) = match grant {
        JWT_BEARER => (&["grant_type", "assertion"], jwt_bearer),
        "refresh_token" => {
            (&["grant_type", "client_id", "client_secret", "refresh_token", "scope", "rapt"], refresh)
        }
        "authorization_code" => (&code_grant::PARAMETERS, code_grant::exchange),
        other => {
            let msg = format!("Invalid grant_type: {other}");
            return OAuthError::new(400, "unsupported_grant_type", msg).into_response();
        }
    };
    if let Some(unknown) = form.keys().find(|k| !allowed.contains(&k.as_str())) {
        return invalid_request(&format!("Unknown parameter: {unknown}")).into_response();
    }
    match handler(shared, &form) {
        Ok(body) => json_body(200, body),
        Err(rejection) => rejection.into_response(),
    }
}

/// What an assertion asks for.
enum Want {
    Scopes(Vec<String>),
    IdToken(String),
}

fn jwt_bearer(shared: &Shared, form: &Form) -> Outcome<Value> {
    let assertion = required(form, "assertion")?;
    let jwt = RawJwt::split(assertion).ok_or_else(|| bad_grant(BAD_SIGNATURE))?;
    let claims = &jwt.claims;
    let iss = claims["iss"].as_str().unwrap_or_default();
    let (key, client_id, dwd) = signing_key(shared, &jwt, iss)?;
    if !jwt.verify(&key) {
        return Err(bad_grant(BAD_SIGNATURE));
    }
    check_claim_names(claims)?;
    check_audience(shared, claims)?;
    check_times(shared.now(), claims)?;
    let want = wanted(claims)?;
    let subject = subject(claims)?;
    if subject.is_some() && !dwd {
        return Err(OAuthError::new(401, "unauthorized_client", NO_DWD));
    }
    Ok(match want {
        Want::Scopes(scopes) => issue_access_token(shared, iss, scopes, subject),
        Want::IdToken(aud) => issue_sa_id_token(shared, iss, &client_id, &aud, subject),
    })
}

/// The registered key named by `kid`, plus the account's client id and DWD flag.
fn signing_key(shared: &Shared, jwt: &RawJwt, iss: &str) -> Outcome<(DecodingKey, String, bool)> {
    let state = shared.lock();
    let account = state.accounts.get(iss);
    let account = account.ok_or_else(|| bad_grant("Invalid grant: account not found"))?;
    let header_ok = jwt.header["alg"] == "RS256" && jwt.header["typ"] == "JWT";
    let kid = jwt.header["kid"].as_str().unwrap_or_default();
    let key = account.keys.get(kid).filter(|_| header_ok);
    let key = key.ok_or_else(|| bad_grant(BAD_SIGNATURE))?.clone();
    Ok((key, account.client_id.clone(), account.dwd))
}

fn check_claim_names(claims: &Value) -> Outcome<()> {
    let names = claims.as_object().into_iter().flat_map(|o| o.keys());
    match names.into_iter().find(|k| !ASSERTION_CLAIMS.contains(&k.as_str())) {
        Some(name) => Err(bad_grant(&format!("Invalid JWT: Unexpected claim: {name}"))),
        None => Ok(()),
    }
}

fn check_audience(shared: &Shared, claims: &Value) -> Outcome<()> {
    let token_uri = shared.lock().token_uri.clone();
    let aud = claims["aud"].as_str().unwrap_or_default();
    if aud == token_uri || aud == GOOGLE_TOKEN_URI {
        return Ok(());
    }
    let msg = format!("Invalid JWT: Failed audience check. The right audience is {token_uri}");
    Err(bad_grant(&msg))
}

fn check_times(now: u64, claims: &Value) -> Outcome<()> {
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(bad_grant(BAD_TIMES));
    };
    let sane = iat <= now + 300 && iat < exp && exp > now && exp - iat <= 3600;
    if sane { Ok(()) } else { Err(bad_grant(BAD_TIMES)) }
}

/// Exactly one of a well-formed `scope` or a non-empty `target_audience`.
fn wanted(claims: &Value) -> Outcome<Want> {
    let bad = || OAuthError::new(400, "invalid_scope", BAD_SCOPE);
    match (claims.get("scope"), claims.get("target_audience")) {
        (Some(Value::String(scope)), None) => parse_scopes(scope).map(Want::Scopes).ok_or_else(bad),
        (None, Some(Value::String(aud))) if !aud.is_empty() => Ok(Want::IdToken(aud.clone())),
        _ => Err(bad()),
    }
}

/// Space-separated scopes; commas, doubled spaces and bare words are client bugs.
pub fn parse_scopes(scope: &str) -> Option<Vec<String>> {
    let valid = |s: &&str| {
        let url = s.len() > "https://".len() && s.starts_with("https://") && !s.contains(',');
        url || matches!(*s, "openid" | "email" | "profile")
    };
    let scopes: Vec<&str> = scope.split(' ').collect();
    let all_valid = !scope.is_empty() && scopes.iter().all(valid);
    all_valid.then(|| scopes.into_iter().map(str::to_string).collect())
}

/// The delegated user: `sub`, or Go's legacy `prn`, which must agree.
fn subject(claims: &Value) -> Outcome<Option<String>> {
    let as_user = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let bad = || bad_grant("Invalid JWT: sub and prn must be non-empty and identical");
    match (claims.get("sub"), claims.get("prn")) {
        (None, None) => Ok(None),
        (Some(one), None) | (None, Some(one)) => as_user(one).map(Some).ok_or_else(bad),
        (Some(sub), Some(prn)) if sub == prn => as_user(sub).map(Some).ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn issue_sa_id_token(
    shared: &Shared,
    email: &str,
    client_id: &str,
    aud: &str,
    subject: Option<String>,
) -> Value {
    let claims = json!({
        "aud": aud, "azp": email, "email": email, "email_verified": true, "sub": client_id,
    });
    let jwt = sign_id_token(shared, email, subject, claims);
    json!({ "id_token": jwt })
}

fn refresh(shared: &Shared, form: &Form) -> Outcome<Value> {
    let client_id = required(form, "client_id")?;
    let (email, user_id, scopes) = check_refresh(shared, form, client_id)?;
    Ok(user_token_body(shared, client_id, &email, &user_id, scopes))
}

/// A user's access token answer, plus an ID token when `openid` is among
/// the scopes; shared by the refresh and authorization-code grants.
pub fn user_token_body(
    shared: &Shared,
    client_id: &str,
    email: &str,
    user_id: &str,
    scopes: Vec<String>,
) -> Value {
    let body_scope = Value::from(scopes.join(" "));
    let openid = scopes.iter().any(|s| s == "openid");
    let mut body = issue_access_token(shared, email, scopes, None);
    body["scope"] = body_scope;
    if openid {
        let claims = json!({
            "aud": client_id, "azp": client_id, "email": email, "email_verified": true,
            "sub": user_id,
        });
        body["id_token"] = Value::from(sign_id_token(shared, email, None, claims));
    }
    body
}

/// Checks client, secret, refresh token and any narrowed `scope`, in the
/// order Google does; returns the user's email, id and granted scopes.
fn check_refresh(shared: &Shared, form: &Form, client_id: &str) -> Outcome<(String, String, Vec<String>)> {
    let secret = required(form, "client_secret")?;
    let refresh_token = required(form, "refresh_token")?;
    let state = shared.lock();
    let not_found = || OAuthError::new(401, "invalid_client", "The OAuth client was not found.");
    let client = state.clients.get(client_id).ok_or_else(not_found)?;
    if client.secret != secret {
        return Err(OAuthError::new(401, "invalid_client", "Unauthorized"));
    }
    // A token of another client is as unknown as a revoked one.
    let grant = state.grants.get(refresh_token).filter(|g| g.client_id == client_id);
    let grant = grant.ok_or_else(|| bad_grant("Bad Request"))?;
    let scopes = match form.get("scope") {
        None => grant.scopes.clone(),
        Some(asked) => parse_scopes(asked)
            .filter(|s| s.iter().all(|one| grant.scopes.contains(one)))
            .ok_or_else(|| OAuthError::new(400, "invalid_scope", "Bad Request"))?,
    };
    Ok((grant.email.clone(), grant.user_id.clone(), scopes))
}

/// The non-empty value of `name`, else Google's "Missing required parameter".
pub fn required<'f>(form: &'f Form, name: &str) -> Outcome<&'f str> {
    match form.get(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(invalid_request(&format!("Missing required parameter: {name}"))),
    }
}

fn invalid_request(msg: &str) -> OAuthError {
    OAuthError::new(400, "invalid_request", msg)
}

/// `400 invalid_grant` with `msg`.
pub fn bad_grant(msg: &str) -> OAuthError {
    OAuthError::new(400, "invalid_grant", msg)
}
