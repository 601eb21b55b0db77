//! The browser-facing half of the installed-app flow: `GET /o/oauth2/auth`
//! validates the request as strictly as `accounts.google.com` and shows a
//! consent page with a real form; `POST /o/oauth2/approve` is that form's
//! target and redirects to the client's loopback listener.

use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::consent::{AuthCode, AuthRequest, CODE_LIFETIME};
use super::form::{Form, decode_form};
use super::state::{Shared, State, random_alnum};
use super::token::parse_scopes;

/// Parameters the authorization endpoint understands; Google rejects others.
const PARAMETERS: [&str; 13] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "access_type",
    "prompt",
    "login_hint",
    "include_granted_scopes",
    "nonce",
    "hd",
];

/// An error page: status, Google's error code and the detail line.
type Page = (u16, &'static str, String);

/// `GET /o/oauth2/auth`: the consent page, or Google's error page.
pub fn authorize(shared: &Shared, parts: &Parts) -> Response {
    if parts.method != "GET" {
        return error_page((405, "invalid_request", "Method not allowed: use GET.".into()));
    }
    let query = decode_form(parts.uri.query().unwrap_or("").as_bytes());
    let query = match query {
        Ok(query) => query,
        Err(msg) => return error_page((400, "invalid_request", msg)),
    };
    let mut state = shared.lock();
    let request = match validate(&state, &query) {
        Ok(request) => request,
        Err(page) => return error_page(page),
    };
    let session = random_alnum(40);
    let user = state.consent.user();
    let kind = state.clients.get(&request.client_id).map(|c| c.kind.clone()).unwrap_or_default();
    let page = consent_page(&session, &user, &kind, &request);
    state.consent.sessions.insert(session, request);
    Html(page).into_response()
}

/// Checks every parameter, in the order Google reports problems: the client
/// and redirect URI first, since nothing can be sent back without them.
fn validate(state: &State, q: &Form) -> Result<AuthRequest, Page> {
    if let Some(unknown) = q.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(bad(format!("Parameter not allowed for this message type: {unknown}")));
    }
    let client_id = required(q, "client_id")?;
    if !state.clients.contains_key(client_id) {
        return Err((401, "invalid_client", "The OAuth client was not found.".into()));
    }
    let redirect_uri = required(q, "redirect_uri")?;
    if !is_loopback_redirect(redirect_uri) {
        let msg = format!("redirect_uri={redirect_uri} is not a loopback http://127.0.0.1:PORT/ address");
        return Err((400, "redirect_uri_mismatch", msg));
    }
    match required(q, "response_type")? {
        "code" => {}
        other => return Err((400, "unsupported_response_type", format!("Invalid response_type: {other}"))),
    }
    let scope = required(q, "scope")?;
    let scopes = parse_scopes(scope).ok_or_else(|| {
        (400, "invalid_scope", format!("Some requested scopes were invalid. {{invalid=[{scope}]}}"))
    })?;
    let state_param = required(q, "state")?;
    let challenge = required(q, "code_challenge")?;
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !(43..=128).contains(&challenge.len()) || !challenge.chars().all(base64url) {
        return Err(bad("Invalid code_challenge: expected 43 to 128 base64url characters.".into()));
    }
    // A missing method means "plain" (RFC 7636), which leaks the verifier.
    let method = q.get("code_challenge_method").map(String::as_str).unwrap_or("plain");
    if method != "S256" {
        return Err(bad(format!("Invalid code_challenge_method: {method}. Only S256 is allowed.")));
    }
    let offline = match required(q, "access_type")? {
        "offline" => true,
        "online" => false,
        other => return Err(bad(format!("Invalid access_type: {other}"))),
    };
    let prompt: Vec<&str> = required(q, "prompt")?.split(' ').collect();
    let known = prompt.iter().all(|p| matches!(*p, "none" | "consent" | "select_account"));
    if !known || (prompt.len() > 1 && prompt.contains(&"none")) {
        return Err(bad(format!("Invalid prompt: {}", prompt.join(" "))));
    }
    Ok(AuthRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        state: state_param.to_string(),
        challenge: challenge.to_string(),
        scopes,
        offline,
    })
}

