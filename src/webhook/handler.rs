//! The thin adaptor between the API server and [`mutate`]: parse the review, look up the
//! pod's Kubernetes service account, answer. Never a 500 for a review it cannot parse.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::{
    Api,
    core::{
        DynamicObject,
        admission::{AdmissionRequest, AdmissionResponse, AdmissionReview},
    },
};

use super::{
    annotations::{GKE_GSA_ANNOTATION, PREFIX},
    mutate::{InjectContext, mutate},
};
use crate::telemetry::metrics::Metrics;

/// What the handler needs.
pub struct WebhookState {
    /// The injection settings (without the per-pod service-account lookup).
    pub context: InjectContext,
    /// The API client for ServiceAccount lookups; `None` outside a cluster.
    pub client: Option<kube::Client>,
    /// Observer.
    pub metrics: Metrics,
}

/// `POST /mutate`.
pub async fn review(State(state): State<Arc<WebhookState>>, body: Bytes) -> Response {
    let request: AdmissionRequest<DynamicObject> = match parse(&body) {
        Ok(request) => request,
        Err(why) => return answer(&state, "invalid", invalid(why)),
    };
    if request.kind.kind != "Pod" {
        let mut response = AdmissionResponse::from(&request);
        response.warnings = Some(vec![format!(
            "gcp-token-agent injects into Pods only; {} left unchanged",
            request.kind.kind
        )]);
        return answer(&state, "skipped", response);
    }
    let pod = match request
        .object
        .as_ref()
        .map(|o| serde_json::to_value(o).and_then(serde_json::from_value::<Pod>))
    {
        Some(Ok(pod)) => pod,
        Some(Err(e)) => {
            return answer(
                &state,
                "invalid",
                AdmissionResponse::from(&request).deny(format!("cannot read the pod: {e}")),
            );
        }
        None => return answer(&state, "invalid", invalid("the review carries no object".to_owned())),
    };
    let mut context = state.context.clone();
    match lookup_gsa(&state, &request, &pod).await {
        Ok(gsa) => context.ksa_service_account = gsa,
        // Fail the call rather than decide: the webhook's failurePolicy says what happens then.
        Err(why) => {
            state.metrics.admission("error");
            return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
        }
    }
    respond(&state, &request, mutate(&pod, &context))
}

fn parse(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, String> {
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(|e| format!("the body is not an AdmissionReview: {e}"))?;
    review.try_into().map_err(|_| "the AdmissionReview carries no request".to_owned())
}

fn respond(
    state: &WebhookState,
    request: &AdmissionRequest<DynamicObject>,
    outcome: Result<super::mutate::Outcome, String>,
) -> Response {
    let response = AdmissionResponse::from(request);
    match outcome {
        Err(why) => answer(state, "denied", response.deny(format!("gcp-token-agent: {why}"))),
        Ok(outcome) if outcome.patch.0.is_empty() => answer(state, "unchanged", response),
        Ok(outcome) => {
            let warnings = outcome.warnings;
            match response.with_patch(outcome.patch) {
                Ok(mut patched) => {
                    patched.warnings = (!warnings.is_empty()).then_some(warnings);
                    answer(state, "mutated", patched)
                }
                Err(e) => answer(
                    state,
                    "invalid",
                    AdmissionResponse::from(request).deny(format!("cannot encode the patch: {e}")),
                ),
            }
        }
    }
}

/// A review we cannot read: denied with 400, so the API server shows a clear reason.
fn invalid(why: String) -> AdmissionResponse {
    let mut response = AdmissionResponse::invalid(format!("gcp-token-agent: {why}"));
    response.result.code = 400;
    response
}

fn answer(state: &WebhookState, result: &str, response: AdmissionResponse) -> Response {
    state.metrics.admission(result);
    Json(response.into_review()).into_response()
}

/// The pod's KSA's `iam.gke.io/gcp-service-account`, unless the pod names a service account
/// itself (then no API call is needed).
async fn lookup_gsa(
    state: &WebhookState,
    request: &AdmissionRequest<DynamicObject>,
    pod: &Pod,
) -> Result<Option<String>, String> {
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(&format!("{PREFIX}service-account")));
    let Some(client) = state.client.clone().filter(|_| !annotated) else { return Ok(None) };
    let namespace = request
        .namespace
        .clone()
        .or_else(|| pod.metadata.namespace.clone())
        .unwrap_or_else(|| "default".to_owned());
    let name = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".to_owned());
    let api: Api<ServiceAccount> = Api::namespaced(client, &namespace);
    match api.get_opt(&name).await {
        Ok(account) => {
            Ok(account.and_then(|a| a.metadata.annotations).and_then(|mut a| a.remove(GKE_GSA_ANNOTATION)))
        }
        Err(e) => Err(format!("cannot read ServiceAccount {namespace}/{name}: {e}")),
    }
}
