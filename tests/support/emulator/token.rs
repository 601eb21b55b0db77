//! `POST /token`: the JWT-bearer and refresh-token grants, as strict as
//! `oauth2.googleapis.com` so client bugs fail here rather than in production.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::keys::RawJwt;
use super::server::{json_body, oauth_error};
use super::state::{GOOGLE_TOKEN_URI, Issued, Recorded, Shared, now, random_alnum};

/// Parsed `application/x-www-form-urlencoded` body.
pub type Form = BTreeMap<String, String>;

/// Error or success, both already rendered; lets checks use `?`.
type Reply = Result<Response, Response>;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const BAD_SIGNATURE: &str = "Invalid JWT Signature.";
const BAD_TIMES: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
    reasonable timeframe. Check your iat and exp values in the JWT claim.";
const BAD_SCOPE: &str = "Invalid OAuth scope or ID token audience provided.";
const NO_DWD: &str = "Client is unauthorized to retrieve access tokens using this method, or \
    client not authorized for any of the scopes requested.";
const ASSERTION_CLAIMS: [&str; 8] = [
    "iss",
    "scope",
    "aud",
    "exp",
    "iat",
    "sub",
    "prn",
    "target_audience",
];

/// Checks the content type and decodes the form, recording what was sent
/// (including the decoded assertion) even if the request is later faulted.
pub fn parse(headers: &HeaderMap, body: &[u8], rec: &mut Recorded) -> Result<Form, Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        let msg = format!("Invalid Content-Type: {content_type:?}; expected form encoding.");
        return Err(invalid_request(&msg));
    }
    let form = decode_form(body).map_err(|msg| invalid_request(&msg))?;
    rec.form = form.clone();
    if let Some(jwt) = form.get("assertion").and_then(|a| RawJwt::split(a)) {
        rec.jwt_header = Some(jwt.header);
        rec.jwt_claims = Some(jwt.claims);
    }
    Ok(form)
}

/// Answers a parsed token request.
pub fn respond(shared: &Shared, form: Result<Form, Response>) -> Response {
    let form = match form {
        Ok(form) => form,
        Err(rejection) => return rejection,
    };
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    let (allowed, handler): (&[&str], fn(&Shared, &Form) -> Reply) = match grant {
        JWT_BEARER => (&["grant_type", "assertion"], jwt_bearer),
        "refresh_token" => (
            &["grant_type", "client_id", "client_secret", "refresh_token", "scope", "rapt"],
            refresh,
        ),
        other => {
            let msg = format!("Invalid grant_type: {other}");
            return oauth_error(400, "unsupported_grant_type", &msg);
        }
    };
    if let Some(unknown) = form.keys().find(|k| !allowed.contains(&k.as_str())) {
        return invalid_request(&format!("Unknown parameter: {unknown}"));
    }
    handler(shared, &form).unwrap_or_else(|rejection| rejection)
}

/// What an assertion asks for.
enum Want {
    Scopes(Vec<String>),
    IdToken(String),
}

fn jwt_bearer(shared: &Shared, form: &Form) -> Reply {
    let assertion = required(form, "assertion")?;
    let jwt = RawJwt::split(assertion).ok_or_else(|| bad_grant(BAD_SIGNATURE))?;
    let claims = &jwt.claims;
    let iss = claims["iss"].as_str().unwrap_or_default();
    let (key, client_id, dwd) = {
        let state = shared.lock();
        let account = state.accounts.get(iss);
        let account = account.ok_or_else(|| bad_grant("Invalid grant: account not found"))?;
        let header_ok = jwt.header["alg"] == "RS256" && jwt.header["typ"] == "JWT";
        let kid = jwt.header["kid"].as_str().unwrap_or_default();
        let key = account.keys.get(kid).filter(|_| header_ok);
        let key = key.ok_or_else(|| bad_grant(BAD_SIGNATURE))?.clone();
        (key, account.client_id.clone(), account.dwd)
    };
    if !jwt.verify(&key) {
        return Err(bad_grant(BAD_SIGNATURE));
    }
    check_claim_names(claims)?;
    check_audience(shared, claims)?;
    check_times(claims)?;
    let want = wanted(claims)?;
    let subject = subject(claims)?;
    if subject.is_some() && !dwd {
        return Err(oauth_error(401, "unauthorized_client", NO_DWD));
    }
    Ok(match want {
        Want::Scopes(scopes) => json_body(200, issue_access_token(shared, iss, scopes, subject)),
        Want::IdToken(aud) => issue_sa_id_token(shared, iss, &client_id, &aud, subject),
    })
}

