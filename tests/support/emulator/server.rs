//! HTTP plumbing: a listener whose connections a handler can kill (for
//! `Fault::Reset`), request classification, accounting and fault injection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::state::{Fault, Recorded, Shared};
use super::{metadata, token};

/// Per-connection switch a handler flips to drop its own connection.
#[derive(Clone, Default)]
pub struct Kill(Arc<AtomicBool>);

impl Kill {
    fn fire(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn fired(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, KillableListener>> for Kill {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// TCP listener handing out [`KillableStream`]s; the "address" of each
/// connection is its [`Kill`] switch so handlers can reach it via ConnectInfo.
pub struct KillableListener(pub TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = Kill;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Accept errors (e.g. EMFILE) are transient for a test server.
            if let Ok((tcp, _)) = self.0.accept().await {
                let kill = Kill::default();
                return (KillableStream { tcp, kill: kill.clone() }, kill);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Kill::default())
    }
}

/// A TCP stream that fails every write once its [`Kill`] fired, so hyper
/// drops the connection before a single response byte goes out.
pub struct KillableStream {
    tcp: TcpStream,
    kill: Kill,
}

impl KillableStream {
    fn killed(&self) -> Option<std::io::Error> {
        if !self.kill.fired() {
            return None;
        }
        // Zero linger makes the close an RST, the way a crashed proxy looks.
        let _ = self.tcp.set_zero_linger();
        Some(std::io::ErrorKind::ConnectionReset.into())
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.killed() {
            Some(e) => Poll::Ready(Err(e)),
            None => Pin::new(&mut self.tcp).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.killed() {
            Some(e) => Poll::Ready(Err(e)),
            None => Pin::new(&mut self.tcp).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

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
    let parsed_form = (route == "token").then(|| token::parse(&parts.headers, &body, &mut rec));
    let fault = take_fault(&shared, route);
    if fault == Some(Fault::Reset) {
        kill.fire();
        finish(&shared, rec, 0);
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut response = match fault {
        Some(Fault::Slow(pause)) => {
            tokio::time::sleep(pause).await;
            None
        }
        Some(other) => Some(fault_response(&other)),
        None => None,
    }
    .unwrap_or_else(|| route_request(&shared, route, &parts, parsed_form));
    if route.starts_with("metadata") {
        metadata::decorate(&mut response);
    }
    finish(&shared, rec, response.status().as_u16());
    response
}

fn route_request(
    shared: &Shared,
    route: &str,
    parts: &axum::http::request::Parts,
    form: Option<Result<token::Form, Response>>,
) -> Response {
    match (route, form) {
        ("token", Some(form)) if parts.method == "POST" => token::respond(shared, form),
        ("token", _) => oauth_error(405, "invalid_request", "Method not allowed: use POST."),
        ("control", _) => Json(shared.lock().calls.clone()).into_response(),
        (r, _) if r.starts_with("metadata") => metadata::respond(shared, parts),
        _ => text(404, "Not Found"),
    }
}

/// Counts the request and pops the next fault if this route takes faults.
fn take_fault(shared: &Shared, route: &'static str) -> Option<Fault> {
    let mut state = shared.lock();
    if let Some(count) = state.calls.get_mut(route) {
        *count += 1;
    }
    let faultable = matches!(route, "token" | "metadata_token" | "metadata_identity");
    if faultable { state.faults.pop_front() } else { None }
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
        headers: kept,
        jwt_header: None,
        jwt_claims: None,
        status: 0,
    }
}

fn fault_response(fault: &Fault) -> Response {
    match fault {
        Fault::Status(code) => text(*code, "emulated failure"),
        Fault::ErrorCode { status, error } => oauth_error(*status, error, "emulated failure"),
        Fault::RateLimited { retry_after_secs } => {
            let mut response = oauth_error(429, "rate_limit_exceeded", "emulated failure");
            let value = HeaderValue::from(*retry_after_secs);
            response.headers_mut().insert(header::RETRY_AFTER, value);
            response
        }
        // Handled by the caller; kept total so a new variant is a compile error.
        Fault::Slow(_) | Fault::Reset => text(500, "emulated failure"),
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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
