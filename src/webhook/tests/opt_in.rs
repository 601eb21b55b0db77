//! The annotation opt-in through the handler: a pod without the annotation comes back
//! untouched whatever else is wrong with it; one with it is reviewed as any opted-in pod, and
//! its denials name the annotation, not the label.

use std::time::Duration;

use super::*;
use crate::{
    config::{OptIn, OptInStyle},
    telemetry::metrics::Metrics,
    webhook::{budget::Budget, handler},
};

const KEY: &str = "example.com/wants-gcp";

fn state(style: OptInStyle) -> handler::WebhookState {
    let mut context = context(true);
    context.opt_in = OptIn { style, key: KEY.to_owned(), value: "yes".to_owned() };
    handler::WebhookState {
        context,
        accounts: None,
        metrics: Metrics::new(),
        deadline: Duration::from_secs(3),
        budget: Budget::default(),
    }
}

/// The review of fixture `name` with `edit` applied to its pod: the result label and the answer.
fn review(state: &handler::WebhookState, name: &str, edit: impl FnOnce(&mut Value)) -> (&'static str, Value) {
    let path = format!("{}/tests/fixtures/admission/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut review: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    edit(&mut review["request"]["object"]);
    let body = review.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime
        .block_on(handler::handle(state, body.as_bytes(), &mut None))
        .expect("an answer, not a failed call")
}

fn opt_in(pod: &mut Value) {
    pod["metadata"]["annotations"][KEY] = json!("yes");
}

#[test]
fn a_pod_without_the_annotation_is_allowed_untouched_even_when_its_annotations_would_deny_it() {
    let state = state(OptInStyle::PodAnnotation);
    // The fixture carries the default label: a label is not the opt-in in this style.
    for name in ["pod-bad-annotation.json", "pod-volume-conflict.json", "pod-no-containers.json", "pod.json"]
    {
        let (result, answer) = review(&state, name, |_| {});
        assert_eq!(result, "skipped", "{name}");
        assert_eq!(answer["response"]["allowed"], true, "{name}: {answer}");
        assert!(answer["response"].get("patch").is_none(), "{name}: untouched: {answer}");
        assert!(answer["response"].get("warnings").is_none(), "{name}: {answer}");
    }
    let (result, _) = review(&state, "pod.json", |pod| pod["metadata"]["annotations"][KEY] = json!("no"));
    assert_eq!(result, "skipped", "another value is not the opt-in");
}

#[test]
fn a_pod_with_the_annotation_is_reviewed_and_its_denials_name_the_annotation() {
    let state = state(OptInStyle::PodAnnotation);
    let (result, answer) = review(&state, "pod.json", opt_in);
    assert_eq!(result, "mutated", "{answer}");
    let (result, answer) = review(&state, "pod-bad-annotation.json", opt_in);
    assert_eq!(result, "denied");
    let message = answer["response"]["status"]["message"].as_str().expect("message");
    assert!(message.contains("gcp-token-agent.io/token-expiration"), "{message}");
    let (_, answer) = review(&state, "pod.json", |pod| {
        opt_in(pod);
        pod["spec"]["hostNetwork"] = json!(true);
    });
    let message = answer["response"]["status"]["message"].as_str().expect("message");
    assert!(message.contains(&format!("remove the pod annotation {KEY}")), "{message}");
    assert!(!message.contains("label"), "{message}");
}

#[test]
fn with_a_label_style_the_webhook_reviews_what_the_api_server_sends_and_names_that_label() {
    let state = state(OptInStyle::NamespaceLabel);
    let (result, _) = review(&state, "pod.json", |_| {});
    assert_eq!(result, "mutated", "the namespaceSelector chose the pod");
    let (_, answer) = review(&state, "pod.json", |pod| pod["spec"]["os"] = json!({"name": "windows"}));
    let message = answer["response"]["status"]["message"].as_str().expect("message");
    assert!(message.contains(&format!("namespace without the label {KEY}")), "{message}");
}
