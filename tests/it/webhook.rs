//! The webhook over HTTPS with certificates made at test time: recorded reviews in, patches
//! out; the KSA annotation read through a stand-in API server by the real kube client;
//! certificate rotation while running; patched pods validated against the official schemas.

use crate::support;

use std::{path::Path, process::Command, time::Duration};

use base64::Engine;
use serde_json::Value;
use support::{agent::Sandbox, apiserver::ApiServer, running::RunningAgent};

pub(crate) const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/k8s";
const MWC_PATH: &str = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/gcp-token-agent";
const SECRET_PATH: &str = "/api/v1/namespaces/gcp-token-agent/secrets/gcp-token-agent-tls";

/// A kubeconfig whose API server refuses connections.
pub(crate) const GONE_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: gone\ncurrent-context: gone\nusers:\n- name: gone\n  user:\n    token: x\n";

/// The certificate-expiry gauge's value in a `/metrics` text, if it is set.
pub(crate) fn certificate_expiry(metrics: &str) -> Option<f64> {
    let value = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gcp_token_agent_webhook_certificate_expiry_timestamp_seconds "));
    value.and_then(|v| v.parse().ok())
}

pub(crate) fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/admission/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

/// A self-signed certificate for 127.0.0.1, written as PEM files; returns its PEM.
pub(crate) fn write_certificate(dir: &Path, common_name: &str) -> String {
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

pub(crate) struct Webhook {
    pub(crate) agent: RunningAgent,
    pub(crate) _sandbox: Sandbox,
}

pub(crate) fn start_webhook(sandbox: Sandbox, api: Option<&ApiServer>, extra: &[&str]) -> (Webhook, String) {
    let tls = sandbox.path("tls");
    std::fs::create_dir_all(&tls).expect("mkdir");
    let pem = write_certificate(&tls, "webhook-1");
    let mut sandbox = sandbox;
    let kubeconfig = match api {
        Some(api) => sandbox.write("kubeconfig", api.kubeconfig()),
        None => sandbox.write("kubeconfig", GONE_KUBECONFIG),
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

pub(crate) fn client(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem")])
        .build()
        .expect("client")
}

pub(crate) fn post(
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

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Applies the response's JSON patch to the review's pod. The patch must be in the form the
/// API documents: a base64 string.
pub(crate) fn patched_pod(review: &Value, answer: &Value) -> Value {
    let patch = match &answer["response"]["patch"] {
        Value::String(b64) => base64::engine::general_purpose::STANDARD.decode(b64).expect("b64"),
        other => panic!("no base64 patch: {other}"),
    };
    let patch: json_patch::Patch = serde_json::from_slice(&patch).expect("json patch");
    let mut pod = review["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).expect("applies");
    pod
}

/// A webhook whose stand-in API server knows team-a/api's Google service account.
fn webhook_with_annotated_account() -> (ApiServer, Webhook, String) {
    let api = ApiServer::start();
    api.add_service_account(
        "team-a",
        "api",
        &[("iam.gke.io/gcp-service-account", "api@my-project.iam.gserviceaccount.com")],
    );
    let (webhook, pem) = start_webhook(Sandbox::new(), Some(&api), &[]);
    (api, webhook, pem)
}

#[test]
#[ignore = "needs kubernetes-validate: scripts/setup/install-test-deps.sh"]
fn a_labelled_pod_is_patched_with_the_gsa_from_its_kubernetes_service_account() {
    let (_api, webhook, pem) = webhook_with_annotated_account();
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
    assert!(
        metrics.contains(r#"gcp_token_agent_admissions_total{namespace="team-a",result="mutated"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gcp_token_agent_admission_review_duration_seconds_count{result="mutated"} 1"#)
    );
    // The serving certificate's expiry, read from the file the webhook was given.
    let expiry = certificate_expiry(&metrics).unwrap_or_else(|| panic!("no certificate expiry:\n{metrics}"));
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs_f64();
    assert!(expiry > now, "the certificate is valid, yet expires at {expiry}");
}

#[test]
fn a_burst_of_reviews_for_one_account_costs_one_api_read() {
    let (api, webhook, pem) = webhook_with_annotated_account();
    let (rt, http) = (runtime(), client(&pem));
    let before = api.bearer_tokens().len();
    let url = format!("https://{}/mutate", webhook.agent.metadata.expect("listener"));
    let answers: Vec<Value> = rt.block_on(async {
        let mut burst = tokio::task::JoinSet::new();
        for n in 0..16 {
            let mut review = fixture("pod.json");
            review["request"]["uid"] = Value::String(format!("burst-{n}"));
            let (http, url) = (http.clone(), url.clone());
            burst.spawn(async move {
                let sent =
                    http.post(&url).header("content-type", "application/json").body(review.to_string());
                sent.send().await.expect("send").json::<Value>().await.expect("json")
            });
        }
        burst.join_all().await
    });
    assert!(answers.iter().all(|a| a["response"]["allowed"] == true && a["response"]["patch"].is_string()));
    assert_eq!(api.bearer_tokens().len() - before, 1, "16 concurrent misses share one ServiceAccount read");
}

#[test]
#[ignore = "needs kubernetes-validate: scripts/setup/install-test-deps.sh"]
fn the_injected_agent_reports_the_cluster_zone_and_pod_name_as_instance_metadata() {
    let api = ApiServer::start();
    let mut sandbox = Sandbox::new();
    sandbox.env("GCP_TOKEN_AGENT_CLUSTER_LOCATION", "us-central1");
    let (webhook, pem) =
        start_webhook(sandbox, Some(&api), &["--cluster-name", "prod-1", "--zone", "us-central1-b"]);
    let (rt, http) = (runtime(), client(&pem));
    let review = fixture("pod.json");
    let (status, answer) = post(&rt, &http, &webhook, review.to_string());
    assert_eq!((status, &answer["response"]["allowed"]), (200, &Value::Bool(true)), "{answer}");
    let pod = patched_pod(&review, &answer);
    let agent = &pod["spec"]["initContainers"][0];
    let args: Vec<String> = serde_json::from_value(agent["args"].clone()).expect("args");
    for flag in ["--cluster-name=prod-1", "--cluster-location=us-central1", "--zone=us-central1-b"] {
        assert!(args.contains(&flag.to_owned()), "{flag} in {args:?}");
    }
    let env = agent["env"].as_array().expect("env");
    let name = env.iter().find(|e| e["name"] == "GCP_TOKEN_AGENT_INSTANCE_NAME").expect("instance name");
    assert_eq!(
        name["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name",
        "the pod's name, once it has one"
    );
    validate_pod(&pod);
}

#[test]
#[ignore = "needs kubernetes-validate: scripts/setup/install-test-deps.sh"]
fn the_injected_agent_logs_at_the_level_and_in_the_format_the_webhook_is_given() {
    let api = ApiServer::start();
    let mut sandbox = Sandbox::new();
    sandbox.env("GCP_TOKEN_AGENT_AGENT_LOG_FORMAT", "json");
    let (webhook, pem) =
        start_webhook(sandbox, Some(&api), &["--agent-log-level", "warn,gcp_token_agent=debug"]);
    let (rt, http) = (runtime(), client(&pem));
    let review = fixture("pod.json");
    let (status, answer) = post(&rt, &http, &webhook, review.to_string());
    assert_eq!((status, &answer["response"]["allowed"]), (200, &Value::Bool(true)), "{answer}");
    let pod = patched_pod(&review, &answer);
    let args: Vec<String> =
        serde_json::from_value(pod["spec"]["initContainers"][0]["args"].clone()).expect("args");
    for flag in ["--log-level=warn,gcp_token_agent=debug", "--log-format=json"] {
        assert_eq!(args.iter().filter(|a| *a == flag).count(), 1, "{flag} once in {args:?}");
    }
    validate_pod(&pod);
}

#[test]
#[ignore = "needs kubernetes-validate: scripts/setup/install-test-deps.sh"]
fn the_injected_agent_names_its_admin_port_metrics_so_a_pod_monitor_can_scrape_it() {
    let api = ApiServer::start();
    let (webhook, pem) = start_webhook(Sandbox::new(), Some(&api), &["--agent-admin-port", "18990"]);
    let (rt, http) = (runtime(), client(&pem));
    let review = fixture("pod.json");
    let (status, answer) = post(&rt, &http, &webhook, review.to_string());
    assert_eq!((status, &answer["response"]["allowed"]), (200, &Value::Bool(true)), "{answer}");
    let pod = patched_pod(&review, &answer);
    let agent = &pod["spec"]["initContainers"][0];
    assert_eq!(
        agent["ports"],
        serde_json::json!([{"name": "metrics", "containerPort": 18990, "protocol": "TCP"}]),
        "{agent}"
    );
    let args: Vec<String> = serde_json::from_value(agent["args"].clone()).expect("args");
    assert!(args.contains(&"--admin-listen=[::]:18990".to_owned()), "the port serves /metrics: {args:?}");
    validate_pod(&pod);
}

/// The patched pod passes the official schemas, strictly, for the oldest and newest
/// Kubernetes versions the chart claims.
pub(crate) fn validate_pod(pod: &Value) {
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
            .expect("kubernetes-validate (pip; scripts/setup/install-test-deps.sh)");
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

/// The review a reinvocation sends: the pod as patched so far, possibly with more containers.
fn review_of(pod: &Value, uid: &str) -> String {
    let mut review = fixture("pod.json");
    review["request"]["uid"] = Value::from(uid);
    review["request"]["object"] = pod.clone();
    review.to_string()
}

#[test]
#[ignore = "needs kubernetes-validate: scripts/setup/install-test-deps.sh"]
fn a_reinvocation_wires_containers_added_by_later_webhooks_and_then_adds_nothing() {
    let (_api, webhook, pem) = webhook_with_annotated_account();
    let (rt, http) = (runtime(), client(&pem));
    let review = fixture("pod.json");
    let (_, answer) = post(&rt, &http, &webhook, review.to_string());
    let mut pod = patched_pod(&review, &answer);
    // A later webhook (a log shipper injector) adds a container; the API server reinvokes us.
    pod["spec"]["containers"].as_array_mut().expect("containers").push(serde_json::json!({
        "name": "log-shipper", "image": "example.com/fluent-bit:3", "resources": {}
    }));
    let second = review_of(&pod, "reinvoked");
    let (status, answer) = post(&rt, &http, &webhook, second.clone());
    assert_eq!((status, answer["response"]["uid"].as_str()), (200, Some("reinvoked")));
    let pod = patched_pod(&serde_json::from_str(&second).expect("json"), &answer);
    let shipper = pod["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == "log-shipper")
        .cloned()
        .expect("shipper");
    assert!(shipper["env"].to_string().contains("GCE_METADATA_HOST"), "{shipper}");
    assert_eq!(pod["spec"]["initContainers"].as_array().expect("init").len(), 1, "one agent");
    validate_pod(&pod);
    let (status, answer) = post(&rt, &http, &webhook, review_of(&pod, "third"));
    assert_eq!(status, 200);
    assert_eq!(answer["response"]["allowed"], true);
    assert!(answer["response"].get("patch").is_none(), "a third review is a no-op: {answer}");
}

/// The MutatingWebhookConfiguration the chart renders, before the webhook patches its caBundle.
fn webhook_configuration() -> Value {
    serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "gcp-token-agent"},
        "webhooks": [{
            "name": "inject.gcp-token-agent.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "clientConfig": {"service": {"name": "gcp-token-agent", "namespace": "gcp-token-agent", "path": "/mutate", "port": 443}}
        }]
    })
}

fn start_auto_tls_webhook(api: &ApiServer) -> Webhook {
    let mut sandbox = Sandbox::new();
    let kubeconfig = sandbox.write("kubeconfig", api.kubeconfig());
    sandbox.env("KUBECONFIG", &kubeconfig);
    let args = [
        "--tls-secret",
        "gcp-token-agent-tls",
        "--webhook-configuration",
        "gcp-token-agent",
        "--service-name",
        "gcp-token-agent",
        "--namespace",
        "gcp-token-agent",
        "--tls-validity",
        "30s",
        "--agent-image",
        "example.com/gcp-token-agent:test",
        "--workload-identity-provider",
        PROVIDER,
        "--sidecar-mode",
        "native",
    ];
    let agent = RunningAgent::start_command(&sandbox, "webhook", &args);
    Webhook { agent, _sandbox: sandbox }
}

/// A client that trusts only the caBundle and checks the Service's name, as the API server does.
fn service_client(ca_bundle_b64: &str, webhook: &Webhook) -> reqwest::Client {
    let pem = base64::engine::general_purpose::STANDARD.decode(ca_bundle_b64).expect("base64");
    let certs = reqwest::Certificate::from_pem_bundle(&pem).expect("pem bundle");
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .tls_info(true)
        .resolve("gcp-token-agent.gcp-token-agent.svc", webhook.agent.metadata.expect("listener"))
        .build()
        .expect("client")
}

/// POSTs a review through the Service name; the DER of the certificate served.
fn post_via_service(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    webhook: &Webhook,
) -> Option<Vec<u8>> {
    let port = webhook.agent.metadata.expect("listener").port();
    let url = format!("https://gcp-token-agent.gcp-token-agent.svc:{port}/mutate");
    rt.block_on(async {
        let response = client.post(&url).body(fixture("deployment.json").to_string()).send().await.ok()?;
        let info = response.extensions().get::<reqwest::tls::TlsInfo>()?.peer_certificate()?.to_vec();
        (response.status() == 200).then_some(info)
    })
}

#[test]
fn automatic_tls_issues_a_certificate_patches_the_ca_bundle_and_rotates() {
    let api = ApiServer::start();
    api.put(MWC_PATH, webhook_configuration());
    let webhook = start_auto_tls_webhook(&api);
    let ca_bundle = || {
        api.get(MWC_PATH)
            .and_then(|m| m["webhooks"][0]["clientConfig"]["caBundle"].as_str().map(str::to_owned))
    };
    // Both appear (the webhook patches the caBundle before it writes the Secret).
    webhook.agent.wait_until(Duration::from_secs(20), "the caBundle and the Secret", || {
        ca_bundle().is_some() && api.get(SECRET_PATH).is_some()
    });
    let secret = api.get(SECRET_PATH).expect("the Secret was created");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(
        secret["data"]["ca.crt"].as_str(),
        ca_bundle().as_deref(),
        "the API server trusts the Secret's CA"
    );
    let lease = api.get("/apis/coordination.k8s.io/v1/namespaces/gcp-token-agent/leases/gcp-token-agent-tls");
    assert!(lease.is_some_and(|l| l["spec"]["holderIdentity"].is_string()), "the writer holds the Lease");
    let rt = runtime();
    // A new client each time: no pooled connection or resumed session hides the served certificate.
    let http = || service_client(&ca_bundle().expect("caBundle"), &webhook);
    let mut first = None;
    webhook.agent.wait_until(Duration::from_secs(20), "the issued certificate in service", || {
        first = post_via_service(&rt, &http(), &webhook);
        first.is_some()
    });
    // 30 s certificates are renewed with 10 s left; the CA (2 min) stays, so the bundle too.
    let issued = |s: &Value| s["metadata"]["annotations"]["gcp-token-agent.io/tls-not-after"].clone();
    webhook.agent.wait_until(Duration::from_secs(60), "a renewed certificate", || {
        api.get(SECRET_PATH).is_some_and(|s| issued(&s) != issued(&secret))
    });
    let mut renewed = None;
    webhook.agent.wait_until(Duration::from_secs(20), "the renewed certificate in service", || {
        renewed = post_via_service(&rt, &http(), &webhook).filter(|der| Some(der) != first.as_ref());
        renewed.is_some()
    });
    assert_eq!(
        ca_bundle(),
        api.get(SECRET_PATH).and_then(|s| s["data"]["ca.crt"].as_str().map(str::to_owned))
    );
    // The expiry gauge follows the certificate in service: the Secret's, renewal after renewal.
    let admin = webhook.agent.admin.expect("admin");
    webhook.agent.wait_until(Duration::from_secs(20), "the expiry gauge at the Secret's certificate", || {
        let metrics = support::running::get(admin, "/metrics", &[]).body;
        let stored = api.get(SECRET_PATH).map(|s| issued(&s));
        certificate_expiry(&metrics).map(|g| g.to_string())
            == stored.and_then(|s| s.as_str().map(str::to_owned))
    });
}

#[test]
fn reviews_for_a_missing_service_account_share_one_api_read_for_a_few_seconds() {
    // No ServiceAccount exists: every review's lookup answers NotFound.
    let api = ApiServer::start();
    let (webhook, pem) = start_webhook(Sandbox::new(), Some(&api), &[]);
    let (rt, http) = (runtime(), client(&pem));
    let before = api.bearer_tokens().len();
    for n in 0..8 {
        let mut review = fixture("pod.json");
        review["request"]["uid"] = Value::String(format!("forged-{n}"));
        let (status, answer) = post(&rt, &http, &webhook, review.to_string());
        assert_eq!((status, &answer["response"]["allowed"]), (200, &Value::Bool(true)), "{answer}");
    }
    // Before, each review cost an API read (8); now NotFound is remembered for 3 s.
    let reads = api.bearer_tokens().len() - before;
    assert!((1..8).contains(&reads), "{reads} ServiceAccount reads for 8 reviews");
}

#[test]
fn a_service_account_name_no_api_server_accepts_costs_no_api_read() {
    let api = ApiServer::start();
    let (webhook, pem) = start_webhook(Sandbox::new(), Some(&api), &[]);
    let (rt, http) = (runtime(), client(&pem));
    let before = api.bearer_tokens().len();
    for (n, name) in ["A".repeat(30_000), "x".repeat(300), "under_score".to_owned()].into_iter().enumerate() {
        let mut review = fixture("pod.json");
        review["request"]["uid"] = Value::String(format!("forged-name-{n}"));
        review["request"]["object"]["spec"]["serviceAccountName"] = Value::String(name);
        let (status, answer) = post(&rt, &http, &webhook, review.to_string());
        assert_eq!(status, 200, "{answer}");
    }
    // Kilobyte names would each be an API read and a remembered miss; none reaches the API.
    assert_eq!(api.bearer_tokens().len(), before, "no ServiceAccount read for an invalid name");
}

#[test]
fn a_body_over_3_mib_is_refused_and_a_pod_of_a_million_values_is_denied_unparsed() {
    let api = ApiServer::start();
    let (webhook, pem) = start_webhook(Sandbox::new(), Some(&api), &[]);
    let (rt, http) = (runtime(), client(&pem));
    let big = format!("[{}0]", "0,".repeat(2 << 20));
    let url = format!("https://{}/mutate", webhook.agent.metadata.expect("listener"));
    // Refused from its Content-Length, unread: the client may still be writing when the
    // connection closes, and then sees the close instead of the 413.
    match rt.block_on(http.post(&url).header("content-type", "application/json").body(big).send()) {
        Ok(response) => assert_eq!(response.status(), 413, "over the API server's own 3 MiB limit"),
        Err(e) => assert!(format!("{e:?}").contains("BodyWrite"), "{e:?}"),
    }
    let mut review = fixture("pod.json");
    review["request"]["object"]["metadata"]["annotations"]["x"] = Value::Null;
    let zeros = format!("{{\"pad\":[{}0]}}", "0,".repeat(1_400_000));
    let body = review.to_string().replacen(r#""x":null"#, &format!(r#""x":{zeros}"#), 1);
    assert!(body.len() < 3 << 20);
    let (status, answer) = post(&rt, &http, &webhook, body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert_eq!(answer["response"]["status"]["code"], 413, "{answer}");
    let message = answer["response"]["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("too many JSON values"), "{message}");
    // The webhook goes on admitting pods.
    let (status, answer) = post(&rt, &http, &webhook, fixture("pod.json").to_string());
    assert_eq!((status, &answer["response"]["allowed"]), (200, &Value::Bool(true)), "{answer}");
}

#[test]
fn the_webhooks_admin_port_refuses_a_300_kib_request_head_and_keeps_answering_probes() {
    let api = ApiServer::start();
    let (webhook, _pem) = start_webhook(Sandbox::new(), Some(&api), &[]);
    let admin = webhook.agent.admin.expect("admin");
    for _ in 0..10 {
        // The webhook closes part-way, with the rest of the head unread: a reset instead of the
        // 431 is the same refusal.
        let status = crate::listeners::oversized_head(admin, "/healthz", 300 << 10);
        assert!(matches!(status, Some(431) | None), "{status:?}");
    }
    assert_eq!(support::running::get(admin, "/healthz", &[]).status, 200);
}