fn check_claim_names(claims: &Value) -> Result<(), Response> {
    let names = claims.as_object().into_iter().flat_map(|o| o.keys());
    match names.into_iter().find(|k| !ASSERTION_CLAIMS.contains(&k.as_str())) {
        Some(name) => Err(bad_grant(&format!("Invalid JWT: Unexpected claim: {name}"))),
        None => Ok(()),
    }
}

fn check_audience(shared: &Shared, claims: &Value) -> Result<(), Response> {
    let token_uri = shared.lock().token_uri.clone();
    let aud = claims["aud"].as_str().unwrap_or_default();
    if aud == token_uri || aud == GOOGLE_TOKEN_URI {
        return Ok(());
    }
    let msg = format!("Invalid JWT: Failed audience check. The right audience is {token_uri}");
    Err(bad_grant(&msg))
}

fn check_times(claims: &Value) -> Result<(), Response> {
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err(bad_grant(BAD_TIMES));
    };
    let now = now();
    let sane = iat <= now + 300 && iat < exp && exp > now && exp - iat <= 3600;
    if sane { Ok(()) } else { Err(bad_grant(BAD_TIMES)) }
}

/// Exactly one of a well-formed `scope` or a non-empty `target_audience`.
fn wanted(claims: &Value) -> Result<Want, Response> {
    let bad = || oauth_error(400, "invalid_scope", BAD_SCOPE);
    match (claims.get("scope"), claims.get("target_audience")) {
        (Some(Value::String(scope)), None) => parse_scopes(scope).map(Want::Scopes).ok_or_else(bad),
        (None, Some(Value::String(aud))) if !aud.is_empty() => Ok(Want::IdToken(aud.clone())),
        _ => Err(bad()),
    }
}

/// Space-separated scopes; commas, doubled spaces and bare words are client bugs.
fn parse_scopes(scope: &str) -> Option<Vec<String>> {
    let valid = |s: &&str| {
        let url = s.len() > "https://".len() && s.starts_with("https://") && !s.contains(',');
        url || matches!(*s, "openid" | "email" | "profile")
    };
    let scopes: Vec<&str> = scope.split(' ').collect();
    let all_valid = !scope.is_empty() && scopes.iter().all(valid);
    all_valid.then(|| scopes.into_iter().map(str::to_string).collect())
}

