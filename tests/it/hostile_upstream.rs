//! Hostile and broken upstreams at every endpoint the agent calls (OAuth token endpoint, STS,
//! IAM Credentials, the metadata server): absurd or missing expiries, missing, empty or
//! malformed tokens, redirects, oversized bodies, slow drips, reflected secrets. Each ends in a clear
//! upstream error (exit 69), or for an over-long lifetime a token capped at 12 h; never a
//! panic, a printed bad token or a leaked secret.

use crate::support;

use serde_json::{Value, json};
use support::{
    agent::{Output, Sandbox},
    emulator::{Emulator, Fault, sts_principal},
};

const EMAIL: &str = "app@emulator-project.iam.gserviceaccount.com";
const TARGET: &str = "target@emulator-project.iam.gserviceaccount.com";
const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/k8s";
const SUB: &str = "system:serviceaccount:team-a:api";
const AUDIENCE: &str = "https://api.example.com";

/// One way for each endpoint to be reached by `print-*`, with a fresh emulator.
struct Rig {
    emulator: Emulator,
    sandbox: Sandbox,
    args: Vec<String>,
}

fn rig(route: &str) -> Rig {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let url = emulator.url().to_owned();
    let args: Vec<String> = match route {
        "token" => {
            let key = emulator.add_service_account(EMAIL);
            let path = sandbox.path("key.json");
            key.write_to(&path).expect("write key");
            vec!["--credentials".into(), path.to_string_lossy().into_owned()]
        }
        "metadata_token" | "metadata_identity" => {
            sandbox.env("GCE_METADATA_HOST", emulator.metadata_host());
            vec!["--source".into(), "metadata".into()]
        }
        _ => {
            let issuer = emulator.add_oidc_issuer(ISSUER);
            emulator.add_workload_provider(PROVIDER, &issuer);
            emulator.add_service_account(TARGET);
            emulator.grant_token_creator(TARGET, &sts_principal(PROVIDER, SUB));
            let subject = sandbox.write("ksa/token", issuer.mint(SUB, PROVIDER, 3600));
            let mut args =
                vec!["--subject-token-file".into(), subject, "--workload-identity-provider".into()];
            args.extend([PROVIDER.into(), "--sts-endpoint".into(), url.clone()]);
            if route != "sts" {
                args.extend(["--service-account".into(), TARGET.into(), "--iam-endpoint".into(), url]);
            }
            args
        }
    };
    Rig { emulator, sandbox, args }
}

impl Rig {
    fn run(&self, route: &str) -> Output {
        let identity = route.ends_with("identity") || route == "iam_id";
        let mut args: Vec<&str> = if identity {
            vec!["print-identity-token", "--audience", AUDIENCE]
        } else {
            vec!["print-access-token", "--format", "json"]
        };
        args.push("--no-cache");
        args.extend(self.args.iter().map(String::as_str));
        self.sandbox.run(&args)
    }
}

fn raw(status: u16, body: impl Into<Vec<u8>>) -> Fault {
    Fault::Raw { status, headers: Vec::new(), body: body.into() }
}

fn json_answer(value: &Value) -> Fault {
    Fault::Raw {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: value.to_string().into_bytes(),
    }
}

/// A JWT whose `exp` is `exp` (unsigned: the agent reads `exp` without verifying).
fn jwt_expiring(exp: u64) -> String {
    use base64::Engine;
    let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(json!({"exp": exp, "aud": AUDIENCE}))
    )
}

/// An access-token answer in the route's own shape, with `expiry` as the route words it.
fn access_answer(route: &str, token: &str, expiry: Value) -> Fault {
    match route {
        "iam_access" => json_answer(&json!({"accessToken": token, "expireTime": expiry})),
        "sts" => json_answer(&json!({
            "access_token": token, "expires_in": expiry, "token_type": "Bearer",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        })),
        _ => json_answer(&json!({"access_token": token, "expires_in": expiry, "token_type": "Bearer"})),
    }
}

