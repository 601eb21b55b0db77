//! The webhook over HTTPS with certificates made at test time: recorded reviews in, patches
//! out; the KSA annotation read through a stand-in API server by the real kube client;
//! certificate rotation while running; patched pods validated against the official schemas.

mod support;

use std::{path::Path, process::Command, time::Duration};

use base64::Engine;
use serde_json::Value;
use support::{agent::Sandbox, apiserver::ApiServer, running::RunningAgent};

const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/k8s";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/admission/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

/// A self-signed certificate for 127.0.0.1, written as PEM files; returns its PEM.
fn write_certificate(dir: &Path, common_name: &str) -> String {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    // Write the key first and the certificate last, as a rotation tool would.
    std::fs::write(dir.join("tls.key.new"), key.serialize_pem()).expect("key");
    std::fs::rename(dir.join("tls.key.new"), dir.join("tls.key")).expect("swap key");
    std::fs::write(dir.join("tls.crt.new"), cert.pem()).expect("cert");
    std::fs::rename(dir.join("tls.crt.new"), dir.join("tls.crt")).expect("swap cert");
    cert.pem()
}

struct Webhook {
    agent: RunningAgent,
    _sandbox: Sandbox,
}

fn start_webhook(sandbox: Sandbox, api: Option<&ApiServer>, extra: &[&str]) -> (Webhook, String) {
    let tls = sandbox.path("tls");
    std::fs::create_dir_all(&tls).expect("mkdir");
    let pem = write_certificate(&tls, "webhook-1");
    let mut sandbox = sandbox;
    let kubeconfig = match api {
        Some(api) => sandbox.write("kubeconfig", api.kubeconfig()),
        None => sandbox.write("kubeconfig", "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: gone\ncurrent-context: gone\nusers:\n- name: gone\n  user:\n    token: x\n"),
    };
    sandbox.env("KUBECONFIG", &kubeconfig);
    let (cert, key) = (tls.join("tls.crt"), tls.join("tls.key"));
    let args = [
        &["--tls-cert", cert.to_str().expect("utf8"), "--tls-key", key.to_str().expect("utf8")][..],
        &[
            "--agent-image",
            "example.com/gcp-token-agent:test",
            "--workload-identity-provider",
            PROVIDER,
            "--sidecar-mode",
            "native",
        ],
        extra,
    ]
    .concat();
    let agent = RunningAgent::start_command(&sandbox, "webhook", &args);
    (Webhook { agent, _sandbox: sandbox }, pem)
}

fn client(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem")])
        .build()
        .expect("client")
}

