//! Workload identity federation and impersonation through every face of the binary:
//! external_account files (file, url and executable sources), the Kubernetes flag form,
//! impersonated_service_account files, --impersonate-service-account, and bad input.

use crate::support;

use std::{os::unix::fs::PermissionsExt, path::Path, time::Duration};

use serde_json::{Value, json};
use support::{
    agent::Sandbox,
    emulator::{Emulator, Fault, OidcIssuer, sts_principal},
    running::RunningAgent,
};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/k8s";
const SUB: &str = "system:serviceaccount:team-a:api";
const TARGET: &str = "target@emulator-project.iam.gserviceaccount.com";
const PUBSUB: &str = "https://www.googleapis.com/auth/pubsub";

struct Setup {
    emulator: Emulator,
    issuer: OidcIssuer,
    sandbox: Sandbox,
    subject: String,
}

fn setup() -> Setup {
    let emulator = Emulator::start();
    let issuer = emulator.add_oidc_issuer(ISSUER);
    emulator.add_workload_provider(PROVIDER, &issuer);
    emulator.add_service_account(TARGET);
    emulator.grant_token_creator(TARGET, &sts_principal(PROVIDER, SUB));
    let sandbox = Sandbox::new();
    let subject = sandbox.write("ksa/token", issuer.mint(SUB, PROVIDER, 3600));
    Setup { emulator, issuer, sandbox, subject }
}

impl Setup {
    /// What `gcloud iam workload-identity-pools create-cred-config` writes for Kubernetes.
    fn cred_config(&self, impersonate: bool) -> Value {
        self.emulator.external_account_config(PROVIDER, &self.subject, impersonate.then_some(TARGET))
    }

    fn write(&self, name: &str, value: &Value) -> String {
        self.sandbox.write(name, value.to_string())
    }

    /// The flag forms reach the emulator the way a Private Service Connect user reaches theirs.
    fn endpoints(&self) -> [String; 4] {
        let url = self.emulator.url().to_owned();
        ["--sts-endpoint".to_owned(), url.clone(), "--iam-endpoint".to_owned(), url]
    }

    /// Runs the agent with the endpoint flags appended.
    fn run(&self, args: &[&str]) -> support::agent::Output {
        let endpoints = self.endpoints();
        let all: Vec<&str> = args.iter().copied().chain(endpoints.iter().map(String::as_str)).collect();
        self.sandbox.run(&all)
    }

    fn principal(&self, out: &support::agent::Output) -> String {
        self.emulator.issued(out.ok().trim()).expect("an emulator token").principal_email
    }
}

