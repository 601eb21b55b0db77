//! Unit tests of the pure mutation over recorded AdmissionReview fixtures, applied to the raw
//! JSON as the API server would apply them. This file holds the fixtures and helpers; the
//! tests are in `wiring` (where things go), `agent` (the injected command line) and
//! `denials` (pods refused).

use serde_json::{Value, json};

use super::{
    agent::AgentSettings,
    mutate::{AGENT_CONTAINER, CA_VOLUME, InjectContext, KSA_VOLUME, TOKENS_VOLUME, mutate},
};

mod agent;
mod denials;
mod opt_in;
mod wiring;

const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/k8s";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/admission/{name}", env!("CARGO_MANIFEST_DIR"));
    let review: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
    review["request"]["object"].clone()
}

pub(super) fn context(native: bool) -> InjectContext {
    InjectContext {
        agent_image: "example.com/gcp-token-agent:0.1.0".to_owned(),
        default_provider: Some(PROVIDER.to_owned()),
        native_sidecar: native,
        project_id: None,
        metadata_port: 8989,
        admin_port: 8990,
        ksa_service_account: Some("from-ksa@my-project.iam.gserviceaccount.com".to_owned()),
        agent: AgentSettings::default(),
        opt_in: crate::config::OptIn::default(),
    }
}

/// Mutates and applies the patch to the raw pod.
fn patched(pod: &Value, ctx: &InjectContext) -> Value {
    let outcome = mutate(pod, ctx).expect("admitted");
    apply(pod, &outcome.patch)
}

fn apply(pod: &Value, ops: &[Value]) -> Value {
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec())).expect("a JSON patch");
    let mut pod = pod.clone();
    json_patch::patch(&mut pod, &patch).expect("the patch applies");
    pod
}

fn containers<'a>(pod: &'a Value, field: &str) -> Vec<&'a Value> {
    pod["spec"][field].as_array().map(|a| a.iter().collect()).unwrap_or_default()
}

fn by_name<'a>(pod: &'a Value, name: &str) -> &'a Value {
    containers(pod, "containers")
        .into_iter()
        .chain(containers(pod, "initContainers"))
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env(container: &Value, name: &str) -> Option<String> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)?["value"].as_str().map(str::to_owned)
}

fn args(pod: &Value) -> Vec<String> {
    serde_json::from_value(by_name(pod, AGENT_CONTAINER)["args"].clone()).expect("args")
}

/// Every field of every original container is still on that container, unchanged, except
/// that env and volumeMounts may have grown at the end (and NO_PROXY's value).
fn nothing_moved(before: &Value, after: &Value) {
    for field in ["containers", "initContainers"] {
        for original in containers(before, field) {
            let now = by_name(after, original["name"].as_str().expect("name"));
            for (key, value) in original.as_object().expect("object") {
                match key.as_str() {
                    "env" | "volumeMounts" => {
                        let old = value.as_array().expect("list");
                        let new = now[key].as_array().expect("list");
                        for (a, b) in old.iter().zip(new) {
                            assert_eq!(a["name"], b["name"], "{key} reordered");
                            if !matches!(a["name"].as_str(), Some("NO_PROXY" | "no_proxy")) {
                                assert_eq!(a, b, "{key} changed");
                            }
                        }
                    }
                    _ => assert_eq!(&now[key], value, "{} field {key} moved or changed", original["name"]),
                }
            }
        }
    }
    for (key, value) in before["spec"].as_object().expect("spec") {
        if !matches!(key.as_str(), "containers" | "initContainers" | "volumes") {
            assert_eq!(&after["spec"][key], value, "spec.{key} changed");
        }
    }
    assert_eq!(before["metadata"], after["metadata"]);
}
