//! The observability kit against a real Prometheus (Debian's `prometheus`): it scrapes a running
//! agent and webhook, runs every query of the shipped dashboard and rule file, and fires the
//! refresh-failing alert when the emulator answers 503.

use crate::{support, webhook};

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{agent::Sandbox, emulator::Emulator, running::RunningAgent};

const CHART_FILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/gcp-token-agent/files");
const EMAIL: &str = "observed@emulator-project.iam.gserviceaccount.com";

/// Prometheus on a loopback port with its own storage, and an HTTP client for its API.
struct Prometheus {
    child: Child,
    url: String,
    log: std::path::PathBuf,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts it with `config` (a prometheus.yml) in `dir` and waits for `/-/ready`.
    fn start(dir: &Path, config: &str) -> Self {
        std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
        // Prometheus takes a fixed address; a port the kernel just handed out is free.
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("prometheus (apt prometheus; scripts/setup/install-test-deps.sh)");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let http = reqwest::Client::new();
        let prometheus = Self { child, url: format!("http://127.0.0.1:{port}"), log, runtime, http };
        prometheus
            .wait_until(Duration::from_secs(30), "/-/ready", || prometheus.status("/-/ready") == Some(200));
        prometheus
    }

    fn status(&self, path: &str) -> Option<u16> {
        let send = self.http.get(format!("{}{path}", self.url)).send();
        self.runtime.block_on(send).ok().map(|r| r.status().as_u16())
    }

    /// GET on the HTTP API; its `data`, after checking `status` is `success`.
    fn api(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let request = self.http.get(format!("{}/api/v1/{path}", self.url)).query(query);
        let body: Value = self
            .runtime
            .block_on(async { request.send().await?.json().await })
            .map_err(|e| format!("GET /api/v1/{path}: {e}"))?;
        match body["status"].as_str() {
            Some("success") => Ok(body["data"].clone()),
            _ => Err(format!("GET /api/v1/{path} {query:?}: {body}")),
        }
    }