fn post(
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    webhook: &Webhook,
    body: String,
) -> (u16, Value) {
    let url = format!("https://{}/mutate", webhook.agent.metadata.expect("listener"));
    runtime.block_on(async {
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Applies the response's JSON patch to the review's pod. Go decodes `[]byte` from a base64
/// string or from an array of numbers (which kube-rs sends); accept both.
fn patched_pod(review: &Value, answer: &Value) -> Value {
    let patch = match &answer["response"]["patch"] {
        Value::String(b64) => base64::engine::general_purpose::STANDARD.decode(b64).expect("b64"),
        Value::Array(bytes) => {
            bytes.iter().map(|b| u8::try_from(b.as_u64().expect("byte")).expect("byte")).collect()
        }
        other => panic!("no patch: {other}"),
    };
    let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("json patch");
    let mut pod = review["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).expect("applies");
    pod
}

#[test]
fn a_labelled_pod_is_patched_with_the_gsa_from_its_kubernetes_service_account() {
    let api = ApiServer::start();
    api.add_service_account(
        "team-a",
        "api",
        &[("iam.gke.io/gcp-service-account", "api@my-project.iam.gserviceaccount.com")],
    );
    let (webhook, pem) = start_webhook(Sandbox::new(), Some(&api), &[]);
    let (rt, http) = (runtime(), client(&pem));
    let review = fixture("pod.json");
    let (status, answer) = post(&rt, &http, &webhook, review.to_string());
    assert_eq!(status, 200);
    assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    assert_eq!(answer["response"]["patchType"], "JSONPatch", "{answer}");
    let pod = patched_pod(&review, &answer);
    let args = pod["spec"]["initContainers"][0]["args"].to_string();
    assert!(args.contains("--service-account=api@my-project.iam.gserviceaccount.com"), "{args}");
    validate_pod(&pod);
    let metrics = support::running::get(webhook.agent.admin.expect("admin"), "/metrics", &[]).body;
    assert!(metrics.contains(r#"gcp_token_agent_admissions_total{result="mutated"} 1"#), "{metrics}");
}

/// The patched pod passes the official schemas, strictly, for the oldest and newest
/// Kubernetes versions the chart claims.
fn validate_pod(pod: &Value) {
    // The API server names generateName pods itself; the schema wants a name.
    let mut pod = pod.clone();
    pod["metadata"]["name"] = Value::from("api-7d9c8b-x2k4q");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("pod.json");
    std::fs::write(&file, pod.to_string()).expect("write");
    for version in ["1.29.0", "1.37.0"] {
        let output = Command::new("kubernetes-validate")
            .args(["--strict", "-k", version, file.to_str().expect("utf8")])
            .output()
            .expect("kubernetes-validate (pip; scripts/install-test-deps.sh)");
        assert!(
            output.status.success(),
            "{version}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn every_recorded_review_gets_a_clear_answer_and_never_a_500() {
    let api = ApiServer::start();
    let (webhook, pem) = start_webhook(Sandbox::new(), Some(&api), &[]);
    let (rt, http) = (runtime(), client(&pem));
    let denied = |name: &str, needle: &str| {
        let (status, answer) = post(&rt, &http, &webhook, fixture(name).to_string());
        assert_eq!(status, 200, "{name}");
        assert_eq!(answer["response"]["allowed"], false, "{name}");
        let message = answer["response"]["status"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(needle), "{name}: {message}");
    };
    denied("pod-volume-conflict.json", "gcp-token-agent-tokens");
    denied("pod-no-containers.json", "no containers");
    denied("pod-bad-annotation.json", "gcp-token-agent.io/token-expiration");
    denied("pod-missing-spec.json", "no spec");
    let (status, answer) = post(&rt, &http, &webhook, fixture("deployment.json").to_string());
    assert_eq!((status, answer["response"]["allowed"].clone()), (200, Value::Bool(true)));
    assert!(answer["response"].get("patch").is_none());
    let (status, answer) = post(&rt, &http, &webhook, "{this is not json".to_owned());
    assert_eq!(status, 200);
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["status"]["code"], 400);
    let (status, _) = post(
        &rt,
        &http,
        &webhook,
        r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#.to_owned(),
    );
    assert_eq!(status, 200);
}

#[test]
fn an_unreachable_api_server_fails_the_call_so_the_failure_policy_decides() {
    let (webhook, pem) = start_webhook(Sandbox::new(), None, &[]);
    let (rt, http) = (runtime(), client(&pem));
    let (status, _) = post(&rt, &http, &webhook, fixture("pod.json").to_string());
    assert_eq!(status, 503);
    // A pod that names its service account needs no lookup.
    let (status, answer) = post(&rt, &http, &webhook, fixture("pod-with-native-sidecar.json").to_string());
    assert_eq!((status, answer["response"]["allowed"].clone()), (200, Value::Bool(true)));
}

#[test]
fn a_rotated_certificate_is_served_without_a_restart() {
    let api = ApiServer::start();
    let (webhook, old_pem) = start_webhook(Sandbox::new(), Some(&api), &[]);
    let rt = runtime();
    let (status, _) = post(&rt, &client(&old_pem), &webhook, fixture("deployment.json").to_string());
    assert_eq!(status, 200);
    let new_pem = write_certificate(&webhook._sandbox.path("tls"), "webhook-2");
    let fresh = client(&new_pem);
    let url = format!("https://{}/mutate", webhook.agent.metadata.expect("listener"));
    webhook.agent.wait_until(Duration::from_secs(10), "the new certificate in service", || {
        rt.block_on(async {
            fresh.post(&url).body(fixture("deployment.json").to_string()).send().await.is_ok()
        })
    });
}
