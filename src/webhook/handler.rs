//! The thin adaptor between the API server and [`mutate`]: read the review within a total
//! deadline, look up the pod's Kubernetes service account, answer. Never a 500 for a review
//! it cannot parse.

use std::{sync::Arc, time::Duration};

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
    mutate::{InjectContext, mutate},
    review::{Answer, Request},
};
use crate::telemetry::metrics::Metrics;

/// Reviews are small (one pod); anything bigger is not from the API server.
const MAX_BODY: usize = 8 << 20;

/// What the handler needs.
pub(crate) struct WebhookState {
    /// The injection settings (without the per-pod service-account lookup).
    pub(crate) context: InjectContext,
    /// ServiceAccount lookups; `None` outside a cluster.
    pub(crate) accounts: Option<Accounts>,
    pub(crate) metrics: Metrics,
    /// Body read plus handling must finish within this, well inside `timeoutSeconds`.
    pub(crate) deadline: Duration,
}

/// `POST /mutate`.
pub(crate) async fn review(State(state): State<Arc<WebhookState>>, request: HttpRequest<Body>) -> Response {
    let work = async {
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY).await;
        match body {
            Ok(body) => handle(&state, &body).await,
            Err(e) => {
                // axum reports the cap as a "length limit exceeded" error; anything else is a
                // broken or aborted request.
                let too_big =
                    std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit"));
                let status = if too_big { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
                Err((status, format!("cannot read the review: {e}")))
            }
        }
    };
    let outcome = tokio::time::timeout(state.deadline, work).await.unwrap_or_else(|_| {
        Err((StatusCode::SERVICE_UNAVAILABLE, format!("the review took longer than {:?}", state.deadline)))
    });
    match outcome {
        Ok((result, review)) => {
            state.metrics.admission(result);
            Json(review).into_response()
        }
        // Fail the call rather than decide: the webhook's failurePolicy says what happens then.
        Err((status, why)) => {
            state.metrics.admission("error");
            tracing::warn!("admission review failed: {why}");
            (status, why).into_response()
        }
    }
}

type Handled = Result<(&'static str, Value), (StatusCode, String)>;

async fn handle(state: &WebhookState, body: &[u8]) -> Handled {
    let request = match Request::parse(body) {
        Ok(request) => request,
        Err(why) => {
            let answer = Answer::Deny { code: 400, message: format!("gcp-token-agent: {why}") };
            return Ok(("invalid", answer.review("", "")));
        }
    };
    let reply = |result, answer: Answer| Ok((result, answer.review(&request.api_version, &request.uid)));
    if request.kind != "Pod" {
        let warning = format!("gcp-token-agent injects into Pods only; {} left unchanged", request.kind);
        return reply("skipped", Answer::Allow { patch: Vec::new(), warnings: vec![warning] });
    }
    let Some(pod) = &request.object else {
        let message = "gcp-token-agent: the review carries no object".to_owned();
        return reply("invalid", Answer::Deny { code: 400, message });
    };
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
    accounts.gsa(namespace, name).await
}