/// `http://127.0.0.1:PORT/` or `http://localhost:PORT/`, exactly: native
/// apps must receive the code on their own loopback listener (RFC 8252).
fn is_loopback_redirect(uri: &str) -> bool {
    let rest = uri.strip_prefix("http://127.0.0.1:").or_else(|| uri.strip_prefix("http://localhost:"));
    let Some(port) = rest.and_then(|r| r.strip_suffix('/')) else { return false };
    !port.starts_with('0') && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// `POST /o/oauth2/approve`: the consent form's answer.
pub fn approve(shared: &Shared, parts: &Parts, body: &[u8]) -> Response {
    if parts.method != "POST" {
        return error_page((405, "invalid_request", "Method not allowed: use POST.".into()));
    }
    let form = match decode_form(body) {
        Ok(form) => form,
        Err(msg) => return error_page((400, "invalid_request", msg)),
    };
    let decision = form.get("decision").map(String::as_str);
    if !matches!(decision, Some("allow" | "deny")) || form.len() != 2 {
        return error_page(bad("Expected exactly consent_session and decision=allow|deny.".into()));
    }
    let mut state = shared.lock();
    let session = form.get("consent_session").and_then(|id| state.consent.sessions.remove(id));
    let Some(request) = session else {
        return error_page(bad("This consent session is unknown or was already used.".into()));
    };
    let mut location = match reqwest::Url::parse(&request.redirect_uri) {
        Ok(url) => url,
        Err(e) => return error_page(bad(format!("Unusable redirect_uri: {e}"))),
    };
    if decision == Some("allow") {
        // Google's codes contain a '/', which catches clients that do not
        // percent-decode the redirect's query.
        let code = format!("4/0A{}", random_alnum(70));
        location
            .query_pairs_mut()
            .append_pair("state", &request.state)
            .append_pair("code", &code)
            .append_pair("scope", &request.scopes.join(" "))
            .append_pair("authuser", "0")
            .append_pair("prompt", "consent");
        let email = state.consent.user();
        let expires_at = std::time::SystemTime::now() + CODE_LIFETIME;
        state.consent.codes.insert(code, AuthCode { request, email, expires_at });
    } else {
        location.query_pairs_mut().append_pair("error", "access_denied").append_pair("state", &request.state);
    }
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

fn required<'q>(q: &'q Form, name: &str) -> Result<&'q str, Page> {
    match q.get(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(bad(format!("Missing required parameter: {name}"))),
    }
}

fn bad(detail: String) -> Page {
    (400, "invalid_request", detail)
}

/// Google's "Access blocked" page; the title line reads "Error 400: invalid_request".
fn error_page((code, error, detail): Page) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    let (error, detail) = (escape(error), escape(&detail));
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Error {code}: {error}</title></head>\
         <body><h1>Access blocked: Authorization Error</h1><p id=\"error\">Error {code}: {error}</p>\
         <p id=\"detail\">{detail}</p></body></html>"
    );
    (status, Html(page)).into_response()
}

fn consent_page(session: &str, user: &str, kind: &str, request: &AuthRequest) -> String {
    let scopes: String = request.scopes.iter().map(|s| format!("<li>{}</li>", escape(s))).collect();
    let (user, client, kind) = (escape(user), escape(&request.client_id), escape(kind));
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in - Google Accounts</title>\
         </head><body><h1>Choose what to share</h1><p>Signed in as <span id=\"user\">{user}</span></p>\
         <p>The {kind} app <code id=\"client\">{client}</code> wants to:</p><ul id=\"scopes\">{scopes}</ul>\
         <form method=\"post\" action=\"/o/oauth2/approve\">\
         <input type=\"hidden\" name=\"consent_session\" value=\"{session}\">\
         <button id=\"allow\" name=\"decision\" value=\"allow\">Allow</button>\
         <button id=\"deny\" name=\"decision\" value=\"deny\">Deny</button>\
         </form></body></html>"
    )
}

/// Minimal HTML escaping: request values are echoed into the page.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
