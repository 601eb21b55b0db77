//! Unit tests of the pure mutation over recorded AdmissionReview fixtures.

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::Value;

use super::mutate::{AGENT_CONTAINER, InjectContext, KSA_VOLUME, TOKENS_VOLUME, mutate};

const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/k8s";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/admission/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

fn pod_of(review: &Value) -> Pod {
    serde_json::from_value(review["request"]["object"].clone()).expect("a pod")
}

fn context(native: bool) -> InjectContext {
    InjectContext {
        agent_image: "example.com/gcp-token-agent:0.1.0".to_owned(),
        default_provider: Some(PROVIDER.to_owned()),
        native_sidecar: native,
        project_id: Some("my-project".to_owned()),
        metadata_port: 8989,
        admin_port: 8990,
        ksa_service_account: Some("from-ksa@my-project.iam.gserviceaccount.com".to_owned()),
    }
}

/// Mutates and applies the patch, returning the patched pod.
fn patched(pod: &Pod, ctx: &InjectContext) -> Pod {
    let outcome = mutate(pod, ctx).expect("admitted");
    let mut value = serde_json::to_value(pod).expect("json");
    json_patch::patch(&mut value, &outcome.patch).expect("the patch applies");
    serde_json::from_value(value).expect("still a pod")
}

fn agent(pod: &Pod) -> Container {
    let spec = pod.spec.as_ref().expect("spec");
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .find(|c| c.name == AGENT_CONTAINER)
        .cloned()
        .expect("agent")
}

fn env(container: &Container, name: &str) -> Option<String> {
    container.env.iter().flatten().find(|e| e.name == name).and_then(|e| e.value.clone())
}

#[test]
fn a_labelled_pod_gets_a_native_sidecar_volumes_and_env() {
    let pod = patched(&pod_of(&fixture("pod.json")), &context(true));
    let spec = pod.spec.as_ref().expect("spec");
    let init = &spec.init_containers.as_ref().expect("init containers")[0];
    assert_eq!(init.name, AGENT_CONTAINER, "the agent starts first");
    assert_eq!(init.restart_policy.as_deref(), Some("Always"));
    let probe = init.startup_probe.as_ref().and_then(|p| p.http_get.as_ref()).expect("startup probe");
    assert_eq!(probe.path.as_deref(), Some("/readyz"));
    let args = init.args.clone().expect("args").join(" ");
    assert!(args.contains(&format!("--workload-identity-provider={PROVIDER}")), "{args}");
    assert!(args.contains("--service-account=from-ksa@my-project.iam.gserviceaccount.com"), "{args}");
    assert!(args.contains("--id-token=backend=https://backend.example.com"), "{args}");
    let ksa = spec.volumes.iter().flatten().find(|v| v.name == KSA_VOLUME).expect("ksa volume");
    let projection = ksa
        .projected
        .as_ref()
        .and_then(|p| p.sources.as_ref())
        .and_then(|s| s[0].service_account_token.clone());
    assert_eq!(
        projection.and_then(|p| p.audience).as_deref(),
        Some(
            "https://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/k8s"
        )
    );
    let tokens = spec.volumes.iter().flatten().find(|v| v.name == TOKENS_VOLUME).expect("tokens volume");
    assert_eq!(tokens.empty_dir.as_ref().and_then(|e| e.medium.as_deref()), Some("Memory"));
    for app in &spec.containers {
        assert_eq!(env(app, "GCE_METADATA_HOST").as_deref(), Some("127.0.0.1:8989"));
        assert_eq!(env(app, "GCE_METADATA_IP").as_deref(), Some("127.0.0.1:8989"));
        assert_eq!(env(app, "GCE_METADATA_ROOT").as_deref(), Some("127.0.0.1:8989"));
        assert_eq!(env(app, "GOOGLE_CLOUD_PROJECT").as_deref(), Some("my-project"));
        assert_eq!(env(app, "GCP_ACCESS_TOKEN_FILE").as_deref(), Some("/var/run/gcp-token-agent/token"));
        let mount = app.volume_mounts.iter().flatten().find(|m| m.name == TOKENS_VOLUME).expect("mount");
        assert_eq!(mount.read_only, Some(true));
    }
    assert_eq!(env(&spec.containers[0], "LOG_LEVEL").as_deref(), Some("info"), "existing env stays");
}

#[test]
fn applying_the_mutation_twice_adds_nothing() {
    let once = patched(&pod_of(&fixture("pod.json")), &context(true));
    let outcome = mutate(&once, &context(true)).expect("admitted");
    assert!(outcome.patch.0.is_empty(), "{:?}", outcome.patch);
}

#[test]
fn other_native_sidecars_user_env_and_skipped_containers_are_left_alone() {
    let original = pod_of(&fixture("pod-with-native-sidecar.json"));
    let pod = patched(&original, &context(true));
    let spec = pod.spec.as_ref().expect("spec");
    let init = spec.init_containers.as_ref().expect("init");
    let names: Vec<&str> = init.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [AGENT_CONTAINER, "istio-proxy", "migrate"]);
    assert_eq!(
        init[1],
        original.spec.as_ref().expect("spec").init_containers.as_ref().expect("init")[0],
        "istio untouched"
    );
    assert_eq!(
        env(&spec.containers[0], "GCE_METADATA_HOST").as_deref(),
        Some("metadata.internal:80"),
        "the user's value wins"
    );
    assert_eq!(
        spec.containers[1],
        original.spec.as_ref().expect("spec").containers[1],
        "skipped container untouched"
    );
    let args = agent(&pod).args.expect("args").join(" ");
    assert!(
        args.contains("--service-account=pinned@proj.iam.gserviceaccount.com"),
        "the pod annotation beats the KSA: {args}"
    );
}

#[test]
fn classic_mode_appends_a_regular_container() {
    let pod = patched(&pod_of(&fixture("pod.json")), &context(false));
    let spec = pod.spec.as_ref().expect("spec");
    assert!(spec.init_containers.is_none());
    let last = spec.containers.last().expect("container");
    assert_eq!(last.name, AGENT_CONTAINER);
    assert!(last.restart_policy.is_none() && last.readiness_probe.is_some());
}

#[test]
fn the_metadata_provider_proxies_the_node_server_without_a_ksa_token() {
    let mut ctx = context(true);
    ctx.default_provider = Some("metadata".to_owned());
    let pod = patched(&pod_of(&fixture("pod.json")), &ctx);
    assert!(!pod.spec.as_ref().expect("spec").volumes.iter().flatten().any(|v| v.name == KSA_VOLUME));
    assert!(agent(&pod).args.expect("args").contains(&"--source=metadata".to_owned()));
}

#[test]
fn bad_pods_are_denied_with_a_message_naming_the_fix() {
    let ctx = context(true);
    let denied = |name: &str| mutate(&pod_of(&fixture(name)), &ctx).expect_err("denied");
    assert!(denied("pod-volume-conflict.json").contains("gcp-token-agent-tokens"));
    assert!(denied("pod-no-containers.json").contains("no containers"));
    assert!(denied("pod-bad-annotation.json").contains("gcp-token-agent.io/token-expiration"));
    let mut no_provider = context(true);
    no_provider.default_provider = None;
    assert!(
        mutate(&pod_of(&fixture("pod.json")), &no_provider)
            .expect_err("denied")
            .contains("workload-identity-provider")
    );
}
