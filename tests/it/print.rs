//! `print-access-token` and `print-identity-token` against the local Google emulator:
//! every credential type, ADC discovery, the retry policy, the cache, and bad input.

use crate::support;

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use support::{
    agent::Sandbox,
    emulator::{Emulator, Fault},
};

const EMAIL: &str = "app@emulator-project.iam.gserviceaccount.com";

/// An emulator with one service account whose key sits in a fresh sandbox.
fn with_key() -> (Emulator, Sandbox, String) {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let key = emulator.add_service_account(EMAIL);
    let path = sandbox.path("key.json");
    key.write_to(&path).expect("write key");
    (emulator, sandbox, path.to_string_lossy().into_owned())
}

#[test]
fn a_key_file_yields_the_token_the_emulator_issued_with_a_signed_assertion() {
    let (emulator, sandbox, key) = with_key();
    let out = sandbox.run(&["print-access-token", "--credentials", &key]);
    let token = out.ok().trim_end_matches('\n');
    let issued = emulator.issued(token).expect("the emulator issued this token");
    assert_eq!(issued.principal_email, EMAIL);
    assert_eq!(issued.scopes, ["https://www.googleapis.com/auth/cloud-platform"]);
    let request = &emulator.requests_to("token")[0];
    let header = request.jwt_header.as_ref().expect("assertion header");
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].as_str().is_some_and(|k| k.len() == 40), "kid is the key id: {header}");
    assert_eq!(request.form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
}

#[test]
fn scopes_are_space_joined_and_json_output_carries_the_expiry() {
    let (emulator, sandbox, key) = with_key();
    let scopes =
        "https://www.googleapis.com/auth/devstorage.read_only,https://www.googleapis.com/auth/pubsub";
    let out =
        sandbox.run(&["print-access-token", "--credentials", &key, "--scopes", scopes, "--format", "json"]);
    let json: Value = serde_json::from_str(out.ok()).expect("json output");
    assert_eq!(json["token_type"], "Bearer");
    assert!(json["expiry"].as_str().is_some_and(|e| e.ends_with('Z')));
    let claims = emulator.requests_to("token")[0].jwt_claims.clone().expect("claims");
    assert_eq!(claims["scope"], scopes.replace(',', " "));
    let issued = emulator.issued(json["access_token"].as_str().expect("token")).expect("issued");
    assert_eq!(issued.scopes.len(), 2);
}

#[test]
fn a_second_call_is_answered_from_the_cache_without_a_request() {
    let (emulator, sandbox, key) = with_key();
    let first = sandbox.run(&["print-access-token", "--credentials", &key]);
    let second = sandbox.run(&["print-access-token", "--credentials", &key]);
    assert_eq!(first.ok(), second.ok());
    assert_eq!(emulator.calls("token"), 1);
    let entries: Vec<_> = std::fs::read_dir(sandbox.cache_dir()).expect("cache dir").collect();
    assert_eq!(entries.len(), 1);
    let mode = entries[0].as_ref().expect("entry").metadata().expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    sandbox.run(&["print-access-token", "--credentials", &key, "--no-cache"]).ok();
    assert_eq!(emulator.calls("token"), 2, "--no-cache goes to the network");
}

#[test]
fn two_keys_never_share_a_cached_token() {
    let (emulator, sandbox, key) = with_key();
    let other = emulator.add_service_account("other@emulator-project.iam.gserviceaccount.com");
    let other_path = sandbox.path("other.json");
    other.write_to(&other_path).expect("write");
    let a = sandbox.run(&["print-access-token", "--credentials", &key]);
    let b = sandbox.run(&["print-access-token", "--credentials", other_path.to_str().expect("utf8")]);
    assert_ne!(a.ok(), b.ok());
    assert_eq!(emulator.issued(b.ok().trim()).expect("issued").principal_email, other.email());
    assert_eq!(emulator.calls("token"), 2);
}