    /// Polls `done` every 200 ms until it holds, panicking with Prometheus's log after `timeout`.
    #[track_caller]
    fn wait_until(&self, timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !done() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("timed out waiting for {what}; prometheus log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a certificate for 127.0.0.1 expiring at `not_after` (Unix seconds) and its key to
/// tls.crt and tls.key, each swapped in by a rename, the key first, as rotation tools do.
fn write_pair(sandbox: &Sandbox, not_after: i64) -> String {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "webhook");
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).expect("time");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    for (name, pem) in [("tls.key", key.serialize_pem()), ("tls.crt", cert.pem())] {
        sandbox.write(&format!("{name}.new"), pem);
        std::fs::rename(sandbox.path(&format!("{name}.new")), sandbox.path(name)).expect("swap");
    }
    cert.pem()
}

const A_YEAR_FROM_2026: i64 = 1_830_000_000;

/// The webhook on a certificate made here, with a Kubernetes API that refuses connections: a
/// pod naming its Google account is mutated, one that does not fails the call (an `error`).
fn start_webhook(sandbox: &mut Sandbox) -> (RunningAgent, String) {
    let pem = write_pair(sandbox, A_YEAR_FROM_2026);
    let (cert_path, key_path) = (sandbox.path("tls.crt"), sandbox.path("tls.key"));
    let (cert_path, key_path) = (cert_path.to_str().expect("utf8"), key_path.to_str().expect("utf8"));
    let kubeconfig = sandbox.write("kubeconfig", webhook::GONE_KUBECONFIG);
    sandbox.env("KUBECONFIG", &kubeconfig);
    let args = [
        "--tls-cert",
        cert_path,
        "--tls-key",
        key_path,
        "--agent-image",
        "example.com/gcp-token-agent:test",
        "--workload-identity-provider",
        webhook::PROVIDER,
    ];
    (RunningAgent::start_command(sandbox, "webhook", &args), pem)
}

/// The webhook's certificate-expiry gauge, if it is set.
fn certificate_expiry(webhook: &RunningAgent) -> Option<f64> {
    let metrics = support::running::get(webhook.admin.expect("admin"), "/metrics", &[]).body;
    webhook::certificate_expiry(&metrics)
}

#[test]
fn the_certificate_expiry_gauge_follows_a_rotated_certificate_file() {
    let mut sandbox = Sandbox::new();
    let (webhook, _) = start_webhook(&mut sandbox);
    assert_eq!(certificate_expiry(&webhook), Some(A_YEAR_FROM_2026 as f64));
    let renewed = A_YEAR_FROM_2026 + 90 * 86_400;
    write_pair(&sandbox, renewed);
    webhook.wait_until(Duration::from_secs(10), "the gauge at the new certificate's expiry", || {
        certificate_expiry(&webhook) == Some(renewed as f64)
    });
}

/// Sends the recorded pod review, once with a Google account annotated and once without.
fn send_reviews(webhook: &RunningAgent, pem: &str, runtime: &tokio::runtime::Runtime) {
    let review = webhook::fixture("pod.json");
    let mut annotated = review.clone();
    annotated["request"]["object"]["metadata"]["annotations"]["gcp-token-agent.io/service-account"] =
        Value::from(EMAIL);
    let client = webhook::client(pem);
    let url = format!("https://{}/mutate", webhook.metadata.expect("review listener"));
    for body in [annotated, review] {
        let send = client.post(&url).header("content-type", "application/json").body(body.to_string()).send();
        runtime.block_on(send).expect("the webhook answers");
    }
}

/// The shipped rule file with every `for:` set to 1s (the only change), so that the alert
/// fires within the test; the expressions are the shipped ones.
fn rules_with_short_for() -> String {
    let shipped = std::fs::read_to_string(format!("{CHART_FILES}/prometheus-rules.yaml")).expect("rule file");
    let rewritten: Vec<String> = shipped
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 1s", &line[..line.len() - line.trim_start().len()]),
            None => line.to_owned(),
        })
        .collect();
    assert!(
        rewritten.iter().filter(|l| l.trim() == "for: 1s").count() >= 4,
        "the rule file has its for: lines"
    );
    rewritten.join("\n")
}

/// Every alert's expression in the shipped rule file.
fn alert_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{CHART_FILES}/prometheus-rules.yaml")).expect("rule file");
    let file: Value = serde_saphyr::from_str(&text).expect("YAML");
    let rules =
        file["groups"].as_array().expect("groups").iter().flat_map(|g| g["rules"].as_array().expect("rules"));
    rules
        .map(|r| {
            (r["alert"].as_str().expect("alert").to_owned(), r["expr"].as_str().expect("expr").to_owned())
        })
        .collect()
}

/// Every query of the shipped dashboard, with Grafana's variables as a user's first load sets
/// them (all namespaces, a one-minute rate window).
fn dashboard_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{CHART_FILES}/dashboard.json")).expect("dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let queries = panels.iter().flat_map(|p| {
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        targets.into_iter().map(move |t| (p["title"].as_str().unwrap_or("?").to_owned(), t["expr"].clone()))
    });
    let substituted = queries.map(|(title, expr)| {
        let expr = expr.as_str().expect("expr").replace("$__rate_interval", "1m").replace("$namespace", ".*");
        assert!(!expr.contains('$'), "panel {title}: a variable the test does not set: {expr}");
        (title, expr)
    });
    substituted.collect()
}

/// The metric names a query reads, ours and the process ones.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("gcp_token_agent_") || word.starts_with("process_") {
            names.push(word.to_owned());
        }
    }
    names
}

