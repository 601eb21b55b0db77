//! The mutation's wiring: the sidecar (native or classic), volumes, env and `NO_PROXY` added to
//! the right containers, idempotent across reinvocations, and everything else left in place.

use super::*;

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
fn auto_sidecar_mode_is_native_from_kubernetes_1_29() {
    use crate::webhook::native_for_version;
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
