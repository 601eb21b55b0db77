//! The thin adaptor between the API server and [`mutate`]: read the review within a total
//! deadline, look up the pod's Kubernetes service account, answer. Never a 500 for a review
//! it cannot parse.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json,
    body::Body,
    extract::{Request as HttpRequest, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::{
    accounts::Accounts,
    annotations::PREFIX,
    budget::{self, Budget},
    mutate::{InjectContext, mutate},
    opt_in,
    review::{Answer, Request, parse_object},
};
use crate::telemetry::metrics::Metrics;

/// The most the API server sends in one request (its own limit on a request body is 3 MiB);
/// anything bigger is not from it.
const MAX_BODY: usize = 3 << 20;

/// What the handler needs.
pub(crate) struct WebhookState {
    /// The injection settings (without the per-pod service-account lookup).
    pub(crate) context: InjectContext,
    /// ServiceAccount lookups; `None` outside a cluster.
    pub(crate) accounts: Option<Accounts>,
    pub(crate) metrics: Metrics,
    /// Body read plus handling must finish within this, well inside `timeoutSeconds`.
    pub(crate) deadline: Duration,
    /// The memory all reviews may hold at once.
    pub(crate) budget: Budget,
}

/// `POST /mutate`.
pub(crate) async fn review(State(state): State<Arc<WebhookState>>, request: HttpRequest<Body>) -> Response {
    let started = Instant::now();
    // The review's namespace, once it is parsed: the admissions metric counts by it.
    let mut namespace = None;
    let work = async {
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if let Some(length) = declared.filter(|l| *l > MAX_BODY) {
            let why = format!("the review is {length} bytes; the API server sends at most {MAX_BODY}");
            return Err((StatusCode::PAYLOAD_TOO_LARGE, why));
        }
        // Held until the answer is built.
        match budget::read_body(&state.budget, request.into_body(), MAX_BODY).await {
            Ok(body) => handle(&state, &body.bytes, &mut namespace).await,
            Err(budget::BodyError::TooLarge) => {
                Err((StatusCode::PAYLOAD_TOO_LARGE, format!("the review is over {MAX_BODY} bytes")))
            }
            Err(budget::BodyError::Broken(e)) => Err((
                StatusCode::BAD_REQUEST,
                format!("cannot read the review: {}", crate::scrub::escape(&e)),
            )),
        }
    };
    let outcome = tokio::time::timeout(state.deadline, work).await.unwrap_or_else(|_| {
        Err((StatusCode::SERVICE_UNAVAILABLE, format!("the review took longer than {:?}", state.deadline)))
    });
    match outcome {
        Ok((result, review)) => {
            state.metrics.admission(namespace.as_deref(), result, started);
            Json(review).into_response()
        }
        // Fail the call rather than decide: the webhook's failurePolicy says what happens then.
        Err((status, why)) => {
            state.metrics.admission(namespace.as_deref(), "error", started);
            tracing::warn!("admission review failed: {why}");
            (status, why).into_response()
        }
    }
}

pub(super) type Handled = Result<(&'static str, Value), (StatusCode, String)>;

pub(super) async fn handle(state: &WebhookState, body: &[u8], namespace: &mut Option<String>) -> Handled {
    let request = match Request::parse(body) {
        Ok(request) => request,
        Err(why) => {
            let answer = Answer::Deny { code: 400, message: format!("gcp-token-agent: {why}") };
            return Ok(("invalid", answer.review("", "")));
        }
    };
    namespace.clone_from(&request.namespace);
    let reply = |result, answer: Answer| Ok((result, answer.review(&request.api_version, &request.uid)));
    // Annotation opt-in: every pod in scope arrives here. One that did not opt in goes back
    // untouched before anything below can deny it or fail the call.
    if state.context.opt_in.checked_by_webhook() && !opt_in::opted_in(request.object, &state.context.opt_in) {
        return reply("skipped", Answer::Allow { patch: Vec::new(), warnings: Vec::new() });
    }
    if request.kind != "Pod" {
        let warning = format!("gcp-token-agent injects into Pods only; {} left unchanged", request.kind);
        return reply("skipped", Answer::Allow { patch: Vec::new(), warnings: vec![warning] });
    }
    let Some(raw) = request.object else {
        let message = "gcp-token-agent: the review carries no object".to_owned();
        return reply("invalid", Answer::Deny { code: 400, message });
    };
    let cost = budget::parse_cost(raw.get());
    if cost > budget::MAX_PARSE {
        let message = format!(
            "gcp-token-agent: the pod holds too many JSON values to review ({} KiB parsed, at most {} KiB)",
            cost >> 10,
            budget::MAX_PARSE >> 10
        );
        return reply("invalid", Answer::Deny { code: 413, message });
    }
    let _parsed = state.budget.reserve(cost).await;
    let pod = match parse_object(raw) {
        Ok(pod) => pod,
        Err(why) => {
            return reply("invalid", Answer::Deny { code: 400, message: format!("gcp-token-agent: {why}") });
        }
    };
    let pod = &pod;
    let mut context = state.context.clone();
    context.ksa_service_account = lookup_gsa(state, request.namespace.as_deref(), pod)
        .await
        .map_err(|why| (StatusCode::SERVICE_UNAVAILABLE, why))?;
    match mutate(pod, &context) {
        Err(why) => reply("denied", Answer::Deny { code: 403, message: format!("gcp-token-agent: {why}") }),
        Ok(outcome) if outcome.patch.is_empty() => {
            reply("unchanged", Answer::Allow { patch: Vec::new(), warnings: outcome.warnings })
        }
        Ok(outcome) => reply("mutated", Answer::Allow { patch: outcome.patch, warnings: outcome.warnings }),
    }
}

/// The pod's KSA's `iam.gke.io/gcp-service-account`, unless the pod names a service account
/// itself (then no API call is needed).
async fn lookup_gsa(
    state: &WebhookState,
    namespace: Option<&str>,
    pod: &Value,
) -> Result<Option<String>, String> {
    let text = |pointer: &str| pod.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty());
    let annotated = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .and_then(|a| a.get(&format!("{PREFIX}service-account")))
        .and_then(Value::as_str)
        .is_some_and(|email| !email.trim().is_empty());
    let Some(accounts) = state.accounts.as_ref().filter(|_| !annotated) else { return Ok(None) };
    let namespace = namespace.or_else(|| text("/metadata/namespace")).unwrap_or("default");
    let name = text("/spec/serviceAccountName").or_else(|| text("/spec/serviceAccount")).unwrap_or("default");
    // Mutating webhooks run before the API server validates names: a forged review's names
    // could be kilobytes each, and every miss is remembered. A name no API server accepts has no
    // ServiceAccount to read (the pod is refused after this review anyway).
    if !crate::validate::dns_subdomain(namespace) || !crate::validate::dns_subdomain(name) {
        return Ok(None);
    }
    accounts.gsa(namespace, name).await
}
