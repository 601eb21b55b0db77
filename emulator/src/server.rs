//! HTTP plumbing: request classification, accounting, fault injection and
//! the response shapes shared by the token and metadata routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::net::TcpListener;

use super::faults::{Faulted, apply_fault, take_fault};
use super::killable::{Kill, KillableListener};
use super::state::{Recorded, Shared};
use super::{authorize, form, gate, iam, metadata, resource_manager, sts, token};

/// Serves the emulator on `listener` until the future is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let app = axum::Router::new().fallback(dispatch).with_state(shared);
    let make = app.into_make_service_with_connect_info::<Kill>();
    // Only returns on a fatal listener error; the owner drops the runtime to stop.
    let _ = axum::serve(KillableListener(listener), make).await;
}

/// Route name for accounting, decided from the path alone.
pub fn classify(path: &str) -> &'static str {
    if path == "/token" {
        "token"
    } else if path == "/v1/token" {
        "sts"
    } else if let Some(rest) = path.strip_prefix("/v1/projects/") {
        if resource_manager::is_project(rest) { "resource_manager" } else { iam::classify(rest) }
    } else if path == "/o/oauth2/auth" {
        "authorize"
    } else if path == "/o/oauth2/approve" {
        "approve"
    } else if path == "/emulator/calls" {
        "control"
    } else if path == "/" || path.starts_with("/computeMetadata") {
        match metadata::service_account_leaf(path) {
            Some("token") => "metadata_token",
            Some("identity") => "metadata_identity",
            _ => "metadata_other",
        }
    } else {
        "other"
    }
}

/// Single entry point: routing is done by hand so every answer, including
/// 404s and faults, gets the exact body and headers Google would send.
async fn dispatch(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(kill): ConnectInfo<Kill>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let route = classify(parts.uri.path());
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let mut rec = record_of(route, &parts.method, &parts.uri, &parts.headers);
    let parsed_form = matches!(route, "token" | "sts").then(|| form::parse(&parts.headers, &body, &mut rec));
    if route.starts_with("iam_") {
        rec.json = serde_json::from_slice(&body).ok();
    }
    // The consent pages' parameters, recorded so tests can check what the client asked for.
    let consent_params = match route {
        "authorize" => parts.uri.query().map(str::as_bytes),
        "approve" => Some(&body[..]),
        _ => None,
    };
    if let Some(Ok(params)) = consent_params.map(form::decode_form) {
        rec.form = params;
    }
    gate::pass(&shared, parts.uri.path()).await;
    let mut response = match apply_fault(take_fault(&shared, route), route).await {
        Faulted::Proceed => route_request(&shared, route, &parts, parsed_form, &body),
        Faulted::Answer(response) => response,
        Faulted::Drop => {
            kill.fire();
            finish(&shared, rec, 0);
            // Never written: the killed stream fails the first write.
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if route.starts_with("metadata") {
        metadata::decorate(&mut response);
    }
    date(&shared, &mut response);
    finish(&shared, rec, response.status().as_u16());
    response
}

/// Google's front ends send `Date`; this one by the emulator's (possibly skewed) clock.
fn date(shared: &Shared, response: &mut Response) {
    let at = jiff::Timestamp::from_second(i64::try_from(shared.now()).unwrap_or(i64::MAX));
    let text = at
        .ok()
        .and_then(|at| jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&at).ok());
    if let Some(value) = text.and_then(|t| header::HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(header::DATE, value);
    }
}

fn route_request(
    shared: &Shared,
    route: &str,
    parts: &axum::http::request::Parts,
    form: Option<Result<form::Form, OAuthError>>,
    body: &[u8],
) -> Response {
    match (route, form) {
        ("token", Some(form)) if parts.method == "POST" => token::respond(shared, form),
        ("sts", Some(form)) if parts.method == "POST" => sts::respond(shared, &parts.headers, form),
        ("token" | "sts", _) => oauth_error(405, "invalid_request", "Method not allowed: use POST."),
        ("iam_access" | "iam_id", _) => iam::respond(shared, route, parts, body),
        ("resource_manager", _) => resource_manager::respond(shared, parts),
        ("authorize", _) => authorize::authorize(shared, parts),
        ("approve", _) => authorize::approve(shared, parts, body),
        ("control", _) => Json(shared.lock().calls.clone()).into_response(),
        (r, _) if r.starts_with("metadata") => metadata::respond(shared, parts),
        _ => text(404, "Not Found"),
    }
}

fn finish(shared: &Shared, mut rec: Recorded, status: u16) {
    rec.status = status;
    shared.lock().requests.push(rec);
}

fn record_of(
    route: &'static str,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Recorded {
    let mut kept = std::collections::BTreeMap::new();
    for (name, value) in headers {
        // Never keep credentials in the log that tests may print on failure.
        if name == header::AUTHORIZATION {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        kept.entry(name.as_str().to_string())
            .and_modify(|v: &mut String| *v = format!("{v}, {value}"))
            .or_insert(value);
    }
    Recorded {
        route,
        method: method.to_string(),
        path_and_query: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        form: Default::default(),
        json: None,
        headers: kept,
        jwt_header: None,
        jwt_claims: None,
        status: 0,
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A Google OAuth error not yet rendered; small, so `Result`s stay cheap.
pub struct OAuthError {
    status: u16,
    error: &'static str,
    description: String,
}

impl OAuthError {
    /// An error with this status, `error` code and `error_description`.
    pub fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError { status, error, description: description.into() }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        oauth_error(self.status, self.error, &self.description)
    }
}

/// A Google API error not yet rendered: `{"error": {"code", "message", "status"}}`.
pub struct ApiError {
    code: u16,
    status: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this HTTP code, canonical `status` and message.
    pub fn new(code: u16, status: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, status, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        api_error(self.code, self.status, &self.message)
    }
}

/// Google API error envelope, as IAM Credentials and other JSON APIs send it.
pub fn api_error(code: u16, status_name: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "status": status_name } });
    (status(code), Json(body)).into_response()
}

/// Google OAuth error body: `{"error": ..., "error_description": ...}`.
pub fn oauth_error(code: u16, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (status(code), Json(body)).into_response()
}

/// A JSON body with the given status.
pub fn json_body(code: u16, value: serde_json::Value) -> Response {
    (status(code), Json(value)).into_response()
}

/// A `text/plain` body with the given status.
pub fn text(code: u16, body: impl Into<String>) -> Response {
    (status(code), body.into()).into_response()
}