/// The answers that must be refused on an access-token route, by name.
fn refused_access_answers(route: &str) -> Vec<(&'static str, Fault)> {
    let expiry = |seconds: i64| {
        if route == "iam_access" {
            json!(if seconds > 0 { "2099-01-01T00:00:00Z" } else { "2000-01-01T00:00:00Z" })
        } else {
            json!(seconds)
        }
    };
    let mut answers = vec![
        ("an expiry in the past or zero", access_answer(route, "ya29.hostile", expiry(0))),
        ("a missing token", json_answer(&json!({"expires_in": 3600, "expireTime": "2099-01-01T00:00:00Z"}))),
        ("an empty token", access_answer(route, "", expiry(3600))),
        ("a token with CR/LF", access_answer(route, "ya29.a\r\nX-Injected: 1", expiry(3600))),
        ("a body that is not JSON", raw(200, "<html>hello</html>")),
        ("a 2 MiB body", raw(200, vec![b' '; 2 << 20])),
        (
            "a redirect",
            Fault::Raw {
                status: 307,
                headers: vec![("location".into(), "https://evil.example/steal?refresh_token=x".into())],
                body: Vec::new(),
            },
        ),
    ];
    if route != "iam_access" {
        answers.push(("a negative expires_in", access_answer(route, "ya29.hostile", json!(-1))));
        answers.push(("a string expires_in", access_answer(route, "ya29.hostile", json!("soon"))));
        answers.push(("a fractional expires_in", access_answer(route, "ya29.hostile", json!(1e12))));
    }
    answers
}

fn assert_refused(out: &Output, route: &str, what: &str) {
    assert_eq!(out.code, 69, "{route}, {what}: expected an upstream error\n{}", out.stderr);
    assert!(out.stdout.is_empty(), "{route}, {what}: printed {:?}", out.stdout);
    assert!(!out.stderr.contains("panicked"), "{route}, {what}: {}", out.stderr);
    assert!(!out.stderr.contains("ya29.a\r"), "{route}, {what}: echoed the bad token");
}

#[test]
fn hostile_access_token_answers_are_refused_at_every_endpoint() {
    for route in ["token", "metadata_token", "sts", "iam_access"] {
        for (what, fault) in refused_access_answers(route) {
            let rig = rig(route);
            rig.emulator.push_fault_to(route, fault);
            let out = rig.run(route);
            assert_refused(&out, route, what);
            if what == "a redirect" {
                assert!(
                    out.stderr.contains("evil.example") && !out.stderr.contains("refresh_token=x"),
                    "{}",
                    out.stderr
                );
            }
            if what == "a 2 MiB body" {
                assert!(out.stderr.contains("larger than"), "{}", out.stderr);
            }
        }
    }
}

#[test]
fn an_absurdly_long_lifetime_is_capped_at_twelve_hours_not_an_overflow() {
    let twelve_hours_from_now = std::time::SystemTime::now() + std::time::Duration::from_secs(12 * 3600 + 60);
    let latest = jiff::Timestamp::try_from(twelve_hours_from_now).expect("time");
    for (route, expiry) in [
        ("token", json!(u64::MAX)),
        ("metadata_token", json!(i64::MAX)),
        ("sts", json!(u64::MAX)),
        ("iam_access", json!("9000-01-01T00:00:00Z")),
    ] {
        let rig = rig(route);
        rig.emulator.push_fault_to(route, access_answer(route, "ya29.long-lived", expiry));
        let out = rig.run(route);
        let answer: Value = serde_json::from_str(out.ok()).expect("json");
        let expiry: jiff::Timestamp = answer["expiry"].as_str().expect("expiry").parse().expect("RFC 3339");
        assert!(expiry <= latest, "{route}: {expiry} is more than 12 h away");
    }
}

#[test]
fn expired_or_malformed_id_tokens_are_refused() {
    for route in ["metadata_identity", "iam_id"] {
        let answers = [
            ("an expired ID token", jwt_expiring(946_684_800)),
            ("not a JWT", "not-a-jwt".to_owned()),
            ("an empty answer", String::new()),
        ];
        for (what, token) in answers {
            let rig = rig(route);
            let fault =
                if route == "iam_id" { json_answer(&json!({"token": token})) } else { raw(200, token) };
            rig.emulator.push_fault_to(route, fault);
            assert_refused(&rig.run(route), route, what);
        }
    }
}

#[test]
fn an_error_answer_that_reflects_the_request_never_echoes_a_secret() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let mut user = emulator.add_authorized_user("person@example.com");
    user["client_secret"] = json!("GOCSPX-reflected-client-secret");
    let refresh = user["refresh_token"].as_str().expect("refresh token").to_owned();
    let path = sandbox.write("user.json", user.to_string());
    let body = json!({
        "error": "invalid_request",
        "error_description": format!("bad request: refresh_token={refresh}&client_secret=GOCSPX-reflected-client-secret\u{1b}[2J"),
    });
    emulator.push_fault_to(
        "token",
        Fault::Raw { status: 400, headers: Vec::new(), body: body.to_string().into_bytes() },
    );
    let out = sandbox.run(&["print-access-token", "--no-cache", "--credentials", &path]);
    assert_eq!(out.code, 69, "{}", out.stderr);
    assert!(!out.stderr.contains(&refresh) && !out.stderr.contains("GOCSPX-reflected"), "{}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "control characters reach the terminal: {:?}", out.stderr);
    assert!(out.stderr.contains("[redacted]"), "{}", out.stderr);
}