#[test]
#[ignore = "needs prometheus: scripts/setup/install-test-deps.sh"]
fn prometheus_scrapes_both_runs_every_shipped_query_and_fires_the_refresh_alert_in_an_outage() {
    let started = Instant::now();
    let emulator = Emulator::start();
    // Short-lived tokens: the agent refreshes every few seconds, so the outage is met at once.
    emulator.set_token_lifetime(8);
    let mut sandbox = Sandbox::new();
    let key = emulator.add_service_account(EMAIL);
    key.write_to(&sandbox.path("key.json")).expect("write key");
    let key_path = sandbox.path("key.json").to_string_lossy().into_owned();
    let agent = RunningAgent::start(&sandbox, &["--credentials", &key_path]);
    agent.wait_ready();
    let (webhook, pem) = start_webhook(&mut sandbox);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("rules.yaml"), rules_with_short_for()).expect("rules");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files: [rules.yaml]\n\
         scrape_configs:\n\
         - job_name: agents\n  static_configs: [{{targets: ['{}']}}]\n\
         - job_name: webhook\n  honor_labels: true\n  static_configs: [{{targets: ['{}']}}]\n",
        agent.admin.expect("agent admin"),
        webhook.admin.expect("webhook admin"),
    );
    let prometheus = Prometheus::start(dir.path(), &config);

    // Traffic for every family: metadata requests (one for other scopes), reviews.
    let sa = "/computeMetadata/v1/instance/service-accounts/default/token";
    assert_eq!(agent.metadata_get(sa).status, 200);
    let scoped = agent.metadata_get(&format!("{sa}?scopes=https://www.googleapis.com/auth/userinfo.email"));
    assert_eq!(scoped.status, 200, "{}", scoped.body);
    send_reviews(&webhook, &pem, &prometheus.runtime);

    prometheus.wait_until(Duration::from_secs(30), "both targets up with the reviews scraped", || {
        let targets = prometheus.api("targets", &[]).unwrap_or_default();
        let up = targets["activeTargets"]
            .as_array()
            .is_some_and(|t| t.len() == 2 && t.iter().all(|t| t["health"] == "up"));
        let errors = prometheus
            .api("query", &[("query", "sum(gcp_token_agent_admissions_total{result=\"error\"})")])
            .unwrap_or_default();
        up && errors["result"][0]["value"][1] == "1"
    });
    // The namespace label survives the scrape (honor_labels, as the chart's ServiceMonitor).
    let mutated = prometheus
        .api("query", &[("query", "gcp_token_agent_admissions_total{result=\"mutated\"}")])
        .expect("query");
    assert_eq!(mutated["result"][0]["metric"]["namespace"], "team-a", "{mutated}");

    // Every query of the dashboard and the rules runs without error.
    let queries = [dashboard_expressions(), alert_expressions()].concat();
    let failures: Vec<String> = queries
        .iter()
        .filter_map(|(what, expr)| {
            prometheus.api("query", &[("query", expr)]).err().map(|e| format!("{what}: {e}"))
        })
        .collect();
    assert!(failures.is_empty(), "queries Prometheus refused:\n{}", failures.join("\n"));

    emulator.set_outage(Some(503));
    prometheus.wait_until(Duration::from_secs(60), "GcpTokenAgentRefreshFailing firing", || {
        let alerts = prometheus.api("alerts", &[]).unwrap_or_default();
        alerts["alerts"].as_array().is_some_and(|alerts| {
            alerts.iter().any(|a| {
                a["labels"]["alertname"] == "GcpTokenAgentRefreshFailing"
                    && a["labels"]["token"] == "access"
                    && a["labels"]["job"] == "agents"
                    && a["state"] == "firing"
            })
        })
    });
    let failure = prometheus
        .api("query", &[("query", "gcp_token_agent_refresh_total{result=\"failure\"}")])
        .expect("query");
    assert_eq!(failure["result"][0]["metric"]["reason"], "server_error", "{failure}");

    // Every metric a query names has been scraped: a misspelt name would only ever be empty.
    let known = prometheus.api("label/__name__/values", &[]).expect("names");
    let known: Vec<&str> = known.as_array().expect("names").iter().filter_map(Value::as_str).collect();
    let mut unknown: Vec<String> =
        queries.iter().flat_map(|(_, e)| metric_names(e)).filter(|n| !known.contains(&n.as_str())).collect();
    unknown.dedup();
    assert!(unknown.is_empty(), "queries name metrics nothing exposes: {unknown:?}");
    eprintln!("observability: the Prometheus test took {:.1?}", started.elapsed());
}
