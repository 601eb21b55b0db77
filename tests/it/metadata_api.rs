//! The loopback metadata API and the admin listener of a live `run`: every route, header rule
//! and status, metrics linted by promtool, and one upstream call for a cold-start stampede.

use crate::support;

use std::{process::Command, time::Duration};

use serde_json::Value;
use support::{
    agent::Sandbox,
    emulator::{Emulator, Fault},
    running::{RunningAgent, get},
};

const EMAIL: &str = "meta@emulator-project.iam.gserviceaccount.com";
const SA: &str = "/computeMetadata/v1/instance/service-accounts";

fn agent_with(emulator: &Emulator, sandbox: &Sandbox, extra: &[&str]) -> RunningAgent {
    let path = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&path).expect("write key");
    let out = sandbox.path("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    let key = path.to_string_lossy().into_owned();
    let out = out.to_string_lossy().into_owned();
    let args = [&["--credentials", key.as_str(), "--output-dir", out.as_str()], extra].concat();
    RunningAgent::start(sandbox, &args)
}

#[test]
fn the_header_rules_hold_on_every_route_and_every_answer_is_flavored() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let agent = agent_with(&emulator, &sandbox, &[]);
    agent.wait_ready();
    let addr = agent.metadata.expect("listener");
    for path in [
        "/",
        "/computeMetadata/v1/",
        &format!("{SA}/default/token"),
        "/computeMetadata/v1/project/project-id",
    ] {
        let bare = get(addr, path, &[]);
        assert_eq!(bare.status, 403, "{path} without Metadata-Flavor");
        assert_eq!(bare.header("metadata-flavor"), Some("Google"));
        let proxied = get(addr, path, &[("Metadata-Flavor", "Google"), ("X-Forwarded-For", "10.0.0.1")]);
        assert_eq!(proxied.status, 403, "{path} with X-Forwarded-For");
        let ok = agent.metadata_get(path);
        assert_eq!(ok.status, 200, "{path}");
        assert_eq!(ok.header("metadata-flavor"), Some("Google"));
    }
    let missing = agent.metadata_get("/computeMetadata/v1/instance/no-such-thing");
    assert_eq!((missing.status, missing.header("metadata-flavor")), (404, Some("Google")));
}

#[test]
fn directories_identity_and_project_routes_answer_like_gce() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let agent = agent_with(&emulator, &sandbox, &["--numeric-project-id", "4242"]);
    agent.wait_ready();
    assert_eq!(
        agent.metadata_get("/computeMetadata/v1/instance").status,
        200,
        "Node probes it without a slash"
    );
    assert_eq!(agent.metadata_get(&format!("{SA}/")).body, format!("default/\n{EMAIL}/\n"));
    let recursive: Value =
        serde_json::from_str(&agent.metadata_get(&format!("{SA}/default/?recursive=true")).body)
            .expect("json");
    assert_eq!(recursive["email"], EMAIL);
    assert_eq!(recursive["aliases"][0], "default");
    assert_eq!(recursive["scopes"][0], "https://www.googleapis.com/auth/cloud-platform");
    assert_eq!(agent.metadata_get(&format!("{SA}/default/email")).body, EMAIL);
    assert_eq!(
        agent.metadata_get(&format!("{SA}/{EMAIL}/email")).body,
        EMAIL,
        "the email names the account too"
    );
    assert_eq!(agent.metadata_get(&format!("{SA}/default/aliases")).body, "default\n");
    assert_eq!(
        agent.metadata_get(&format!("{SA}/default/scopes")).body,
        "https://www.googleapis.com/auth/cloud-platform\n"
    );
    assert_eq!(agent.metadata_get(&format!("{SA}/stranger@x.com/email")).status, 404);
    assert_eq!(agent.metadata_get("/computeMetadata/v1/project/project-id").body, "emulator-project");
    assert_eq!(agent.metadata_get("/computeMetadata/v1/project/numeric-project-id").body, "4242");
    assert_eq!(agent.metadata_get("/computeMetadata/v1/universe/universe-domain").body, "googleapis.com");
}

