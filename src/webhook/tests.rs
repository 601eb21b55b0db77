//! Unit tests of the pure mutation over recorded AdmissionReview fixtures, applied to the raw
//! JSON as the API server would apply them.

use std::{ffi::OsString, process::Command};

use serde_json::{Value, json};

use super::{
    agent::AgentSettings,
    mutate::{AGENT_CONTAINER, CA_VOLUME, InjectContext, KSA_VOLUME, TOKENS_VOLUME, mutate},
};
use crate::{cli, config};

const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/k8s";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/admission/{name}", env!("CARGO_MANIFEST_DIR"));
    let review: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
    review["request"]["object"].clone()
}

fn context(native: bool) -> InjectContext {
    InjectContext {
        agent_image: "example.com/gcp-token-agent:0.1.0".to_owned(),
        default_provider: Some(PROVIDER.to_owned()),
        native_sidecar: native,
        project_id: None,
        metadata_port: 8989,
        admin_port: 8990,
        ksa_service_account: Some("from-ksa@my-project.iam.gserviceaccount.com".to_owned()),
        agent: AgentSettings::default(),
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

#[test]
fn a_labelled_pod_gets_a_native_sidecar_volumes_and_env() {
    let pod = patched(&fixture("pod.json"), &context(true));
    let init = containers(&pod, "initContainers");
    assert_eq!(init[0]["name"], AGENT_CONTAINER, "the agent starts first");
    assert_eq!(init[0]["restartPolicy"], "Always");
    assert_eq!(init[0]["startupProbe"]["httpGet"]["path"], "/readyz");
    let args = args(&pod).join(" ");
    assert!(args.contains(&format!("--workload-identity-provider={PROVIDER}")), "{args}");
    assert!(args.contains("--service-account=from-ksa@my-project.iam.gserviceaccount.com"), "{args}");
    assert!(args.contains("--id-token=backend=https://backend.example.com"), "{args}");
    assert!(args.contains("--admin-listen=[::]:8990"), "dual stack: {args}");
    assert!(args.contains("--project-id=my-project"), "the project comes from the email: {args}");
    let volumes = pod["spec"]["volumes"].as_array().expect("volumes");
    let ksa = volumes.iter().find(|v| v["name"] == KSA_VOLUME).expect("ksa volume");
    assert_eq!(
        ksa["projected"]["sources"][0]["serviceAccountToken"]["audience"],
        "https://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/k8s"
    );
    let tokens = volumes.iter().find(|v| v["name"] == TOKENS_VOLUME).expect("tokens volume");
    assert_eq!(tokens["emptyDir"]["medium"], "Memory");
    for app in containers(&pod, "containers") {
        assert_eq!(env(app, "GCE_METADATA_HOST").as_deref(), Some("127.0.0.1:8989"));
        assert_eq!(env(app, "GCE_METADATA_IP").as_deref(), Some("127.0.0.1:8989"));
        assert_eq!(env(app, "GCE_METADATA_ROOT").as_deref(), Some("127.0.0.1:8989"));
        assert_eq!(env(app, "GOOGLE_CLOUD_PROJECT").as_deref(), Some("my-project"));
        assert_eq!(env(app, "GCP_ACCESS_TOKEN_FILE").as_deref(), Some("/var/run/gcp-token-agent/token"));
        let mounts = app["volumeMounts"].as_array().expect("mounts");
        assert_eq!(mounts.iter().find(|m| m["name"] == TOKENS_VOLUME).expect("mount")["readOnly"], true);
    }
    assert_eq!(env(by_name(&pod, "api"), "LOG_LEVEL").as_deref(), Some("info"), "existing env stays");
    nothing_moved(&fixture("pod.json"), &pod);
}

#[test]
fn init_containers_are_wired_and_unknown_fields_stay_where_they_were() {
    let original = fixture("pod-real-world.json");
    let pod = patched(&original, &context(true));
    let names: Vec<&str> =
        containers(&pod, "initContainers").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, [AGENT_CONTAINER, "istio-proxy", "migrate"]);
    let migrate = by_name(&pod, "migrate");
    assert_eq!(env(migrate, "GCE_METADATA_HOST").as_deref(), Some("127.0.0.1:8989"), "init container wired");
    assert_eq!(migrate["restartPolicyRules"], original["spec"]["initContainers"][1]["restartPolicyRules"]);
    assert!(by_name(&pod, AGENT_CONTAINER).get("restartPolicyRules").is_none(), "the agent inherits nothing");
    assert_eq!(by_name(&pod, "api")["futureContainerField"], "stays with api");
    assert_eq!(pod["spec"]["futurePodField"], json!({"kept": true}));
    assert_eq!(by_name(&pod, "istio-proxy"), &original["spec"]["initContainers"][0], "skipped, untouched");
    nothing_moved(&original, &pod);
}

#[test]
fn apps_behind_a_proxy_get_loopback_in_no_proxy() {
    let pod = patched(&fixture("pod-real-world.json"), &context(true));
    assert_eq!(env(by_name(&pod, "migrate"), "NO_PROXY").as_deref(), Some(".svc,.cluster.local,127.0.0.1"));
    assert_eq!(
        env(by_name(&pod, "worker"), "no_proxy").as_deref(),
        Some("127.0.0.1"),
        "same case as the proxy"
    );
    assert_eq!(env(by_name(&pod, "api"), "NO_PROXY"), None, "no proxy, no change");
}

#[test]
fn a_missing_no_proxy_case_is_seeded_from_the_other_and_secret_proxies_count() {
    let mut pod = fixture("pod.json");
    pod["spec"]["containers"][0]["env"] = json!([
        {"name": "HTTPS_PROXY", "valueFrom": {"secretKeyRef": {"name": "proxy", "key": "url"}}},
        {"name": "https_proxy", "value": "http://user:pw@proxy:3128"},
        {"name": "no_proxy", "value": ".svc,10.0.0.0/8"},
    ]);
    let pod = patched(&pod, &context(true));
    let api = by_name(&pod, "api");
    assert_eq!(env(api, "NO_PROXY").as_deref(), Some(".svc,10.0.0.0/8,127.0.0.1"), "seeded from no_proxy");
    assert_eq!(env(api, "no_proxy").as_deref(), Some(".svc,10.0.0.0/8,127.0.0.1"));
    assert!(mutate(&pod, &context(true)).expect("admitted").patch.is_empty(), "idempotent");
}

#[test]
fn a_second_and_third_review_add_nothing() {
    for name in ["pod.json", "pod-real-world.json", "pod-with-native-sidecar.json"] {
        for native in [true, false] {
            let once = patched(&fixture(name), &context(native));
            let again = mutate(&once, &context(native)).expect("admitted");
            assert!(again.patch.is_empty(), "{name}: {:?}", again.patch);
            // A third review after another webhook changed something unrelated: still nothing.
            let mut other = once.clone();
            other["metadata"]["labels"]["mesh.example/injected"] = json!("true");
            other["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "50m"}});
            assert!(mutate(&other, &context(native)).expect("admitted").patch.is_empty(), "{name}");
        }
    }
}

#[test]
fn a_reinvocation_wires_a_container_another_webhook_added_and_nothing_else() {
    let mut pod = patched(&fixture("pod.json"), &context(true));
    let log_shipper = json!({"name": "log-shipper", "image": "example.com/fluent-bit:3", "futureField": 1});
    pod["spec"]["containers"].as_array_mut().expect("containers").push(log_shipper.clone());
    let outcome = mutate(&pod, &context(true)).expect("admitted");
    assert!(
        outcome
            .patch
            .iter()
            .all(|op| op["path"].as_str().is_some_and(|p| p.starts_with("/spec/containers/2/"))),
        "{:?}",
        outcome.patch
    );
    let after = apply(&pod, &outcome.patch);
    assert_eq!(env(by_name(&after, "log-shipper"), "GCE_METADATA_HOST").as_deref(), Some("127.0.0.1:8989"));
    assert_eq!(by_name(&after, "log-shipper")["futureField"], 1);
    assert_eq!(containers(&after, "initContainers").len(), 1, "no second agent");
    assert!(mutate(&after, &context(true)).expect("admitted").patch.is_empty());
}

#[test]
fn other_native_sidecars_user_env_and_skipped_containers_are_respected() {
    let original = fixture("pod-with-native-sidecar.json");
    let pod = patched(&original, &context(true));
    assert_eq!(
        env(by_name(&pod, "api"), "GCE_METADATA_HOST").as_deref(),
        Some("metadata.internal:80"),
        "the user's value wins"
    );
    assert_eq!(
        by_name(&pod, "istio-proxy-legacy"),
        &original["spec"]["containers"][1],
        "skipped container untouched"
    );
    let args = args(&pod).join(" ");
    assert!(
        args.contains("--service-account=pinned@proj-1234.iam.gserviceaccount.com"),
        "the pod annotation beats the KSA: {args}"
    );
    assert!(args.contains("--project-id=proj-1234"), "{args}");
    nothing_moved(&original, &pod);
}

#[test]
fn classic_mode_appends_a_regular_container_and_warns_about_init_containers() {
    let outcome = mutate(&fixture("pod-real-world.json"), &context(false)).expect("admitted");
    assert!(outcome.warnings.iter().any(|w| w.contains("init containers")), "{:?}", outcome.warnings);
    let pod = apply(&fixture("pod-real-world.json"), &outcome.patch);
    let last = containers(&pod, "containers").pop().expect("container");
    assert_eq!(last["name"], AGENT_CONTAINER);
    assert!(last.get("restartPolicy").is_none() && last.get("readinessProbe").is_some());
}

#[test]
fn the_metadata_provider_proxies_the_node_server_without_a_ksa_token() {
    let mut ctx = context(true);
    ctx.default_provider = Some("metadata".to_owned());
    ctx.ksa_service_account = None;
    let pod = patched(&fixture("pod.json"), &ctx);
    assert!(!pod["spec"]["volumes"].as_array().expect("volumes").iter().any(|v| v["name"] == KSA_VOLUME));
    assert!(args(&pod).contains(&"--source=metadata".to_owned()));
    assert_eq!(env(by_name(&pod, "api"), "GOOGLE_CLOUD_PROJECT"), None, "the agent learns it from GKE");
}

#[test]
fn operator_settings_and_pod_annotations_shape_the_agent() {
    let mut ctx = context(true);
    ctx.agent = AgentSettings {
        resources: [Some("5m".into()), Some("8Mi".into()), None, Some("32Mi".into())],
        run_as_user: None,
        env: vec![("HTTPS_PROXY".into(), "http://proxy:3128".into())],
        ca_configmap: Some("corp-ca".into()),
        ca_key: "bundle.pem".into(),
        cluster_name: Some("prod-1".into()),
        cluster_location: Some("europe-west4".into()),
        zone: Some("europe-west4-a".into()),
    };
    let mut pod = fixture("pod.json");
    pod["metadata"]["annotations"]["gcp-token-agent.io/memory-limit"] = json!("96Mi");
    pod["metadata"]["annotations"]["gcp-token-agent.io/port"] = json!("9898");
    pod["metadata"]["annotations"]["gcp-token-agent.io/zone"] = json!("europe-west4-b");
    let pod = patched(&pod, &ctx);
    let agent = by_name(&pod, AGENT_CONTAINER);
    assert_eq!(
        agent["resources"],
        json!({"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"memory": "96Mi"}})
    );
    assert!(agent["securityContext"].get("runAsUser").is_none());
    assert_eq!(agent["securityContext"]["runAsNonRoot"], true);
    assert_eq!(env(agent, "HTTPS_PROXY").as_deref(), Some("http://proxy:3128"));
    assert_eq!(env(agent, "SSL_CERT_FILE").as_deref(), Some("/etc/gcp-token-agent/ca/bundle.pem"));
    assert!(
        pod["spec"]["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .any(|v| v["name"] == CA_VOLUME && v["configMap"]["name"] == "corp-ca")
    );
    assert!(args(&pod).contains(&"--listen=127.0.0.1:9898".to_owned()));
    assert_eq!(env(by_name(&pod, "api"), "GCE_METADATA_HOST").as_deref(), Some("127.0.0.1:9898"));
    let annotated = args(&pod);
    for flag in ["--cluster-name=prod-1", "--cluster-location=europe-west4", "--zone=europe-west4-b"] {
        assert!(
            annotated.contains(&flag.to_owned()),
            "the pod's zone annotation wins: {flag} in {annotated:?}"
        );
    }
    let unannotated = args(&patched(&fixture("pod.json"), &ctx));
    assert!(unannotated.contains(&"--zone=europe-west4-a".to_owned()), "{unannotated:?}");
}

#[test]
fn the_agent_reports_the_pods_name_as_its_instance_name() {
    let pod = patched(&fixture("pod.json"), &context(true));
    let agent = by_name(&pod, AGENT_CONTAINER);
    let instance_name = agent["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "GCP_TOKEN_AGENT_INSTANCE_NAME")
        .expect("the instance name variable");
    assert_eq!(instance_name["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    assert!(!args(&pod).iter().any(|a| a.starts_with("--zone") || a.starts_with("--cluster-")));
    let mut ctx = context(true);
    ctx.agent.env = vec![("GCP_TOKEN_AGENT_INSTANCE_NAME".into(), "fixed".into())];
    let pod = patched(&fixture("pod.json"), &ctx);
    assert_eq!(
        env(by_name(&pod, AGENT_CONTAINER), "GCP_TOKEN_AGENT_INSTANCE_NAME").as_deref(),
        Some("fixed")
    );
}

#[test]
fn unsafe_pods_are_denied_saying_why() {
    let ctx = context(true);
    let denied = |edit: &dyn Fn(&mut Value)| {
        let mut pod = fixture("pod.json");
        edit(&mut pod);
        mutate(&pod, &ctx).expect_err("denied")
    };
    assert!(denied(&|p| p["spec"]["hostNetwork"] = json!(true)).contains("hostNetwork"));
    assert!(denied(&|p| p["spec"]["os"] = json!({"name": "windows"})).contains("Windows"));
    assert!(
        denied(&|p| p["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "windows"})).contains("Windows")
    );
    let conflict = denied(&|p| p["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8990));
    assert!(conflict.contains("8990") && conflict.contains("gcp-token-agent.io/admin-port"), "{conflict}");
    let bad = denied(&|p| p["metadata"]["annotations"]["gcp-token-agent.io/scopes"] = json!("not a scope"));
    assert!(bad.contains("gcp-token-agent.io/scopes"), "{bad}");
}

#[test]
fn bad_pods_are_denied_with_a_message_naming_the_fix() {
    let ctx = context(true);
    let denied = |name: &str| mutate(&fixture(name), &ctx).expect_err("denied");
    assert!(denied("pod-volume-conflict.json").contains("gcp-token-agent-tokens"));
    assert!(denied("pod-no-containers.json").contains("no containers"));
    assert!(denied("pod-bad-annotation.json").contains("gcp-token-agent.io/token-expiration"));
    let mut no_provider = context(true);
    no_provider.default_provider = None;
    assert!(
        mutate(&fixture("pod.json"), &no_provider)
            .expect_err("denied")
            .contains("workload-identity-provider")
    );
    let mut bad_ksa = context(true);
    bad_ksa.ksa_service_account = Some("a@b".to_owned());
    assert!(
        mutate(&fixture("pod.json"), &bad_ksa)
            .expect_err("denied")
            .contains("iam.gke.io/gcp-service-account")
    );
}

/// The injected command line passes `run`'s own parser and validation, so a renamed or
/// stricter flag can never ship sidecars that crash-loop.
#[test]
fn every_generated_run_command_line_is_accepted_by_run() {
    let mut metadata = context(true);
    metadata.default_provider = Some("metadata".to_owned());
    let mut with_scopes = fixture("pod.json");
    with_scopes["metadata"]["annotations"]["gcp-token-agent.io/scopes"] = json!("cloud-platform,openid");
    with_scopes["metadata"]["annotations"]["gcp-token-agent.io/project-id"] = json!("other-project");
    let mut cluster = context(true);
    cluster.agent.cluster_name = Some("prod-1".to_owned());
    cluster.agent.cluster_location = Some("us-central1".to_owned());
    cluster.agent.zone = Some("us-central1-f".to_owned());
    let cases = [
        (fixture("pod.json"), cluster),
        (fixture("pod.json"), context(true)),
        (fixture("pod-real-world.json"), context(false)),
        (fixture("pod-with-native-sidecar.json"), metadata),
        (with_scopes, context(true)),
    ];
    for (pod, ctx) in cases {
        let args = args(&patched(&pod, &ctx));
        let argv: Vec<OsString> =
            std::iter::once("gcp-token-agent".into()).chain(args.iter().map(OsString::from)).collect();
        let cli = config::parse(argv).unwrap_or_else(|e| panic!("{args:?}: {e:?}"));
        let cli::Command::Run(run) = cli.command else { panic!("not run: {args:?}") };
        // The token directory exists only inside the pod; every other check must pass.
        if let Err(e) = config::RunConfig::from_args(&run) {
            let text = e.to_string();
            assert!(text.contains("1 problem") && text.contains("--output-dir"), "{args:?}: {text}");
        }
    }
}

/// Every patched pod of the corpus passes the official schemas strictly, at the oldest and
/// newest Kubernetes the chart claims (pods carrying deliberately unknown fields excepted).
#[test]
fn patched_pods_pass_kubernetes_validate_strictly() {
    let dir = tempfile::tempdir().expect("dir");
    let mut files = Vec::new();
    for (i, name) in ["pod.json", "pod-with-native-sidecar.json"].iter().enumerate() {
        for native in [true, false] {
            let mut pod = patched(&fixture(name), &context(native));
            pod["metadata"]["name"] = json!(format!("pod-{i}-{native}"));
            let file = dir.path().join(format!("{i}-{native}.json"));
            std::fs::write(&file, pod.to_string()).expect("write");
            files.push(file);
        }
    }
    for version in ["1.29.0", "1.37.0"] {
        let output = Command::new("kubernetes-validate")
            .args(["--strict", "-k", version])
            .args(&files)
            .output()
            .expect("kubernetes-validate (pip; scripts/install-test-deps.sh)");
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success() && !text.contains("WARN"), "{version}: {text}");
    }
}

#[test]
fn auto_sidecar_mode_is_native_from_kubernetes_1_29() {
    use super::native_for_version;
    assert!(!native_for_version("1", "28"));
    assert!(!native_for_version("1", "28+"), "GKE and EKS report a plus");
    assert!(native_for_version("1", "29"));
    assert!(native_for_version("1", "33+"));
    assert!(native_for_version("2", "0"));
    assert!(native_for_version("1", "unknown"), "unreadable: assume a current cluster");
}

#[test]
fn null_lists_in_the_raw_pod_are_replaced_not_indexed_into() {
    let mut pod = fixture("pod.json");
    pod["spec"]["initContainers"] = Value::Null;
    pod["spec"]["containers"][0]["env"] = Value::Null;
    pod["spec"]["containers"][0]["volumeMounts"] = Value::Null;
    pod["spec"]["volumes"] = Value::Null;
    let patched = patched(&pod, &context(true));
    assert_eq!(containers(&patched, "initContainers")[0]["name"], AGENT_CONTAINER);
    assert_eq!(env(by_name(&patched, "api"), "GCE_METADATA_HOST").as_deref(), Some("127.0.0.1:8989"));
}