#[test]
fn domain_wide_delegation_sends_sub_and_is_refused_when_not_allowed() {
    let (emulator, sandbox, key) = with_key();
    let refused =
        sandbox.run(&["print-access-token", "--credentials", &key, "--subject", "user@example.com"]);
    assert!(refused.fails_with(69).contains("unauthorized_client"), "{}", refused.stderr);
    emulator.allow_domain_wide_delegation(EMAIL);
    let out = sandbox.run(&["print-access-token", "--credentials", &key, "--subject", "user@example.com"]);
    let issued = emulator.issued(out.ok().trim()).expect("issued");
    assert_eq!(issued.subject.as_deref(), Some("user@example.com"));
}

#[test]
fn an_authorized_user_file_uses_the_refresh_token_grant() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let user = emulator.add_authorized_user("person@example.com");
    let path = sandbox.write("user.json", user.to_string());
    let out = sandbox.run(&["print-access-token", "--credentials", &path]);
    assert_eq!(emulator.issued(out.ok().trim()).expect("issued").principal_email, "person@example.com");
    let form = &emulator.requests_to("token")[0].form;
    assert_eq!(form["grant_type"], "refresh_token");
    assert!(!form.contains_key("scope"), "no scope unless asked: a refresh token cannot be widened");
    let id = sandbox.run(&["print-identity-token", "--credentials", &path, "--audience", "https://x"]);
    assert!(id.fails_with(64).contains("cannot mint ID tokens"), "{}", id.stderr);
}

#[test]
fn an_id_token_is_minted_for_the_audience_and_expires_with_its_exp() {
    let (emulator, sandbox, key) = with_key();
    let out = sandbox.run(&[
        "print-identity-token",
        "--credentials",
        &key,
        "--audience",
        "https://svc.example.com",
        "--format",
        "json",
    ]);
    let json: Value = serde_json::from_str(out.ok()).expect("json");
    let claims = emulator
        .verify_id_token(json["id_token"].as_str().expect("id_token"))
        .expect("signed by the emulator");
    assert_eq!(claims["aud"], "https://svc.example.com");
    assert_eq!(claims["email"], EMAIL);
    let exp = claims["exp"].as_u64().expect("exp");
    let expiry = json["expiry"].as_str().expect("expiry");
    let formatted =
        jiff::Timestamp::from_second(exp as i64).expect("ts").strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert_eq!(expiry, formatted);
    let assertion = emulator.requests_to("token")[0].jwt_claims.clone().expect("claims");
    assert_eq!(assertion["target_audience"], "https://svc.example.com");
    assert!(assertion.get("scope").is_none());
}

#[test]
fn adc_follows_google_application_credentials_and_a_missing_file_is_a_hard_error() {
    let (emulator, mut sandbox, key) = with_key();
    sandbox.env("GOOGLE_APPLICATION_CREDENTIALS", &key);
    let out = sandbox.run(&["print-access-token"]);
    assert!(emulator.issued(out.ok().trim()).is_some());
    let mut missing = Sandbox::new();
    missing.env("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json");
    missing.env("GCE_METADATA_HOST", emulator.metadata_host());
    let err = missing.run(&["print-access-token"]);
    let text = err.fails_with(64);
    assert!(
        text.contains("/nonexistent/key.json") && text.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{text}"
    );
}

#[test]
fn adc_finds_gclouds_well_known_file_under_cloudsdk_config() {
    let (emulator, mut sandbox, key) = with_key();
    let config = sandbox.path("gcloud-config");
    std::fs::create_dir_all(&config).expect("mkdir");
    std::fs::copy(&key, config.join("application_default_credentials.json")).expect("copy");
    sandbox.env("CLOUDSDK_CONFIG", &config);
    let out = sandbox.run(&["print-access-token"]);
    assert!(emulator.issued(out.ok().trim()).is_some());
}