#[test]
fn the_token_route_serves_the_published_token_and_mints_other_scopes_on_demand() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let agent = agent_with(&emulator, &sandbox, &[]);
    agent.wait_ready();
    let answer = agent.metadata_get(&format!("{SA}/default/token"));
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    let json: Value = serde_json::from_str(&answer.body).expect("json");
    let file = std::fs::read_to_string(sandbox.path("out").join("token")).expect("token file");
    assert_eq!(json["access_token"], file.as_str());
    assert_eq!(json["token_type"], "Bearer");
    let expires_in = json["expires_in"].as_u64().expect("expires_in");
    assert!((3500..=3600).contains(&expires_in), "{expires_in}");
    let same = agent
        .metadata_get(&format!("{SA}/{EMAIL}/token?scopes=https://www.googleapis.com/auth/cloud-platform"));
    assert_eq!(serde_json::from_str::<Value>(&same.body).expect("json")["access_token"], file.as_str());
    // `default` with no query takes the hot path, the email with a query the router: on the
    // wire the two answers carry the same headers, in the same order.
    let names = |a: &support::running::HttpAnswer| -> Vec<String> {
        a.headers.iter().map(|(n, _)| n.clone()).filter(|n| n != "date").collect()
    };
    assert_eq!(names(&answer), names(&same));
    assert_eq!(
        answer.headers,
        same.headers
            .iter()
            .map(|(n, v)| {
                let v = if n == "date" {
                    answer.header("date").unwrap_or_default().to_owned()
                } else {
                    v.clone()
                };
                (n.clone(), v)
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(emulator.calls("token"), 1);
    let other = "/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fpubsub%2Chttps%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform";
    let minted: Value =
        serde_json::from_str(&agent.metadata_get(&format!("{SA}/default{other}")).body).expect("json");
    let token = minted["access_token"].as_str().expect("token");
    assert_ne!(token, file);
    assert_eq!(emulator.issued(token).expect("issued").scopes.len(), 2);
    agent.metadata_get(&format!("{SA}/default{other}"));
    assert_eq!(emulator.calls("token"), 2, "the second request for that scope set is cached");
}

#[test]
fn the_identity_route_serves_kept_and_on_demand_id_tokens() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let agent = agent_with(&emulator, &sandbox, &["--id-token", "api=https://api.example"]);
    agent.wait_ready();
    let calls = emulator.calls("token");
    let kept = agent.metadata_get(&format!("{SA}/default/identity?audience=https%3A%2F%2Fapi.example"));
    assert_eq!(kept.body, std::fs::read_to_string(sandbox.path("out").join("id_token.api")).expect("file"));
    assert_eq!(emulator.calls("token"), calls, "a kept ID token needs no request");
    let full = agent.metadata_get(&format!(
        "{SA}/default/identity?audience=https://other.example&format=full&licenses=FALSE"
    ));
    let claims = emulator.verify_id_token(&full.body).expect("valid");
    assert_eq!(claims["aud"], "https://other.example");
    assert_eq!(agent.metadata_get(&format!("{SA}/default/identity")).status, 400, "audience is required");
    assert_eq!(agent.metadata_get(&format!("{SA}/default/identity?audience=a&format=weird")).status, 400);
}

#[test]
#[ignore = "needs promtool: scripts/setup/install-test-deps.sh"]
fn admin_routes_report_health_readiness_and_metrics_that_promtool_accepts() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let agent = agent_with(&emulator, &sandbox, &[]);
    agent.wait_ready();
    let admin = agent.admin.expect("admin");
    assert_eq!(get(admin, "/healthz", &[]).status, 200);
    agent.metadata_get(&format!("{SA}/default/token"));
    let metrics = get(admin, "/metrics", &[]).body;
    let file = std::fs::read_to_string(sandbox.path("out").join("token")).expect("token");
    assert!(!metrics.contains(&file), "never a token in metrics");
    assert!(
        metrics.contains(r#"route="/computeMetadata/v1/instance/service-accounts/{account}/token""#),
        "{metrics}"
    );
    assert!(metrics.contains("gcp_token_agent_ready 1"));
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (apt prometheus; scripts/setup/install-test-deps.sh)");
    std::io::Write::write_all(promtool.stdin.as_mut().expect("stdin"), metrics.as_bytes()).expect("write");
    let output = promtool.wait_with_output().expect("promtool");
    assert!(
        output.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn identity_requests_a_credential_can_never_answer_get_404_not_503() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let user = sandbox.write("user.json", emulator.add_authorized_user("person@example.com").to_string());
    let agent = RunningAgent::start(&sandbox, &["--credentials", &user]);
    agent.wait_ready();
    let answer = agent.metadata_get(&format!("{SA}/default/identity?audience=https://x.example"));
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(answer.body.contains("cannot mint ID tokens"));
}

/// A GET with exactly the Host header given (none when `None`), as a DNS-rebinding page or a
/// bare client would send it.
fn get_with_host(addr: std::net::SocketAddr, host: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    let request = format!(
        "GET {SA}/default/token HTTP/1.1\r\n{host}Metadata-Flavor: Google\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let status = raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, raw)
}

#[test]
fn only_metadata_and_loopback_hosts_get_tokens_so_dns_rebinding_cannot() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let agent = agent_with(&emulator, &sandbox, &[]);
    agent.wait_ready();
    let addr = agent.metadata.expect("listener");
    let port = addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        "metadata.google.internal".to_owned(),
        "169.254.169.254".to_owned(),
        format!("localhost:{port}"),
    ] {
        let (status, raw) = get_with_host(addr, Some(&host));
        assert_eq!(status, 200, "{host}: {raw}");
    }
    for host in [Some(format!("rebind.attacker.example:{port}")), Some("127.0.0.1.nip.io".to_owned()), None] {
        let (status, raw) = get_with_host(addr, host.as_deref());
        assert_eq!(status, 403, "{host:?}: {raw}");
        assert!(!raw.contains("access_token"), "{host:?}: no token in {raw}");
    }
}

const NUMERIC: &str = "/computeMetadata/v1/project/numeric-project-id";

#[test]
fn the_numeric_project_id_is_looked_up_once_at_start_with_the_agents_token() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    // A slow Resource Manager: a request made as soon as the agent is ready waits for the
    // lookup instead of answering 404, which gcloud would cache for 10 minutes.
    emulator.push_fault_to("resource_manager", Fault::Slow(Duration::from_millis(800)));
    let agent = agent_with(
        &emulator,
        &sandbox,
        &["--resource-manager-endpoint", emulator.url(), "--zone", "us-central1-a"],
    );
    agent.wait_ready();
    let first = agent.metadata_get(NUMERIC);
    assert_eq!((first.status, first.body.as_str()), (200, "123456789012"), "emulator-project's number");
    let zone = agent.metadata_get("/computeMetadata/v1/instance/zone");
    assert_eq!(zone.body, "projects/123456789012/zones/us-central1-a");
    assert_eq!(zone.header("content-type"), Some("application/text"));
    let lookups = emulator.requests_to("resource_manager");
    assert_eq!(lookups.len(), 1, "looked up once: {lookups:?}");
    assert_eq!(lookups[0].path_and_query, "/v1/projects/emulator-project");
    assert_eq!(lookups[0].status, 200, "the emulator accepted the agent's own token");
    assert!(!agent.logs().contains("WARN"), "{}", agent.logs());
}

