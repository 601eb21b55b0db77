//! The token routes of an account: `token` (access tokens, the configured scopes from the
//! rendered bytes, on the hot path too) and `identity` (ID tokens), kept or minted on demand.

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{
    MetadataState,
    accounts::known,
    guard::{forbidden, mark},
};
use crate::{
    exchange::{AccessRequest, IdRequest},
    server::{kept::published, rendered::render},
    telemetry::metrics::RouteMetrics,
    validate::Scope,
};

/// The default account's token path: answered by [`hot_token`] without routing.
const HOT_TOKEN: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// Its route template, the metric label the router gives it.
pub(super) const TOKEN_ROUTE: &str = "/computeMetadata/v1/instance/service-accounts/{account}/token";

/// `GET` of the default token with no query, a good `Host` and `Metadata-Flavor`, and a
/// fresh token: the same answer the router would give (headers included), from the
/// rendered bytes. Anything else (a refusal, a wait, another route) goes to the router.
pub(super) fn hot_token(
    state: &MetadataState,
    metrics: &RouteMetrics,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response> {
    let started = Instant::now();
    if method != Method::GET || uri.path() != HOT_TOKEN || uri.query().is_some() {
        return None;
    }
    if forbidden(uri, headers, state.listen).is_some() {
        return None;
    }
    let (body, length) = fresh_default(state)?;
    let mut response = json_body(body);
    mark(&mut response);
    // Last, where the router puts it: the same header order on the wire.
    response.headers_mut().insert(header::CONTENT_LENGTH, length);
    metrics.observe(started);
    Some(response)
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    scopes: Option<String>,
}

pub(super) async fn token(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
    Query(query): Query<TokenQuery>,
) -> Response {
    if let Err(refused) = known(&state, &account).await {
        return refused;
    }
    // What a program asks for goes to Google as given (see `Scope`).
    let wanted: BTreeSet<Scope> = query
        .scopes
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Scope::as_given)
        .collect();
    let default = wanted.is_empty() || wanted == state.scope_set;
    if default && let Some((body, _)) = fresh_default(&state) {
        return json_body(body);
    }
    let token = if default {
        published(&state, &state.access).await
    } else {
        let scopes: Vec<Scope> = wanted.into_iter().collect();
        let key = format!("access|{}", Scope::joined(&scopes, " "));
        let request = AccessRequest { scopes: Some(scopes), subject: state.subject.clone() };
        state.on_demand.get(&key, state.minter.access(&request)).await.map_err(refusal)
    };
    let now = SystemTime::now();
    match token {
        Ok(token) if default => json_body(state.rendered.body(&token, now).0),
        Ok(token) => json_body(render(&token, token.remaining(now).as_secs()).into()),
        Err((status, why)) => (status, format!("{why}\n")).into_response(),
    }
}

/// The hot route: the configured token, with `--min-remaining` left, answered from the
/// rendered bytes without copying the token or building JSON.
fn fresh_default(state: &MetadataState) -> Option<(Bytes, HeaderValue)> {
    let tokens = state.access.tokens.borrow();
    let token = tokens.as_ref()?;
    let now = SystemTime::now();
    (token.remaining(now) >= state.serve_floor()).then(|| state.rendered.body(token, now))
}

impl MetadataState {
    /// The least a served token may have left: `--min-remaining`, and never under
    /// [`MIN_LIFETIME`](crate::token::MIN_LIFETIME) even with `--min-remaining 0` (an expired
    /// token the owner has not withdrawn yet is never served).
    pub(in crate::server) fn serve_floor(&self) -> Duration {
        self.min_remaining.max(crate::token::MIN_LIFETIME)
    }
}

fn json_body(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

#[derive(Deserialize)]
pub(super) struct IdentityQuery {
    audience: Option<String>,
    format: Option<String>,
}

pub(super) async fn identity(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
    Query(query): Query<IdentityQuery>,
) -> Response {
    if let Err(refused) = known(&state, &account).await {
        return refused;
    }
    let Some(audience) = query.audience.filter(|a| !a.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "non-empty audience parameter required\n").into_response();
    };
    let include_email = match query.format.as_deref() {
        None | Some("standard") => false,
        Some("full") => true,
        Some(other) => {
            let other = crate::scrub::escape(other);
            return (StatusCode::BAD_REQUEST, format!("format \"{other}\" is not standard or full\n"))
                .into_response();
        }
    };
    let kept = state.id_tokens.iter().find(|k| k.audience == audience && k.include_email == include_email);
    let token = match kept {
        Some(kept) => published(&state, &kept.published).await,
        None => {
            let key = format!("id|{include_email}|{audience}");
            let request = IdRequest { audience, include_email };
            state.on_demand.get(&key, state.minter.id(&request)).await.map_err(refusal)
        }
    };
    match token {
        Ok(token) => token.value.expose().to_owned().into_response(),
        Err((status, why)) => (status, format!("{why}\n")).into_response(),
    }
}

/// How a failed on-demand mint is answered: 404 for what this credential can never do (as GKE
/// answers identity requests without a service account), else 503, which clients retry. The
/// text names the failed step, never a secret.
fn refusal(refusal: crate::refresh::minter::Refusal) -> (StatusCode, String) {
    let status = if refusal.unsupported { StatusCode::NOT_FOUND } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, refusal.message)
}
