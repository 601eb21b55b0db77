//! The agent the mutation injects: its command line shaped by operator settings and pod
//! annotations, accepted by `run`'s own parser, and the patched pod valid by the official
//! schemas.

use std::{ffi::OsString, process::Command};

use super::*;
use crate::{cli, config};

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
        zone: crate::validate::Zone::parse("europe-west4-a").ok(),
        log_level: Some("warn,gcp_token_agent=debug".into()),
        log_format: Some(crate::telemetry::LogFormat::Json),
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
    cluster.agent.zone = crate::validate::Zone::parse("us-central1-f").ok();
    cluster.agent.log_level = Some("warn,gcp_token_agent=debug".to_owned());
    cluster.agent.log_format = Some(crate::telemetry::LogFormat::Json);
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
#[ignore = "needs kubernetes-validate: scripts/setup/install-test-deps.sh"]
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
            .expect("kubernetes-validate (pip; scripts/setup/install-test-deps.sh)");
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success() && !text.contains("WARN"), "{version}: {text}");
    }
}