#[test]
fn a_refused_lookup_is_one_warning_and_the_route_stays_404() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let agent = agent_with(
        &emulator,
        &sandbox,
        &["--resource-manager-endpoint", emulator.url(), "--project-id", "not-my-project"],
    );
    agent.wait_ready();
    agent
        .wait_until(Duration::from_secs(20), "the warning", || agent.logs().contains("--numeric-project-id"));
    let logs = agent.logs();
    let warning = logs.lines().find(|l| l.contains("--numeric-project-id")).expect("the warning line");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("HTTP 403 PERMISSION_DENIED"), "says why: {warning}");
    assert!(warning.contains("resourcemanager.projects.get"), "says what to grant: {warning}");
    let token = std::fs::read_to_string(sandbox.path("out").join("token")).expect("token");
    assert!(!logs.contains(&token), "never the token in the log");
    assert_eq!(agent.metadata_get(NUMERIC).status, 404);
    assert_eq!(agent.metadata_get("/computeMetadata/v1/project/project-id").body, "not-my-project");
    assert_eq!(emulator.calls("resource_manager"), 1, "a refusal is not retried");
    assert_eq!(logs.matches("--numeric-project-id").count(), 1, "one warning: {logs}");
}

#[test]
fn a_transient_lookup_failure_is_retried_once_and_no_more() {
    for (faults, answered) in [(1, true), (2, false)] {
        let emulator = Emulator::start();
        for _ in 0..faults {
            emulator.push_fault_to("resource_manager", Fault::Status(503));
        }
        let sandbox = Sandbox::new();
        let agent = agent_with(&emulator, &sandbox, &["--resource-manager-endpoint", emulator.url()]);
        agent.wait_ready();
        if answered {
            agent.wait_until(Duration::from_secs(20), "the retried lookup", || {
                agent.metadata_get(NUMERIC).status == 200
            });
        } else {
            agent.wait_until(Duration::from_secs(20), "the warning", || {
                agent.logs().contains("--numeric-project-id")
            });
            assert!(agent.logs().contains("HTTP 503"), "{}", agent.logs());
            assert_eq!(agent.metadata_get(NUMERIC).status, 404);
        }
        assert_eq!(emulator.calls("resource_manager"), 2, "{faults} fault(s): one retry at most");
    }
}

