//! `doctor` against the local emulator: each finding the issue names (an unreachable
//! `token_uri`, a clock 10 minutes off, a missing impersonation permission, a world-readable
//! key), an untrusted certificate, a good set-up, the ADC trail, the agent inside a pod, and `--format json`.

use crate::support;

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use support::{
    agent::{Output, Sandbox},
    emulator::{Emulator, OidcIssuer, sts_principal, write_private_json},
    tls_front::TlsFront,
};

const EMAIL: &str = "app@emulator-project.iam.gserviceaccount.com";
const TARGET: &str = "target@emulator-project.iam.gserviceaccount.com";
const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/k8s";
const SUB: &str = "system:serviceaccount:team-a:api";

/// An emulator, a sandbox, and a key for [`EMAIL`] in it (mode 0600), as GOOGLE_APPLICATION_CREDENTIALS.
fn with_key() -> (Emulator, Sandbox, String) {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let path = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&path).expect("write key");
    sandbox.env("GOOGLE_APPLICATION_CREDENTIALS", &path);
    (emulator, sandbox, path.to_string_lossy().into_owned())
}

/// The lines of `level` for `check`.
fn lines<'a>(out: &'a Output, level: &str, check: &str) -> Vec<&'a str> {
    let prefix = format!("{level:<4} {check}: ");
    out.stdout.lines().filter(|l| l.starts_with(&prefix)).collect()
}

/// The one line of `level` for `check`, asserted to exist.
#[track_caller]
fn line<'a>(out: &'a Output, level: &str, check: &str) -> &'a str {
    let found = lines(out, level, check);
    assert_eq!(found.len(), 1, "one {level} {check} line expected:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    found[0]
}

#[test]
fn a_good_key_passes_every_check_and_exits_zero_naming_whom_the_token_is_for() {
    let (emulator, sandbox, key) = with_key();
    let out = sandbox.run(&["doctor"]);
    let stdout = out.ok();
    assert!(!stdout.contains("fail") && !stdout.contains("warn"), "all ok:\n{stdout}");
    assert!(line(&out, "ok", "credentials").contains(&format!("a service_account key for {EMAIL}, {key}")));
    assert!(line(&out, "ok", "file-mode").contains("(mode 600)"));
    assert!(line(&out, "ok", "endpoint").contains(&format!("token endpoint {}/token", emulator.url())));
    assert!(line(&out, "ok", "clock").contains("within 1m"));
    assert!(line(&out, "ok", "token").contains(&format!("minted an access token for {EMAIL}")));
    // The token minted never reaches the output.
    // The probe is a GET (405, and its `Date`); the mint is the one POST.
    let grants = emulator.requests_to("token").into_iter().filter(|r| r.method == "POST").count();
    assert_eq!(grants, 1, "one grant");
    assert!(!stdout.contains("ya29") && !stdout.contains("PRIVATE KEY"), "no secret printed:\n{stdout}");
}

#[test]
fn the_discovery_trail_says_which_file_was_chosen_and_why_the_others_were_skipped() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let gcloud = sandbox.path(".config/gcloud");
    std::fs::create_dir_all(&gcloud).expect("mkdir");
    let adc = gcloud.join("application_default_credentials.json");
    emulator.add_service_account(EMAIL).write_to(&adc).expect("write key");
    let out = sandbox.run(&["doctor"]);
    out.ok();
    let credentials = lines(&out, "ok", "credentials");
    assert_eq!(credentials[0], "ok   credentials: skipped GOOGLE_APPLICATION_CREDENTIALS: not set");
    let chosen = format!("{} (from gcloud's application default credentials)", adc.display());
    assert!(credentials[1].contains(&chosen), "{}", out.stdout);
}