#[test]
fn adc_falls_back_to_the_metadata_server_for_access_and_id_tokens() {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    sandbox.env("GCE_METADATA_HOST", emulator.metadata_host());
    let out = sandbox.run(&["print-access-token"]);
    assert!(emulator.issued(out.ok().trim()).is_some());
    assert_eq!(emulator.calls("metadata_token"), 1);
    let id = sandbox.run(&["print-identity-token", "--audience", "https://aud.example", "--include-email"]);
    let claims = emulator.verify_id_token(id.ok().trim()).expect("valid");
    assert_eq!(claims["aud"], "https://aud.example");
    assert!(claims.get("email").is_some(), "--include-email asks for format=full");
    let identity = &emulator.requests_to("metadata_identity")[0];
    assert!(identity.path_and_query.contains("format=full"), "{}", identity.path_and_query);
    assert_eq!(identity.headers["metadata-flavor"], "Google");
}

#[test]
fn no_credentials_anywhere_is_a_configuration_error() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(&["print-access-token"]);
    assert!(out.fails_with(64).contains("no credentials found"), "{}", out.stderr);
}

#[test]
fn a_503_is_retried_and_then_succeeds() {
    let (emulator, sandbox, key) = with_key();
    emulator.push_fault(Fault::Status(503));
    let out = sandbox.run(&["print-access-token", "--credentials", &key]);
    assert!(emulator.issued(out.ok().trim()).is_some());
    assert_eq!(emulator.calls("token"), 2);
}

#[test]
fn a_retryable_error_code_and_a_429_with_retry_after_are_retried() {
    let (emulator, sandbox, key) = with_key();
    emulator.push_fault(Fault::ErrorCode { status: 400, error: "temporarily_unavailable".into() });
    emulator.push_fault(Fault::RateLimited { retry_after_secs: 1 });
    let out = sandbox.run(&["print-access-token", "--credentials", &key]);
    assert!(emulator.issued(out.ok().trim()).is_some());
    assert_eq!(emulator.calls("token"), 3);
}

#[test]
fn invalid_grant_is_not_retried_and_exits_69() {
    let (emulator, sandbox, key) = with_key();
    emulator.push_fault(Fault::ErrorCode { status: 400, error: "invalid_grant".into() });
    let out = sandbox.run(&["print-access-token", "--credentials", &key]);
    assert!(out.fails_with(69).contains("invalid_grant"), "{}", out.stderr);
    assert_eq!(emulator.calls("token"), 1);
}

#[test]
fn an_unreachable_token_endpoint_exits_69_after_retries() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let key = emulator.add_service_account(EMAIL);
    let mut json = key.json().clone();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    json["token_uri"] = Value::from(format!("http://{closed}/token"));
    let path = sandbox.write("key.json", json.to_string());
    let out = sandbox.run(&["print-access-token", "--credentials", &path]);
    assert!(out.fails_with(69).contains("unreachable"), "{}", out.stderr);
}

/// Each bad file gives one line naming the file and the field, exit 64.
#[test]
fn bad_credential_files_name_the_file_and_the_field() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let good = emulator.add_service_account(EMAIL).json().clone();
    let without = |field: &str| {
        let mut json = good.clone();
        json.as_object_mut().expect("object").remove(field);
        json.to_string()
    };
    let mut not_a_key = good.clone();
    not_a_key["private_key"] =
        Value::from("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed.json", "{\"type\": ".into(), "not valid JSON"),
        ("unknown.json", r#"{"type":"gdch_service_account"}"#.into(), "field \"type\""),
        ("no-email.json", without("client_email"), "client_email"),
        ("no-key.json", without("private_key"), "private_key"),
        ("no-uri.json", without("token_uri"), "token_uri"),
        ("bad-pem.json", not_a_key.to_string(), "private_key"),
        ("empty.json", String::new(), "empty"),
    ];
    for (name, contents, field) in cases {
        let path = sandbox.write(name, contents);
        let out = sandbox.run(&["print-access-token", "--credentials", &path]);
        let text = out.fails_with(64);
        assert_eq!(text.lines().count(), 1, "{name}: one line: {text}");
        assert!(text.contains(name) && text.contains(field), "{name}: {text}");
    }
    let dir = sandbox.path("a-directory");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let out = sandbox.run(&["print-access-token", "--credentials", dir.to_str().expect("utf8")]);
    assert!(out.fails_with(64).contains("directory"));
    let out = sandbox.run(&["print-access-token", "--credentials", "/no/such/key.json"]);
    assert!(out.fails_with(64).contains("/no/such/key.json"));
    assert_eq!(emulator.calls("token"), 0);
}