#[test]
fn instance_flags_are_served_like_a_gke_node_s_metadata() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let agent = agent_with(
        &emulator,
        &sandbox,
        &[
            "--numeric-project-id=4242",
            "--zone=europe-west4-b",
            "--instance-name=web-7d9f-abcde",
            "--instance-id=4519681524354166001",
            "--hostname=web-7d9f-abcde",
            "--cluster-name=prod",
            "--cluster-location=europe-west4",
            "--cluster-uid=0123abcd",
            "--attribute=team=payments",
        ],
    );
    agent.wait_ready();
    let v1 = "/computeMetadata/v1/instance";
    for (path, body) in [
        ("zone", "projects/4242/zones/europe-west4-b"),
        ("region", "projects/4242/regions/europe-west4"),
        ("name", "web-7d9f-abcde"),
        ("id", "4519681524354166001"),
        ("hostname", "web-7d9f-abcde"),
        ("attributes/", "cluster-location\ncluster-name\ncluster-uid\nteam\n"),
        ("attributes/cluster-uid", "0123abcd"),
        ("/", "attributes/\nhostname\nid\nname\nregion\nservice-accounts/\nzone\n"),
    ] {
        let answer = agent.metadata_get(&format!("{v1}/{path}").replace("//", "/"));
        assert_eq!((answer.status, answer.body.as_str()), (200, body), "{path}");
        assert_eq!(answer.header("metadata-flavor"), Some("Google"));
    }
    assert_eq!(agent.metadata_get(&format!("{v1}/attributes/nope")).status, 404);
    let all: Value =
        serde_json::from_str(&agent.metadata_get(&format!("{v1}/?recursive=true")).body).expect("json");
    assert_eq!(all["id"].as_u64(), Some(4_519_681_524_354_166_001));
    assert_eq!(all["attributes"]["team"], "payments");
    assert_eq!(all["serviceAccounts"]["default"]["email"], EMAIL);
}