#[test]
fn an_external_account_file_exchanges_the_kubernetes_token_at_sts() {
    let s = setup();
    let file = s.write("cred.json", &s.cred_config(false));
    let out = s.sandbox.run(&["print-access-token", "--credentials", &file, "--scopes", PUBSUB]);
    assert_eq!(s.principal(&out), sts_principal(PROVIDER, SUB));
    let form = &s.emulator.requests_to("sts")[0].form;
    assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:token-exchange");
    assert_eq!(form["requested_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!(form["scope"], PUBSUB);
    assert!(!form.contains_key("options"));
}

#[test]
fn an_oauth_client_in_the_config_authenticates_to_sts_with_http_basic() {
    let s = setup();
    s.emulator.add_sts_client("sts-client", "sts-secret");
    let mut config = s.cred_config(false);
    config["client_id"] = json!("sts-client");
    config["client_secret"] = json!("wrong-secret");
    let refused = s.sandbox.run(&["print-access-token", "--credentials", &s.write("bad.json", &config)]);
    assert!(refused.fails_with(69).contains("invalid_client"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("wrong-secret"), "no client secret in errors");
    config["client_secret"] = json!("sts-secret");
    let out = s.sandbox.run(&["print-access-token", "--credentials", &s.write("good.json", &config)]);
    assert_eq!(s.principal(&out), sts_principal(PROVIDER, SUB));
    assert!(!s.emulator.requests_to("sts")[1].form.contains_key("client_id"), "Basic auth, not form fields");
}

#[test]
fn a_different_workload_behind_the_same_token_path_never_gets_the_cached_token() {
    let s = setup();
    let file = s.write("cred.json", &s.cred_config(false));
    let first = s.sandbox.run(&["print-access-token", "--credentials", &file]);
    assert_eq!(s.principal(&first), sts_principal(PROVIDER, SUB));
    let other = "system:serviceaccount:team-b:worker";
    s.sandbox.write("ksa/token", s.issuer.mint(other, PROVIDER, 3600));
    let second = s.sandbox.run(&["print-access-token", "--credentials", &file]);
    assert_eq!(s.principal(&second), sts_principal(PROVIDER, other), "not team-a's cached token");
    let rotated = s.sandbox.write("ksa/token", s.issuer.mint(other, PROVIDER, 3000));
    let third = s.sandbox.run(&["print-access-token", "--credentials", &file]);
    assert_eq!(second.ok(), third.ok(), "a rotated token of the same workload keeps the cache: {rotated}");
}

#[test]
fn the_full_chain_ends_with_the_service_accounts_token() {
    let s = setup();
    s.emulator.set_iam_fractional_expire_time(true);
    let file = s.write("cred.json", &s.cred_config(true));
    let out = s.sandbox.run(&[
        "print-access-token",
        "--credentials",
        &file,
        "--scopes",
        PUBSUB,
        "--format",
        "json",
    ]);
    let json: Value = serde_json::from_str(out.ok()).expect("json");
    let issued = s.emulator.issued(json["access_token"].as_str().expect("token")).expect("issued");
    assert_eq!(issued.principal_email, TARGET);
    assert_eq!(issued.scopes, [PUBSUB]);
    assert_eq!(
        s.emulator.requests_to("sts")[0].form["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    let body = s.emulator.requests_to("iam_access")[0].json.clone().expect("body");
    assert_eq!(body["lifetime"], "1800s");
    assert_eq!(body["scope"], json!([PUBSUB]));
}

#[test]
fn the_flag_form_builds_the_same_chain_and_mints_id_tokens() {
    let s = setup();
    let flags = [
        "--subject-token-file",
        &s.subject,
        "--workload-identity-provider",
        PROVIDER,
        "--service-account",
        TARGET,
    ];
    let out = s.run(&[&["print-access-token"][..], &flags].concat());
    assert_eq!(s.principal(&out), TARGET);
    let alias = s.run(&[
        "print-access-token",
        "--subject-token-file",
        &s.subject,
        "--audience",
        PROVIDER,
        "--no-cache",
    ]);
    assert_eq!(
        s.principal(&alias),
        sts_principal(PROVIDER, SUB),
        "--audience is the provider here; no SA: the federated token"
    );
    let id = s.run(
        &[&["print-identity-token", "--audience", "https://api.example", "--include-email"][..], &flags]
            .concat(),
    );
    let claims = s.emulator.verify_id_token(id.ok().trim()).expect("signed");
    assert_eq!(
        (claims["aud"].as_str(), claims["email"].as_str()),
        (Some("https://api.example"), Some(TARGET))
    );
    assert_eq!(s.emulator.requests_to("iam_id")[0].json.clone().expect("body")["includeEmail"], true);
}

#[test]
fn a_bare_federated_identity_cannot_mint_id_tokens_and_says_why() {
    let s = setup();
    let file = s.write("cred.json", &s.cred_config(false));
    let out = s.sandbox.run(&["print-identity-token", "--credentials", &file, "--audience", "https://x"]);
    assert!(out.fails_with(64).contains("service_account_impersonation_url"), "{}", out.stderr);
    assert_eq!(s.emulator.calls("sts"), 0);
}

#[test]
fn url_and_executable_sources_work_and_executables_need_the_opt_in() {
    let mut s = setup();
    // A URL source: the emulator's metadata server stands in for any token URL with headers.
    let token_json = s
        .sandbox
        .write("subject.json", json!({ "access_token": s.issuer.mint(SUB, PROVIDER, 600) }).to_string());
    let script = s.sandbox.write(
        "subject.sh",
        format!("#!/bin/sh\nprintf '{{\"version\":1,\"success\":true,\"token_type\":\"urn:ietf:params:oauth:token-type:jwt\",\"id_token\":\"%s\",\"expiration_time\":%s}}' \"$(cat {})\" 4102444800\n", s.subject, ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut json_file = s.cred_config(false);
    json_file["credential_source"] = json!({ "file": token_json, "format": { "type": "json", "subject_token_field_name": "access_token" } });
    let out = s.sandbox.run(&["print-access-token", "--credentials", &s.write("json.json", &json_file)]);
    assert_eq!(s.principal(&out), sts_principal(PROVIDER, SUB));
    let mut exe = s.cred_config(false);
    exe["credential_source"] = json!({ "executable": { "command": script, "timeout_millis": 5000 } });
    let exe_file = s.write("exe.json", &exe);
    let refused = s.sandbox.run(&["print-access-token", "--credentials", &exe_file]);
    assert!(
        refused.fails_with(64).contains("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"),
        "{}",
        refused.stderr
    );
    s.sandbox.env("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1");
    let out = s.sandbox.run(&["print-access-token", "--credentials", &exe_file]);
    assert_eq!(s.principal(&out), sts_principal(PROVIDER, SUB));
}

#[test]
fn impersonation_files_and_flags_normalise_delegates_and_pass_the_lifetime() {
    let s = setup();
    let source = s.emulator.add_service_account("caller@emulator-project.iam.gserviceaccount.com");
    let middle = "middle@emulator-project.iam.gserviceaccount.com";
    s.emulator.add_service_account(middle);
    s.emulator.grant_token_creator(middle, source.email());
    s.emulator.grant_token_creator(TARGET, middle);
    let file = json!({
        "type": "impersonated_service_account",
        "service_account_impersonation_url": s.emulator.iam_url(TARGET, "generateAccessToken"),
        "source_credentials": source.json(),
        "delegates": [middle],
    });
    let out = s.sandbox.run(&["print-access-token", "--credentials", &s.write("imp.json", &file)]);
    assert_eq!(s.principal(&out), TARGET);
    let body = s.emulator.requests_to("iam_access")[0].json.clone().expect("body");
    assert_eq!(body["delegates"], json!([format!("projects/-/serviceAccounts/{middle}")]));
    // The same on top of the bare key, with an extended lifetime.
    s.emulator.grant_token_creator(TARGET, source.email());
    s.emulator.allow_extended_lifetime(TARGET);
    let key = s.write("key.json", source.json());
    let out = s.run(&[
        "print-access-token",
        "--credentials",
        &key,
        "--impersonate-service-account",
        TARGET,
        "--lifetime",
        "2h",
    ]);
    assert_eq!(s.principal(&out), TARGET);
    assert_eq!(s.emulator.requests_to("iam_access")[1].json.clone().expect("body")["lifetime"], "7200s");
}

/// The CLI decodes private keys only when it has to mint (a cache hit needs none), `run`
/// when it loads: either way the source key nested in an impersonation file is decoded before
/// anything is sent, and one that is not an RSA key is exit 64 naming the file and the field.
#[test]
fn an_impersonation_files_undecodable_source_key_is_refused_before_any_call() {
    let s = setup();
    let source = s.emulator.add_service_account("caller@emulator-project.iam.gserviceaccount.com");
    let mut key = source.json().clone();
    key["private_key"] = json!("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
    let file = json!({
        "type": "impersonated_service_account",
        "service_account_impersonation_url": s.emulator.iam_url(TARGET, "generateAccessToken"),
        "source_credentials": key,
    });
    let path = s.write("imp.json", &file);
    let out_dir = s.sandbox.path("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let out_dir = out_dir.to_str().expect("utf8");
    for args in [
        &["print-access-token", "--credentials", &path][..],
        &["run", "--oneshot", "--credentials", &path, "--output-dir", out_dir],
    ] {
        let out = s.sandbox.run(args);
        let text = out.fails_with(64);
        let field = "in \"source_credentials\": field \"private_key\" is not an RSA private key";
        assert!(text.contains("imp.json") && text.contains(field), "{text}");
    }
    assert_eq!(s.emulator.calls("token") + s.emulator.calls("iam_access"), 0);
}

#[test]
fn an_sts_answer_without_expires_in_takes_the_subjects_expiry() {
    let s = setup();
    s.emulator.set_sts_omit_expires_in(true);
    let out = s.sandbox.run(&[
        "print-access-token",
        "--credentials",
        &s.write("c.json", &s.cred_config(false)),
        "--format",
        "json",
    ]);
    let json: Value = serde_json::from_str(out.ok()).expect("json");
    let expiry: jiff::Timestamp = json["expiry"].as_str().expect("expiry").parse().expect("rfc3339");
    let left = expiry.as_second() - jiff::Timestamp::now().as_second();
    assert!((3500..=3600).contains(&left), "{left}");
}

#[test]
fn bad_federation_input_names_the_field_and_keeps_secrets_out() {
    let s = setup();
    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut c = s.cred_config(false);
    c["audience"] = json!("https://example.com/not-a-provider");
    cases.push(("audience.json", c, "audience"));
    let mut c = s.cred_config(false);
    c.as_object_mut().expect("obj").remove("credential_source");
    cases.push(("nosource.json", c, "credential_source"));
    let mut c = s.cred_config(true);
    c["service_account_impersonation_url"] = json!("https://storage.googleapis.com/v1/b/x");
    cases.push(("url.json", c, "service_account_impersonation_url"));
    let mut c = s.cred_config(false);
    c["workforce_pool_user_project"] = json!("p");
    cases.push(("workforce.json", c, "workforce_pool_user_project"));
    let mut c = s.cred_config(true);
    c["service_account_impersonation"] = json!({ "token_lifetime_seconds": 50000 });
    cases.push(("lifetime.json", c, "token_lifetime_seconds"));
    for (name, config, field) in cases {
        let out = s.sandbox.run(&["print-access-token", "--credentials", &s.write(name, &config)]);
        let text = out.fails_with(64);
        assert!(text.contains(field), "{name}: {text}");
    }
    let flags = |subject: &str| {
        vec![
            "print-access-token".to_owned(),
            "--subject-token-file".into(),
            subject.to_owned(),
            "--audience".into(),
            PROVIDER.into(),
            "--no-cache".into(),
        ]
    };
    let empty = s.sandbox.write("empty-token", "\n");
    assert!(
        s.run(&flags(&empty).iter().map(String::as_str).collect::<Vec<_>>()).fails_with(64).contains("empty")
    );
    let garbage = s.sandbox.write("garbage-token", "not-a-jwt");
    assert!(
        s.run(&flags(&garbage).iter().map(String::as_str).collect::<Vec<_>>())
            .fails_with(64)
            .contains("not a JWT")
    );
    let bad_audience = s.sandbox.run(&[
        "print-access-token",
        "--subject-token-file",
        &s.subject,
        "--audience",
        "sts.googleapis.com",
    ]);
    assert!(bad_audience.fails_with(64).contains("--audience"));
    let too_long = s.sandbox.run(&[
        "print-access-token",
        "--subject-token-file",
        &s.subject,
        "--audience",
        PROVIDER,
        "--impersonate-service-account",
        TARGET,
        "--lifetime",
        "13h",
    ]);
    assert!(too_long.fails_with(64).contains("43200"));
    // Google refusals: a token signed by a key STS does not trust, and a missing IAM grant.
    let forged = s.sandbox.write("forged-token", s.issuer.mint_with_foreign_key(SUB, PROVIDER, 600));
    let out = s.run(&flags(&forged).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.fails_with(69).contains("invalid_grant"), "{}", out.stderr);
    let forged_token = std::fs::read_to_string(&forged).expect("read");
    assert!(!out.stderr.contains(forged_token.trim()) && !out.stderr.contains("eyJ"), "no token in errors");
    let stranger = "stranger@emulator-project.iam.gserviceaccount.com";
    s.emulator.add_service_account(stranger);
    let out = s.run(&[
        "print-access-token",
        "--subject-token-file",
        &s.subject,
        "--audience",
        PROVIDER,
        "--service-account",
        stranger,
    ]);
    assert!(out.fails_with(69).contains("PERMISSION_DENIED"), "{}", out.stderr);
    s.emulator.push_fault_to("sts", Fault::Status(503));
    let retried = s.sandbox.run(&[
        "print-access-token",
        "--credentials",
        &s.write("ok.json", &s.cred_config(false)),
        "--no-cache",
    ]);
    retried.ok();
}

/// Kubelet's projected-volume update: `token -> ..data/token`, `..data` swapped atomically.
fn project(dir: &Path, generation: u32, token: &str) {
    let stamp = dir.join(format!("..2026_11_25_{generation:04}"));
    std::fs::create_dir_all(&stamp).expect("mkdir");
    std::fs::write(stamp.join("token"), token).expect("write");
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(stamp.file_name().expect("name"), &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap");
    if !dir.join("token").exists() {
        std::os::unix::fs::symlink("..data/token", dir.join("token")).expect("symlink");
    }
}

#[test]
fn run_re_exchanges_as_soon_as_kubelet_swaps_the_projected_token() {
    let s = setup();
    let volume = s.sandbox.path("projected");
    std::fs::create_dir_all(&volume).expect("mkdir");
    project(&volume, 1, &s.issuer.mint(SUB, PROVIDER, 3600));
    let subject = volume.join("token").to_string_lossy().into_owned();
    let out = s.sandbox.path("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    let endpoints = s.endpoints();
    let args = [
        "--subject-token-file",
        &subject,
        "--audience",
        PROVIDER,
        "--service-account",
        TARGET,
        "--output-dir",
        out.to_str().expect("utf8"),
    ];
    let all: Vec<&str> = args.iter().copied().chain(endpoints.iter().map(String::as_str)).collect();
    let agent = RunningAgent::start(&s.sandbox, &all);
    agent.wait_ready();
    assert_eq!(s.emulator.calls("sts"), 1);
    // A different lifetime: minted within the same second, an identical JWT would be no change.
    project(&volume, 2, &s.issuer.mint(SUB, PROVIDER, 3000));
    agent.wait_until(Duration::from_secs(5), "a new STS exchange", || s.emulator.calls("sts") == 2);
}

#[test]
fn an_executable_that_times_out_is_killed_with_everything_it_started_and_its_argv_stays_private() {
    let mut s = setup();
    let pid_file = s.sandbox.path("grandchild.pid");
    // The executable starts a long-lived child of its own, then hangs past the timeout.
    let script = s.sandbox.write(
        "hang.sh",
        format!(
            "#!/bin/sh\nsleep 300 >/dev/null 2>&1 &\necho $! > {}\nexec sleep 300 >/dev/null 2>&1\n",
            pid_file.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut exe = s.cred_config(false);
    let command = format!("{script} --password=hunter2-secret-argument");
    exe["credential_source"] = json!({ "executable": { "command": command, "timeout_millis": 5000 } });
    let exe_file = s.write("hang.json", &exe);
    s.sandbox.env("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1");
    let out = s.sandbox.run(&["print-access-token", "--no-cache", "--credentials", &exe_file]);
    assert!(out.fails_with(69).contains("timeout_millis"), "{}", out.stderr);
    assert!(!out.stderr.contains("hunter2"), "the command line's arguments are not echoed: {}", out.stderr);
    let pid = std::fs::read_to_string(&pid_file).expect("the executable ran").trim().to_owned();
    let alive = || std::path::Path::new(&format!("/proc/{pid}")).exists() && !zombie(&pid);
    for _ in 0..100 {
        if !alive() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the executable's child {pid} outlived the timeout");
}

/// A killed process whose parent has not reaped it yet.
fn zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat.contains(") Z "))
}