#[test]
fn a_corrupt_or_foreign_cache_entry_is_ignored_and_replaced() {
    let (emulator, sandbox, key) = with_key();
    let first = sandbox.run(&["print-access-token", "--credentials", &key]);
    let entry =
        std::fs::read_dir(sandbox.cache_dir()).expect("dir").next().expect("one").expect("entry").path();
    std::fs::write(&entry, b"{garbage").expect("corrupt it");
    let second = sandbox.run(&["print-access-token", "--credentials", &key]);
    assert_ne!(first.ok(), second.ok());
    assert!(second.stderr.contains("it is corrupt"), "{}", second.stderr);
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let third = sandbox.run(&["print-access-token", "--credentials", &key]);
    assert!(third.stderr.contains("lets others read"), "{}", third.stderr);
    assert_eq!(emulator.calls("token"), 3);
    let fourth = sandbox.run(&["print-access-token", "--credentials", &key]);
    assert_eq!(third.ok(), fourth.ok(), "the replaced entry is trusted again");
}

/// At the default level warnings still reach stderr, as text or as JSON (the logger is built
/// only when the first event passes the level), and stdout keeps the answer.
#[test]
fn a_cache_that_cannot_be_used_is_warned_about_as_text_or_json() {
    let (emulator, sandbox, key) = with_key();
    std::fs::write(sandbox.path("cache"), "a file where the cache directory would go").expect("write");
    let text = sandbox.run(&["print-access-token", "--credentials", &key]);
    assert!(emulator.issued(text.ok().trim()).is_some());
    let lines: Vec<&str> = text.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "reading, then writing: {lines:?}");
    assert!(lines.iter().all(|l| l.contains(" WARN ")), "{lines:?}");
    assert!(lines[1].contains("cannot write the token cache"), "{lines:?}");
    let json = sandbox.run(&["print-access-token", "--credentials", &key, "--log-format", "json"]);
    assert!(emulator.issued(json.ok().trim()).is_some());
    let events: Vec<Value> =
        json.stderr.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(events.len(), 2, "{}", json.stderr);
    assert!(events.iter().all(|e| e["level"] == "WARN"), "{}", json.stderr);
    let message = events[1]["fields"]["message"].as_str().expect("a message");
    assert!(message.contains("cannot write the token cache"), "{message}");
}

#[test]
fn log_levels_can_be_set_per_target() {
    let (_emulator, sandbox, key) = with_key();
    let run = |extra: &[&str], level: &str| {
        let args = [&["print-access-token", "--credentials", &key, "--log-level", level], extra].concat();
        sandbox.run(&args)
    };
    assert_eq!(run(&[], "warn").ok().lines().count(), 1, "fills the cache");
    let cached = "answered from the disk cache";
    assert!(run(&[], "warn,gcp_token_agent=debug").stderr.contains(cached));
    assert!(!run(&[], "debug,gcp_token_agent=warn").stderr.contains(cached));
    // A mint: the HTTP client logs at debug, unless its target is switched off.
    assert!(run(&["--no-cache"], "debug").stderr.contains("hyper_util"));
    let quiet = run(&["--no-cache"], "debug,hyper_util=off");
    assert!(quiet.ok().starts_with("ya29."));
    assert!(!quiet.stderr.contains("hyper_util"), "{}", quiet.stderr);
    assert!(run(&[], "warn,x=loud").fails_with(64).contains("--log-level"));
    assert!(run(&[], "info,[mint]=debug").fails_with(64).contains("span and field filters"));
}