#[test]
fn absolute_form_targets_and_duplicate_host_headers_are_refused_without_a_token() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let agent = agent_with(&emulator, &sandbox, &[]);
    agent.wait_ready();
    let addr = agent.metadata.expect("metadata listener");
    let flavor = ("Metadata-Flavor", "Google");
    let token = format!("{SA}/default/token");
    let fine = get(addr, &token, &[flavor]);
    assert_eq!(fine.status, 200, "{}", fine.body);
    // `get` sends `Host: <listen address>`, a host the API accepts; the target names another.
    for target in [format!("http://evil.example{token}"), format!("http://{addr}{token}")] {
        let answer = get(addr, &target, &[flavor]);
        assert_eq!(answer.status, 403, "{target}: {}", answer.body);
        assert!(!answer.body.contains("access_token"), "{target}");
        assert_eq!(answer.header("metadata-flavor"), Some("Google"));
    }
    for second in ["evil.example", "localhost"] {
        let answer = get(addr, &token, &[flavor, ("Host", second)]);
        assert_eq!(answer.status, 403, "a second Host {second}: {}", answer.body);
        assert!(!answer.body.contains("access_token"));
    }
}

#[test]
fn an_upstream_metadata_server_s_malformed_names_are_not_passed_on() {
    let emulator = Emulator::start();
    emulator.set_metadata_account("vm@emulator-project.iam.gserviceaccount.com", "evil\nX-Injected: 1", 42);
    let mut sandbox = Sandbox::new();
    sandbox.env("GCE_METADATA_HOST", emulator.metadata_host());
    let agent = RunningAgent::start(&sandbox, &["--source", "metadata"]);
    agent.wait_ready();
    let project = agent.metadata_get("/computeMetadata/v1/project/project-id");
    // Not the upstream's malformed id: the one the account's email names.
    assert_eq!((project.status, project.body.trim()), (200, "emulator-project"), "{}", project.body);
    let email = agent.metadata_get(&format!("{SA}/default/email"));
    assert_eq!(email.body.trim(), "vm@emulator-project.iam.gserviceaccount.com");
    assert!(!agent.logs().contains("X-Injected"), "{}", agent.logs());
}

#[test]
fn a_slow_upstream_identity_holds_no_token_request_and_the_email_answers_once_it_is_there() {
    let emulator = Emulator::start();
    emulator.set_metadata_account("vm@slow-project.iam.gserviceaccount.com", "slow-project", 42);
    // The agent asks the upstream for the email first: held, the identity cannot be known.
    let upstream_email = emulator.hold(&format!("{SA}/default/email"));
    let mut sandbox = Sandbox::new();
    sandbox.env("GCE_METADATA_HOST", emulator.metadata_host());
    let agent = RunningAgent::start(&sandbox, &["--source", "metadata"]);
    let asked = || upstream_email.held() == 1;
    agent.wait_until(Duration::from_secs(20), "the upstream identity call", asked);
    let token = agent.metadata_get(&format!("{SA}/default/token"));
    assert_eq!(token.status, 200, "{}", token.body);
    assert!(token.body.contains("access_token"), "{}", token.body);
    let id = agent.metadata_get(&format!("{SA}/default/identity?audience=https://svc.example.com"));
    assert_eq!(id.status, 200, "{}", id.body);
    // The email waits a moment for the identity, then says why it cannot answer rather than hang.
    let early = agent.metadata_get(&format!("{SA}/default/email"));
    assert_eq!(early.status, 503, "{}", early.body);
    assert!(early.body.contains("upstream metadata server"), "{}", early.body);
    let project = agent.metadata_get("/computeMetadata/v1/project/project-id");
    assert_eq!(project.status, 503, "{}", project.body);
    assert_eq!(upstream_email.held(), 1, "every answer came while the upstream call was held");
    upstream_email.open();
    let mut email = None;
    agent.wait_until(Duration::from_secs(20), "the email", || {
        let answer = agent.metadata_get(&format!("{SA}/default/email"));
        let known = answer.status == 200;
        email = Some(answer);
        known
    });
    let email = email.expect("an answer");
    assert_eq!(email.body.trim(), "vm@slow-project.iam.gserviceaccount.com");
    let project = agent.metadata_get("/computeMetadata/v1/project/project-id");
    assert_eq!((project.status, project.body.trim()), (200, "slow-project"), "{}", project.body);
}
