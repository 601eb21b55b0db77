//! The admin listener: `/healthz`, `/readyz`, `/metrics`. Never a token.

use std::{
    sync::Arc,
    time::{Instant, SystemTime},
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{refresh::Published, telemetry::metrics::Metrics};

/// A readiness check beyond tokens.
pub(crate) type Gate = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// What the admin routes read.
#[derive(Clone)]
pub(crate) struct AdminState {
    /// Every token the agent keeps, by metric label.
    pub tokens: Vec<Published>,
    /// Readiness threshold.
    pub min_remaining: std::time::Duration,
    pub metrics: Metrics,
    /// Another readiness condition: `Some(problem)` while not ready (the webhook's automatic
    /// TLS before a certificate is loaded).
    pub gate: Option<Gate>,
    /// Red once a long-lived task has stopped.
    pub health: super::Health,
}

async fn healthz(State(state): State<Arc<AdminState>>) -> Response {
    if state.health.is_ok() {
        "ok\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "a task stopped; restarting\n").into_response()
    }
}

/// The admin router.
pub(crate) fn router(state: AdminState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Whether every token is valid for at least `min_remaining` (a quarter of its lifetime for a
/// token that never lives longer); the reasons if not.
pub(crate) fn readiness(state: &AdminState) -> Result<(), Vec<String>> {
    let now = SystemTime::now();
    let mut problems: Vec<String> = state
        .tokens
        .iter()
        .filter_map(|p| match &*p.tokens.borrow() {
            Some(t) if t.remaining(now) >= p.progress.borrow().ready_floor(state.min_remaining) => None,
            Some(t) => Some(format!("{}: expires in {}s", p.name, t.remaining(now).as_secs())),
            None => Some(format!("{}: no valid token yet", p.name)),
        })
        .collect();
    problems.extend(state.gate.as_ref().and_then(|gate| gate()));
    state.metrics.set_ready(problems.is_empty());
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

async fn readyz(State(state): State<Arc<AdminState>>) -> Response {
    match readiness(&state) {
        Ok(()) => "ready\n".into_response(),
        Err(problems) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", problems.join("; "))).into_response()
        }
    }
}

async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let _ = readiness(&state);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

async fn observe(State(state): State<Arc<AdminState>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.http_request(&route, response.status().as_u16(), started);
    response
}