#[test]
fn secrets_never_reach_stderr_even_at_trace_level() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let key = emulator.add_service_account(EMAIL);
    let key_path = sandbox.path("key.json");
    key.write_to(&key_path).expect("write");
    let user = emulator.add_authorized_user("person@example.com");
    let user_path = sandbox.write("user.json", user.to_string());
    emulator.push_fault(Fault::Status(503));
    let trace = ["--log-level", "trace", "--no-cache"];
    let runs = [
        sandbox.run(
            &[&["print-access-token", "--credentials", key_path.to_str().expect("utf8")], &trace[..]]
                .concat(),
        ),
        sandbox.run(
            &[
                &[
                    "print-identity-token",
                    "--audience",
                    "a",
                    "--credentials",
                    key_path.to_str().expect("utf8"),
                ],
                &trace[..],
            ]
            .concat(),
        ),
        sandbox.run(&[&["print-access-token", "--credentials", &user_path], &trace[..]].concat()),
    ];
    let pem_body: String = key.private_key_pem().lines().nth(1).expect("a base64 line").to_owned();
    let secrets = [
        pem_body,
        user["refresh_token"].as_str().expect("rt").to_owned(),
        user["client_secret"].as_str().expect("cs").to_owned(),
    ];
    for run in &runs {
        let token = run.ok().trim().to_owned();
        assert!(!run.stderr.is_empty(), "trace logging produced output");
        assert!(!run.stderr.contains(&token), "token leaked into stderr");
        assert!(!run.stderr.contains("ya29."), "token prefix in stderr");
        for secret in &secrets {
            assert!(!run.stderr.contains(secret.as_str()), "secret leaked into stderr");
        }
        assert!(!run.stderr.contains("eyJ"), "a JWT (assertion or ID token) leaked into stderr");
    }
}

#[test]
fn outside_googleapis_com_access_tokens_are_self_signed_jwts_without_a_request() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let key = emulator.add_service_account(EMAIL);
    let mut json = key.json().clone();
    json["universe_domain"] = Value::from("sovereign.example");
    let path = sandbox.write("key.json", json.to_string());
    let out = sandbox.run(&[
        "print-access-token",
        "--credentials",
        &path,
        "--scopes",
        "https://www.googleapis.com/auth/pubsub",
    ]);
    let jwt = out.ok().trim().to_owned();
    let header = jsonwebtoken::decode_header(&jwt).expect("a JWT");
    assert_eq!(header.kid.as_deref(), Some(key.private_key_id()));
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(&jwt).expect("claims");
    assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(EMAIL), Some(EMAIL)));
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/pubsub");
    assert!(claims.get("aud").is_none());
    assert_eq!(emulator.calls("token"), 0, "no OAuth endpoint in other universes");
    let dwd = sandbox.run(&["print-access-token", "--credentials", &path, "--subject", "u@x", "--no-cache"]);
    assert!(dwd.fails_with(64).contains("--subject"));
}

/// `gcp-token-agent ARGS` with stdout and stderr redirected as `redirects` says (`sh` syntax).
fn redirected(sandbox: &Sandbox, redirects: &str, args: &[&str]) -> std::process::Output {
    let script = format!("exec \"$0\" \"$@\" {redirects}");
    let mut command = sandbox.command_for("sh");
    command.args(["-c", &script, support::agent::BIN]).args(args);
    command.output().expect("sh runs the agent")
}