/// The delegated user: `sub`, or Go's legacy `prn`, which must agree.
fn subject(claims: &Value) -> Result<Option<String>, Response> {
    let as_user = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let bad = || bad_grant("Invalid JWT: sub and prn must be non-empty and identical");
    match (claims.get("sub"), claims.get("prn")) {
        (None, None) => Ok(None),
        (Some(one), None) | (None, Some(one)) => as_user(one).map(Some).ok_or_else(bad),
        (Some(sub), Some(prn)) if sub == prn => as_user(sub).map(Some).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// Mints an access token, records it, and returns the JSON body.
pub fn issue_access_token(
    shared: &Shared,
    principal: &str,
    scopes: Vec<String>,
    subject: Option<String>,
) -> Value {
    let token = format!("ya29.emu-{}", random_alnum(48));
    let (lifetime, expires_at) = {
        let state = shared.lock();
        (state.lifetime, state.expiry(now()))
    };
    let body = json!({ "access_token": token, "expires_in": lifetime, "token_type": "Bearer" });
    let principal_email = principal.to_string();
    let issued = Issued { principal_email, scopes, audience: None, expires_at, subject };
    shared.remember(&token, issued);
    body
}

/// Signs an ID token with the emulator key and records it.
pub fn sign_id_token(
    shared: &Shared,
    principal: &str,
    subject: Option<String>,
    mut claims: Value,
) -> String {
    let iat = now();
    let (lifetime, expires_at) = {
        let state = shared.lock();
        (state.lifetime, state.expiry(iat))
    };
    claims["iss"] = json!("https://accounts.google.com");
    claims["iat"] = json!(iat);
    claims["exp"] = json!(iat + lifetime);
    let jwt = shared.signer.sign(&claims);
    let audience = claims["aud"].as_str().map(str::to_string);
    let principal_email = principal.to_string();
    let issued = Issued { principal_email, scopes: vec![], audience, expires_at, subject };
    shared.remember(&jwt, issued);
    jwt
}

fn issue_sa_id_token(
    shared: &Shared,
    email: &str,
    client_id: &str,
    aud: &str,
    subject: Option<String>,
) -> Response {
    let claims = json!({
        "aud": aud, "azp": email, "email": email, "email_verified": true, "sub": client_id,
    });
    let jwt = sign_id_token(shared, email, subject, claims);
    json_body(200, json!({ "id_token": jwt }))
}

fn refresh(shared: &Shared, form: &Form) -> Reply {
    let client_id = required(form, "client_id")?;
    let secret = required(form, "client_secret")?;
    let refresh_token = required(form, "refresh_token")?;
    let (email, user_id, scopes) = {
        let state = shared.lock();
        let user = state.users.get(client_id);
        let not_found = || oauth_error(401, "invalid_client", "The OAuth client was not found.");
        let user = user.ok_or_else(not_found)?;
        if user.secret != secret {
            return Err(oauth_error(401, "invalid_client", "Unauthorized"));
        }
        if !user.refresh_tokens.contains(refresh_token) {
            return Err(bad_grant("Bad Request"));
        }
        let scopes = match form.get("scope") {
            None => user.scopes.clone(),
            Some(asked) => parse_scopes(asked)
                .filter(|s| s.iter().all(|one| user.scopes.contains(one)))
                .ok_or_else(|| oauth_error(400, "invalid_scope", "Bad Request"))?,
        };
        (user.email.clone(), user.user_id.clone(), scopes)
    };
    let body_scope = Value::from(scopes.join(" "));
    let openid = scopes.iter().any(|s| s == "openid");
    let mut body = issue_access_token(shared, &email, scopes, None);
    body["scope"] = body_scope;
    if openid {
        let claims = json!({
            "aud": client_id, "azp": client_id, "email": email, "email_verified": true,
            "sub": user_id,
        });
        body["id_token"] = Value::from(sign_id_token(shared, &email, None, claims));
    }
    Ok(json_body(200, body))
}

fn required<'f>(form: &'f Form, name: &str) -> Result<&'f str, Response> {
    match form.get(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(invalid_request(&format!("Missing required parameter: {name}"))),
    }
}

fn invalid_request(msg: &str) -> Response {
    oauth_error(400, "invalid_request", msg)
}

fn bad_grant(msg: &str) -> Response {
    oauth_error(400, "invalid_grant", msg)
}

/// Strict `application/x-www-form-urlencoded` decoding: bad escapes, non
/// UTF-8 and repeated parameters are rejected rather than guessed at.
fn decode_form(body: &[u8]) -> Result<Form, String> {
    let mut form = Form::new();
    let text = std::str::from_utf8(body).map_err(|_| "Body is not UTF-8.".to_string())?;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (unescape(name)?, unescape(value)?);
        if form.insert(name.clone(), value).is_some() {
            return Err(format!("Duplicate parameter: {name}"));
        }
    }
    Ok(form)
}

fn unescape(part: &str) -> Result<String, String> {
    let bad = || format!("Malformed form encoding: {part}");
    let mut out = Vec::with_capacity(part.len());
    let mut bytes = part.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hex = [bytes.next().ok_or_else(bad)?, bytes.next().ok_or_else(bad)?];
                let hex = std::str::from_utf8(&hex).map_err(|_| bad())?;
                u8::from_str_radix(hex, 16).map_err(|_| bad())?
            }
            other => other,
        });
    }
    String::from_utf8(out).map_err(|_| bad())
}
