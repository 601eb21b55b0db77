//! Scripted faults: which queue a request draws from, and what each fault
//! turns the answer into, in the error shape of the route it hits.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use std::time::Duration;

use super::server::{api_error, oauth_error, text};
use super::state::{FAULT_ROUTES, Fault, Shared};

/// What a queued fault turns the current request into.
pub enum Faulted {
    /// Answer normally (no fault, or after a `Slow` pause).
    Proceed,
    /// Answer with this canned failure instead.
    Answer(Response),
    /// Drop the connection unanswered.
    Drop,
}

/// Counts the request and pops the next fault if this route takes faults:
/// the route's own queue first, then (token and metadata routes only) the
/// shared queue `push_fault` has always fed.
pub fn take_fault(shared: &Shared, route: &'static str) -> Option<Fault> {
    let mut state = shared.lock();
    if let Some(count) = state.calls.get_mut(route) {
        *count += 1;
    }
    if !FAULT_ROUTES.contains(&route) {
        return None;
    }
    if let Some(status) = state.outage {
        return Some(Fault::Status(status));
    }
    let own = state.route_faults.get_mut(route).and_then(|queue| queue.pop_front());
    let shared_queue = matches!(route, "token" | "metadata_token" | "metadata_identity");
    own.or_else(|| if shared_queue { state.faults.pop_front() } else { None })
}

/// Applies `fault` to a request on `route`.
pub async fn apply_fault(fault: Option<Fault>, route: &str) -> Faulted {
    // IAM Credentials is a Google API, not an OAuth endpoint: its errors
    // come in the `{"error": {"code", "message", "status"}}` envelope.
    let api = route.starts_with("iam_") || route == "resource_manager";
    let error = |status: u16, code: &str| {
        if api {
            api_error(status, code, "emulated failure")
        } else {
            oauth_error(status, code, "emulated failure")
        }
    };
    match fault {
        None => Faulted::Proceed,
        Some(Fault::Slow(pause)) => {
            tokio::time::sleep(pause).await;
            Faulted::Proceed
        }
        Some(Fault::Reset) => Faulted::Drop,
        Some(Fault::Drip { body, every }) => Faulted::Answer(drip(body, every)),
        Some(Fault::Status(code)) => Faulted::Answer(text(code, "emulated failure")),
        Some(Fault::ErrorCode { status, error: code }) => Faulted::Answer(error(status, &code)),
        Some(Fault::Raw { status, headers, body }) => {
            let mut response = axum::http::Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            let response = response.body(axum::body::Body::from(body)).expect("a raw answer");
            Faulted::Answer(response)
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut response = error(429, if api { "RESOURCE_EXHAUSTED" } else { "rate_limit_exceeded" });
            let value = HeaderValue::from(retry_after_secs);
            response.headers_mut().insert(header::RETRY_AFTER, value);
            Faulted::Answer(response)
        }
    }
}

/// A 200 whose body arrives one byte per `every`; the sender stops when the client hangs up.
fn drip(body: Vec<u8>, every: Duration) -> Response {
    let (mut sender, channel) = http_body_util::channel::Channel::<axum::body::Bytes, std::io::Error>::new(1);
    tokio::spawn(async move {
        for byte in body {
            tokio::time::sleep(every).await;
            if sender.send_data(axum::body::Bytes::from(vec![byte])).await.is_err() {
                return;
            }
        }
    });
    let response = axum::http::Response::builder().status(200).header("content-type", "application/json");
    response.body(axum::body::Body::new(channel)).expect("a dripping answer")
}