#[test]
fn a_slow_drip_ends_at_the_http_timeout_with_a_clear_error_at_every_endpoint() {
    // Each route takes seconds of dripping; they run side by side.
    std::thread::scope(|scope| {
        for route in ["token", "metadata_token", "sts", "iam_access"] {
            scope.spawn(move || drip_is_cut_off(route));
        }
    });
}

fn drip_is_cut_off(route: &str) {
    let rig = rig(route);
    // Three attempts, each dripping a byte a second: only --http-timeout ends them.
    for _ in 0..3 {
        let body = br#"{"access_token": "ya29.dripped", "expires_in": 3600}"#.to_vec();
        rig.emulator.push_fault_to(route, Fault::Drip { body, every: std::time::Duration::from_secs(1) });
    }
    let flags = ["print-access-token", "--no-cache", "--http-timeout", "1s"];
    let args: Vec<&str> = flags.into_iter().chain(rig.args.iter().map(String::as_str)).collect();
    let out = rig.sandbox.run(&args);
    assert_refused(&out, route, "a slow drip");
    // Without the deadline the drip would finish and print a token: "timed out" proves it fired.
    assert!(out.stderr.contains("timed out"), "{route}: {}", out.stderr);
}

/// An `authorized_user` file whose secrets are known, and a body that echoes them in every
/// form an upstream might: raw, URL-encoded, base64, with a terminal escape, a forged log line
/// and half a megabyte of padding.
fn reflecting_user(emulator: &Emulator, sandbox: &Sandbox) -> (String, [String; 2], Vec<u8>) {
    use base64::Engine;
    let user = emulator.add_authorized_user("person@example.com");
    let client_secret = user["client_secret"].as_str().expect("client secret").to_owned();
    let refresh = user["refresh_token"].as_str().expect("refresh token").to_owned();
    let path = sandbox.write("user.json", user.to_string());
    let encoded: String = refresh.bytes().map(|b| format!("%{b:02X}")).collect();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("client:{refresh}"));
    let body = json!({
        "error": "invalid_grant\nFORGED ERROR injected line",
        "error_description": format!(
            "raw {refresh} url {encoded} b64 {basic} secret {client_secret} \u{1b}[2J\n2026-01-01T00:00:00Z ERROR forged {}",
            "x".repeat(1 << 19)
        ),
    });
    (path, [refresh, client_secret], body.to_string().into_bytes())
}

fn assert_scrubbed(text: &str, secrets: &[String; 2], what: &str) {
    for secret in secrets {
        let tail = &secret[secret.len() - 8..];
        assert!(!text.contains(tail), "{what}: a secret came back: {text}");
    }
    assert!(!text.contains('\u{1b}'), "{what}: a terminal escape came back");
    assert!(!text.lines().any(|l| l.starts_with("FORGED") || l.starts_with("2026-01-01")), "{what}: {text}");
}

#[test]
fn a_2xx_answer_with_an_error_field_is_scrubbed_in_the_cli_the_log_and_the_metadata_api() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let (path, secrets, body) = reflecting_user(&emulator, &sandbox);
    // The CLI: a 200 carrying "error" is a refusal, shown scrubbed and short.
    for status in [200, 401] {
        emulator.push_fault_to("token", raw(status, body.clone()));
        let out = sandbox.run(&["print-access-token", "--no-cache", "--credentials", &path]);
        assert_eq!(out.code, 69, "{status}: {}", out.stderr);
        assert!(out.stdout.is_empty());
        assert_scrubbed(&out.stderr, &secrets, &format!("print-access-token, HTTP {status}"));
        assert!(out.stderr.len() < 2048, "{status}: bounded, not the 1 MiB body: {} bytes", out.stderr.len());
        assert_eq!(out.stderr.lines().count(), 1, "{status}: one line: {}", out.stderr);
    }
    // `run`: the on-demand route answers 503 with the scrubbed reason, and the log stays clean.
    let agent = support::running::RunningAgent::start(&sandbox, &["--credentials", &path]);
    agent.wait_ready();
    emulator.push_fault_to("token", raw(200, body));
    let path = "/computeMetadata/v1/instance/service-accounts/default/token?scopes=https://www.googleapis.com/auth/bigquery";
    let answer = agent.metadata_get(path);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_scrubbed(&answer.body, &secrets, "the metadata API's 503");
    assert!(answer.body.len() < 2048, "{} bytes", answer.body.len());
    assert_scrubbed(&agent.logs(), &secrets, "run's log");
}