#[test]
fn a_log_line_that_cannot_be_written_is_dropped_and_the_answer_still_arrives() {
    let (emulator, sandbox, key) = with_key();
    // Two WARN lines (the cache cannot be used) go to a full stderr.
    std::fs::write(sandbox.path("cache"), "a file where the cache directory would go").expect("write");
    let out = redirected(&sandbox, "2>/dev/full", &["print-access-token", "--credentials", &key]);
    assert_eq!(out.status.code(), Some(0), "not a panic (101)");
    assert!(emulator.issued(String::from_utf8_lossy(&out.stdout).trim()).is_some());
    // `run --oneshot` logs at info.
    let dir = sandbox.path("out");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let dir = dir.to_string_lossy().into_owned();
    let args = ["run", "--oneshot", "--credentials", &key, "--output-dir", &dir, "--listen", "off"];
    let oneshot = redirected(&sandbox, "2>/dev/full", &[&args[..], &["--admin-listen", "off"]].concat());
    assert_eq!(oneshot.status.code(), Some(0), "{}", String::from_utf8_lossy(&oneshot.stdout));
    assert!(emulator.issued(&std::fs::read_to_string(sandbox.path("out/token")).expect("token")).is_some());
}

#[test]
fn a_failing_stdout_is_an_error_and_help_that_cannot_be_printed_is_not_success() {
    let (_emulator, sandbox, key) = with_key();
    let full = redirected(&sandbox, ">/dev/full", &["print-access-token", "--credentials", &key]);
    assert_eq!(full.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&full.stderr).contains("stdout"));
    // Discarded on purpose, write-only (a shell) or read-write (Python's subprocess.DEVNULL,
    // which is also what the runtime makes of a closed stdout): the caller's choice, exit 0.
    for discard in [">/dev/null", "1<>/dev/null"] {
        let discarded = redirected(&sandbox, discard, &["print-access-token", "--credentials", &key]);
        assert_eq!(discarded.status.code(), Some(0), "{discard}");
    }
    for flag in ["--help", "--version"] {
        let out = redirected(&sandbox, ">/dev/full", &[flag]);
        assert_ne!(out.status.code(), Some(0), "{flag} >/dev/full");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{flag} >/dev/full");
        assert_eq!(sandbox.run(&[flag]).code, 0, "{flag} to a working stdout");
    }
}

#[test]
fn the_id_token_audience_has_its_own_variable_and_the_old_one_still_works_with_a_warning() {
    let (emulator, mut sandbox, key) = with_key();
    sandbox.env("GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE", "https://new.example");
    let out = sandbox.run(&["print-identity-token", "--credentials", &key]);
    let claims = emulator.verify_id_token(out.ok().trim_end()).expect("signed by the emulator");
    assert_eq!(claims["aud"], "https://new.example");
    assert!(!out.stderr.contains("GCP_TOKEN_AGENT_AUDIENCE"), "{}", out.stderr);

    let (emulator, mut sandbox, key) = with_key();
    sandbox.env("GCP_TOKEN_AGENT_AUDIENCE", "https://old.example");
    let out = sandbox.run(&["print-identity-token", "--credentials", &key]);
    let claims = emulator.verify_id_token(out.ok().trim_end()).expect("signed by the emulator");
    assert_eq!(claims["aud"], "https://old.example");
    assert!(out.stderr.contains("set GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE instead"), "{}", out.stderr);
}

#[test]
fn a_provider_in_the_old_variable_is_never_taken_as_an_id_tokens_audience() {
    let (_emulator, mut sandbox, key) = with_key();
    let provider = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x";
    sandbox.env("GCP_TOKEN_AGENT_AUDIENCE", provider);
    let out = sandbox.run(&["print-identity-token", "--credentials", &key]);
    let err = out.fails_with(64);
    assert!(err.contains("--audience") && err.contains("GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE"), "{err}");
    assert!(err.contains("GCP_TOKEN_AGENT_WORKLOAD_IDENTITY_PROVIDER"), "{err}");
    // For print-access-token it is still the provider (which needs --subject-token-file), with
    // a warning naming the new variable, and the ID token's variable changes nothing there.
    sandbox.env("GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE", "https://run.example");
    let out = sandbox.run(&["print-access-token", "--credentials", &key]);
    let err = out.fails_with(64);
    assert!(err.contains("need --subject-token-file"), "{err}");
    assert!(err.contains("set GCP_TOKEN_AGENT_WORKLOAD_IDENTITY_PROVIDER instead"), "{err}");
}