#[test]
fn a_key_whose_token_uri_is_unreachable_is_named_with_the_field_to_correct_and_exits_one() {
    let (emulator, sandbox, key) = with_key();
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&key).expect("read")).expect("json");
    json["token_uri"] = "http://127.0.0.1:1/token".into();
    write_private_json(key.as_ref(), &json).expect("write key");
    let out = sandbox.run(&["doctor"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let unreachable = line(&out, "fail", "endpoint");
    assert!(unreachable.contains("token endpoint http://127.0.0.1:1/token"), "{unreachable}");
    assert!(unreachable.contains(&format!("correct the token_uri of {key}")), "{unreachable}");
    assert!(line(&out, "warn", "token").contains("no token minted"));
    assert_eq!(out.stderr.trim(), "gcp-token-agent: error: doctor: 1 check failed");
    assert_eq!(emulator.calls("token"), 0, "nothing went to the emulator");
}

#[test]
fn a_clock_ten_minutes_off_is_named_and_blamed_for_the_refused_grant() {
    let (emulator, sandbox, _key) = with_key();
    // Google's clock 10 minutes behind ours: our assertion's `iat` is in its future.
    emulator.set_clock_offset(-600);
    let out = sandbox.run(&["doctor"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let clock = line(&out, "fail", "clock");
    assert!(clock.contains("clock is about 10m ahead of the token endpoint's"), "{clock}");
    assert!(clock.contains("NTP"), "{clock}");
    let token = line(&out, "fail", "token");
    assert!(token.contains("invalid_grant"), "{token}");
    assert!(token.contains("fix: synchronise this machine's clock"), "{token}");
}

#[test]
fn a_clock_in_step_with_the_emulators_is_no_finding_once_the_offset_is_gone() {
    let (emulator, sandbox, _key) = with_key();
    emulator.set_clock_offset(-600);
    assert_eq!(sandbox.run(&["doctor"]).code, 1);
    emulator.set_clock_offset(0);
    sandbox.run(&["doctor"]).ok();
}

#[test]
fn a_missing_impersonation_permission_names_the_role_the_member_and_the_account() {
    let (emulator, sandbox, _key) = with_key();
    emulator.add_service_account(TARGET);
    let out =
        sandbox.run(&["doctor", "--impersonate-service-account", TARGET, "--iam-endpoint", emulator.url()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let denied = line(&out, "fail", "impersonation");
    assert!(denied.contains(&format!("serviceAccount:{EMAIL} may not impersonate {TARGET}")), "{denied}");
    assert!(denied.contains("PERMISSION_DENIED"), "{denied}");
    let grant = format!(
        "fix: gcloud iam service-accounts add-iam-policy-binding {TARGET} \
         --role roles/iam.serviceAccountTokenCreator --member serviceAccount:{EMAIL}"
    );
    assert!(denied.ends_with(&grant), "{denied}");
    // Granted, the same set-up passes and the token is the target's.
    emulator.grant_token_creator(TARGET, EMAIL);
    let out =
        sandbox.run(&["doctor", "--impersonate-service-account", TARGET, "--iam-endpoint", emulator.url()]);
    out.ok();
    assert!(line(&out, "ok", "token").contains(&format!("for {TARGET}")));
}

#[test]
fn a_workload_without_workload_identity_user_is_told_the_role_for_its_principal() {
    let emulator = Emulator::start();
    let issuer: OidcIssuer = emulator.add_oidc_issuer("https://kubernetes.default.svc.cluster.local");
    emulator.add_workload_provider(PROVIDER, &issuer);
    emulator.add_service_account(TARGET);
    let sandbox = Sandbox::new();
    let subject = sandbox.write("ksa/token", issuer.mint(SUB, PROVIDER, 3600));
    let url = emulator.url();
    let out = sandbox.run(&[
        "doctor",
        "--subject-token-file",
        &subject,
        "--workload-identity-provider",
        PROVIDER,
        "--service-account",
        TARGET,
        "--sts-endpoint",
        url,
        "--iam-endpoint",
        url,
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(line(&out, "ok", "project-number").contains("123456789012"));
    let denied = line(&out, "fail", "impersonation");
    let member = sts_principal(PROVIDER, SUB);
    assert!(denied.contains("--role roles/iam.workloadIdentityUser"), "{denied}");
    assert!(denied.ends_with(&format!("--member {member}")), "the emulator's own principal: {denied}");
}

#[test]
fn a_world_readable_key_file_is_a_failure_that_says_chmod_600() {
    let (_emulator, sandbox, key) = with_key();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = sandbox.run(&["doctor"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let mode = line(&out, "fail", "file-mode");
    assert!(mode.contains("readable by everyone (mode 644)"), "{mode}");
    assert!(mode.ends_with(&format!("fix: chmod 600 {key}")), "{mode}");
    // The key still works: the other checks pass.
    assert!(line(&out, "ok", "token").contains(EMAIL));
}

#[test]
fn a_group_readable_key_file_is_a_warning_and_exits_zero() {
    let (_emulator, sandbox, key) = with_key();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let out = sandbox.run(&["doctor"]);
    out.ok();
    assert!(line(&out, "warn", "file-mode").ends_with(&format!("fix: chmod 600 {key}")));
}

#[test]
fn json_findings_are_an_array_with_stable_keys() {
    let (_emulator, sandbox, _key) = with_key();
    let out = sandbox.run(&["doctor", "--format", "json"]);
    let findings: Vec<Value> = serde_json::from_str(out.ok()).expect("a JSON array");
    assert!(findings.len() >= 5, "{findings:?}");
    for finding in &findings {
        let keys: Vec<&String> = finding.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["check", "fix", "level", "message"]);
        assert_eq!(finding["level"], "ok");
    }
    let checks: Vec<&str> = findings.iter().filter_map(|f| f["check"].as_str()).collect();
    for check in ["credentials", "file-mode", "endpoint", "clock", "token"] {
        assert!(checks.contains(&check), "{check} in {checks:?}");
    }
}

#[test]
fn json_failures_carry_the_fix_and_exit_one() {
    let (_emulator, sandbox, key) = with_key();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o604)).expect("chmod");
    let out = sandbox.run(&["doctor", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let findings: Vec<Value> = serde_json::from_str(&out.stdout).expect("a JSON array");
    let failed: Vec<&Value> = findings.iter().filter(|f| f["level"] == "fail").collect();
    assert_eq!(failed.len(), 1, "{findings:?}");
    assert_eq!(failed[0]["check"], "file-mode");
    assert_eq!(failed[0]["fix"], format!("chmod 600 {key}"));
}

#[test]
fn an_unknown_format_is_bad_usage() {
    let (_emulator, sandbox, _key) = with_key();
    let out = sandbox.run(&["doctor", "--format", "yaml"]);
    assert!(out.fails_with(64).contains("--format"));
}

#[test]
fn inside_a_pod_the_agents_api_and_fresh_token_files_pass() {
    let (emulator, mut sandbox, key) = with_key();
    let dir = sandbox.path("tokens");
    std::fs::create_dir(&dir).expect("mkdir");
    let oneshot = sandbox.run(&[
        "run",
        "--oneshot",
        "--credentials",
        &key,
        "--output-dir",
        dir.to_str().expect("utf-8"),
    ]);
    oneshot.ok();
    // The webhook sets these two in every app container of an injected pod.
    sandbox.env("GCE_METADATA_HOST", emulator.metadata_host());
    sandbox.env("GCP_ACCESS_TOKEN_FILE", dir.join("token"));
    let out = sandbox.run(&["doctor"]);
    out.ok();
    assert!(line(&out, "ok", "token-files").contains("is fresh"), "{}", out.stdout);
    let api = lines(&out, "ok", "agent-api");
    assert!(api.iter().any(|l| l.contains("answers")), "{api:?}");
    assert!(api.iter().any(|l| l.contains("numeric project id is")), "{api:?}");
}

#[test]
fn inside_a_pod_a_stale_token_file_and_a_silent_agent_are_failures() {
    let (_emulator, mut sandbox, _key) = with_key();
    sandbox.write("tokens/token", "stale");
    sandbox.write(
        "tokens/token.json",
        r#"{"access_token":"stale","token_type":"Bearer","expiry":"2020-01-01T00:00:00Z"}"#,
    );
    sandbox.env("GCE_METADATA_HOST", "127.0.0.1:1");
    let out = sandbox.run(&["doctor", "--token-dir", sandbox.path("tokens").to_str().expect("utf-8")]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(line(&out, "fail", "token-files").contains("expired at 2020-01-01T00:00:00Z"));
    assert!(line(&out, "fail", "agent-api").contains("GCE_METADATA_HOST"));
    assert!(!out.stdout.contains("\"stale\""), "the token file's content is never printed");
}

#[test]
fn an_endpoint_whose_certificate_is_not_trusted_fails_tls_and_passes_once_its_ca_is_given() {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let front = TlsFront::start(emulator.addr());
    // A user's credential: its grant names no audience, so any token_uri in front of the emulator works.
    let mut user = emulator.add_authorized_user("person@example.com");
    user["token_uri"] = format!("{}/token", front.url()).into();
    let path = sandbox.path("user.json");
    write_private_json(&path, &user).expect("write credential");
    sandbox.env("GOOGLE_APPLICATION_CREDENTIALS", &path);
    let out = sandbox.run(&["doctor"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let tls = line(&out, "fail", "endpoint");
    assert!(tls.contains(&format!("token endpoint {}/token", front.url())), "{tls}");
    assert!(tls.contains("fails TLS"), "{tls}");
    assert!(tls.contains("fix: trust the endpoint's CA (SSL_CERT_FILE)"), "{tls}");
    let ca = sandbox.write("ca.pem", front.ca_pem());
    sandbox.env("SSL_CERT_FILE", ca);
    let out = sandbox.run(&["doctor"]);
    out.ok();
    assert!(line(&out, "ok", "endpoint").contains("answers over TLS"), "{}", out.stdout);
    assert!(line(&out, "ok", "token").contains("the signed-in user"), "{}", out.stdout);
}

#[test]
fn a_revoked_refresh_token_is_told_to_sign_in_again() {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let user = emulator.add_authorized_user("person@example.com");
    emulator.revoke_refresh_token(user["refresh_token"].as_str().expect("refresh token"));
    let path = sandbox.path("user.json");
    write_private_json(&path, &user).expect("write credential");
    sandbox.env("GOOGLE_APPLICATION_CREDENTIALS", &path);
    let out = sandbox.run(&["doctor"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let token = line(&out, "fail", "token");
    assert!(token.contains("invalid_grant"), "{token}");
    assert!(token.ends_with("sign in again with `gcp-token-agent login`"), "{token}");
    assert!(
        !out.stdout.contains(user["refresh_token"].as_str().expect("refresh token")),
        "never the refresh token"
    );
}

#[test]
fn a_provider_named_by_project_id_is_a_failure_that_says_how_to_find_the_number() {
    let emulator = Emulator::start();
    let issuer = emulator.add_oidc_issuer("https://kubernetes.default.svc.cluster.local");
    let by_id = PROVIDER.replace("123456789012", "my-project");
    let sandbox = Sandbox::new();
    let subject = sandbox.write("ksa/token", issuer.mint(SUB, &by_id, 3600));
    let url = emulator.url();
    let out = sandbox.run(&[
        "doctor",
        "--subject-token-file",
        &subject,
        "--workload-identity-provider",
        &by_id,
        "--sts-endpoint",
        url,
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let project = line(&out, "fail", "project-number");
    assert!(project.contains("names project \"my-project\", not its number"), "{project}");
    assert!(
        project.contains("gcloud projects describe my-project --format='value(projectNumber)'"),
        "{project}"
    );
    assert!(project.ends_with("--workload-identity-provider"), "{project}");
}
