//! `exec-credential` as kubectl really runs it: real kubectl binaries, a kubeconfig with an
//! exec entry, an HTTPS stand-in API server that records the bearer token it receives.

use crate::support;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;
use support::{agent::Sandbox, apiserver::ApiServer, emulator::Emulator};

const EMAIL: &str = "kube@emulator-project.iam.gserviceaccount.com";
const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// The installed kubectl and two of the versioned ones shipped beside it.
fn kubectls() -> Vec<PathBuf> {
    let dispatcher = PathBuf::from("kubectl");
    let resolved =
        Command::new("sh").args(["-c", "readlink -f \"$(command -v kubectl)\""]).output().expect("sh");
    let dir = PathBuf::from(String::from_utf8_lossy(&resolved.stdout).trim()).parent().map(Path::to_path_buf);
    let dir = dir.expect("kubectl is installed (preinstalled on the CI machine)");
    let versioned = ["kubectl.1.27", "kubectl.1.33"].map(|name| dir.join(name));
    for path in &versioned {
        assert!(path.exists(), "{} is missing", path.display());
    }
    [vec![dispatcher], versioned.to_vec()].concat()
}

/// Writes a kubeconfig whose user runs `gcp-token-agent exec-credential ARGS`.
fn kubeconfig(sandbox: &Sandbox, server: &ApiServer, api_version: &str, args: &[&str]) -> String {
    kubeconfig_with_env(sandbox, server, api_version, args, &[])
}

/// [`kubeconfig`], kubectl also setting ENV for the plugin (the exec entry's `env`).
fn kubeconfig_with_env(
    sandbox: &Sandbox,
    server: &ApiServer,
    api_version: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> String {
    let args_yaml: String = args.iter().map(|a| format!("\n        - {a}")).collect();
    let env_yaml: String = env
        .iter()
        .map(|(name, value)| format!("\n        - name: {name}\n          value: {value}"))
        .collect();
    let config = format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: standin
  cluster:
    server: {server}
    certificate-authority-data: {ca}
contexts:
- name: standin
  context:
    cluster: standin
    user: agent
current-context: standin
users:
- name: agent
  user:
    exec:
      apiVersion: {api_version}
      command: {bin}
      args:
        - exec-credential{args_yaml}
      env:{env_yaml}
      interactiveMode: Never
      provideClusterInfo: true
"#,
        server = server.url(),
        ca = server.ca_data(),
        bin = support::agent::BIN,
    );
    sandbox.write(&format!("kubeconfig-{}", api_version.rsplit('/').next().unwrap_or("x")), config)
}

/// Runs `kubectl get --raw /version` with the sandbox's environment.
fn kubectl_version(sandbox: &Sandbox, kubectl: &Path, config: &str) {
    let output = Command::new(kubectl)
        .args(["--kubeconfig", config, "get", "--raw", "/version"])
        .env_clear()
        .env("HOME", sandbox.root())
        .env("XDG_CACHE_HOME", sandbox.path("cache"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        kubectl.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let version: Value = serde_json::from_slice(&output.stdout).expect("version JSON");
    assert_eq!(version["gitVersion"], "v1.33.0");
}

#[test]
#[ignore = "needs kubectl: scripts/setup/install-test-deps.sh"]
fn real_kubectl_sends_exactly_the_token_the_emulator_issued_with_v1_and_v1beta1() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write key");
    for api_version in [V1, V1BETA1] {
        let config =
            kubeconfig(&sandbox, &server, api_version, &["--credentials", key.to_str().expect("utf8")]);
        for kubectl in kubectls() {
            kubectl_version(&sandbox, &kubectl, &config);
        }
    }
    let tokens = server.bearer_tokens();
    // Six kubectl runs; gcloud's kubectl dispatcher may also ask /version to pick a client.
    assert!(tokens.len() >= 6, "{} requests", tokens.len());
    let issued = emulator.issued(&tokens[0]).expect("the API server saw an emulator token");
    assert_eq!(issued.principal_email, EMAIL);
    assert!(issued.scopes.iter().any(|s| s.ends_with("userinfo.email")), "GKE needs userinfo.email");
    assert!(tokens.iter().all(|t| t == &tokens[0]), "every later kubectl run is answered from the cache");
    assert_eq!(emulator.calls("token"), 1, "one mint for six kubectl runs");
}

#[test]
#[ignore = "needs kubectl: scripts/setup/install-test-deps.sh"]
fn two_credential_files_give_two_different_tokens() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let (a, b) = (sandbox.path("a.json"), sandbox.path("b.json"));
    emulator.add_service_account(EMAIL).write_to(&a).expect("write");
    emulator
        .add_service_account("other@emulator-project.iam.gserviceaccount.com")
        .write_to(&b)
        .expect("write");
    for key in [&a, &b] {
        let config = kubeconfig(&sandbox, &server, V1, &["--credentials", key.to_str().expect("utf8")]);
        kubectl_version(&sandbox, Path::new("kubectl"), &config);
    }
    let tokens = server.bearer_tokens();
    let (first, last) = (tokens.first().expect("a request"), tokens.last().expect("a request"));
    assert_ne!(first, last);
    assert_eq!(emulator.issued(first).expect("issued").principal_email, EMAIL);
    assert_eq!(
        emulator.issued(last).expect("issued").principal_email,
        "other@emulator-project.iam.gserviceaccount.com"
    );
}

#[test]
#[ignore = "needs kubectl: scripts/setup/install-test-deps.sh"]
fn the_bare_subcommand_kubectl_runs_reads_adc_and_every_agent_variable() {
    // `args: [exec-credential]` alone is parsed without clap unless a GCP_TOKEN_AGENT_*
    // variable is set: then clap parses, and the variable wins over ADC.
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let other = "other@emulator-project.iam.gserviceaccount.com";
    let (adc, flagged) = (sandbox.path("adc.json"), sandbox.path("flagged.json"));
    emulator.add_service_account(EMAIL).write_to(&adc).expect("write");
    emulator.add_service_account(other).write_to(&flagged).expect("write");
    let (adc, flagged) = (adc.to_str().expect("utf8"), flagged.to_str().expect("utf8"));
    let cases = [
        (vec![("GOOGLE_APPLICATION_CREDENTIALS", adc)], EMAIL),
        (vec![("GOOGLE_APPLICATION_CREDENTIALS", adc), ("GCP_TOKEN_AGENT_CREDENTIALS", flagged)], other),
    ];
    for (env, email) in cases {
        let config = kubeconfig_with_env(&sandbox, &server, V1, &[], &env);
        kubectl_version(&sandbox, Path::new("kubectl"), &config);
        let tokens = server.bearer_tokens();
        let last = tokens.last().expect("a request");
        assert_eq!(emulator.issued(last).expect("issued").principal_email, email, "{env:?}");
    }
}

fn exec_info(version: &str, server: &str) -> String {
    format!(
        r#"{{"apiVersion":"{version}","kind":"ExecCredential","spec":{{"interactive":false,"cluster":{{"server":"{server}"}}}}}}"#
    )
}

#[test]
fn the_cluster_server_is_part_of_the_cache_key() {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write");
    let key = key.to_str().expect("utf8").to_owned();
    sandbox.env("KUBERNETES_EXEC_INFO", exec_info(V1, "https://one.example"));
    let one = sandbox.run(&["exec-credential", "--credentials", &key]);
    let mut other = Sandbox::new();
    other.env("KUBERNETES_EXEC_INFO", exec_info(V1, "https://two.example"));
    other.env("XDG_CACHE_HOME", sandbox.path("cache"));
    let two = other.run(&["exec-credential", "--credentials", &key]);
    let token = |out: &str| serde_json::from_str::<Value>(out).expect("json")["status"]["token"].clone();
    assert_ne!(token(one.ok()), token(two.ok()));
    assert_eq!(emulator.calls("token"), 2);
}

#[test]
fn the_output_reports_expiry_early_in_the_requested_version() {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write");
    sandbox.env("KUBERNETES_EXEC_INFO", exec_info(V1BETA1, "https://c.example"));
    let out = sandbox.run(&["exec-credential", "--credentials", key.to_str().expect("utf8")]);
    let json: Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(json["apiVersion"], V1BETA1);
    assert_eq!(json["kind"], "ExecCredential");
    let issued = emulator.issued(json["status"]["token"].as_str().expect("token")).expect("issued");
    let reported: jiff::Timestamp =
        json["status"]["expirationTimestamp"].as_str().expect("ts").parse().expect("rfc3339");
    let real = jiff::Timestamp::try_from(issued.expires_at).expect("ts");
    let margin = real.as_second() - reported.as_second();
    assert!((299..=301).contains(&margin), "reported {margin}s early");
}

#[test]
fn twenty_simultaneous_invocations_on_a_cold_cache_all_succeed_and_leave_one_entry() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write");
    let children: Vec<_> = (0..20)
        .map(|_| {
            sandbox
                .command()
                .args(["exec-credential", "--credentials", key.to_str().expect("utf8")])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(output.status.success());
        let json: Value = serde_json::from_slice(&output.stdout).expect("valid ExecCredential");
        assert!(emulator.issued(json["status"]["token"].as_str().expect("token")).is_some());
    }
    let entries: Vec<_> =
        std::fs::read_dir(sandbox.cache_dir()).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(entries.len(), 1, "one cache file, no temp files left: {entries:?}");
    let text = std::fs::read_to_string(sandbox.cache_dir().join(&entries[0])).expect("read");
    serde_json::from_str::<Value>(&text).expect("the cache file is valid JSON");
}

#[test]
fn bad_exec_info_fails_clearly_with_empty_stdout() {
    let emulator = Emulator::start();
    let key = Sandbox::new();
    let path = key.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&path).expect("write");
    for (info, expected) in [
        ("{not json", "KUBERNETES_EXEC_INFO"),
        (r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1","kind":"ExecCredential"}"#, "v1alpha1"),
    ] {
        let mut sandbox = Sandbox::new();
        sandbox.env("KUBERNETES_EXEC_INFO", info);
        let out = sandbox.run(&["exec-credential", "--credentials", path.to_str().expect("utf8")]);
        assert!(out.fails_with(64).contains(expected), "{}", out.stderr);
    }
    assert_eq!(emulator.calls("token"), 0);
}

#[test]
fn an_unwritable_cache_directory_still_works_and_says_so_once() {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write");
    let blocker = sandbox.write("not-a-dir", "a file where the cache directory should be");
    sandbox.env("XDG_CACHE_HOME", &blocker);
    let out = sandbox.run(&["exec-credential", "--credentials", key.to_str().expect("utf8")]);
    out.ok();
    assert_eq!(out.stderr.matches("cannot write the token cache").count(), 1, "{}", out.stderr);
}

#[test]
fn from_file_answers_from_a_running_agents_token_json() {
    let sandbox = Sandbox::new();
    let expiry = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3000);
    let file = sandbox.write(
        "token.json",
        format!(
            r#"{{"access_token":"ya29.from-agent","token_type":"Bearer","expiry":"{}"}}"#,
            expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
    );
    let out = sandbox.run(&["exec-credential", "--from-file", &file]);
    let json: Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(json["status"]["token"], "ya29.from-agent");
    let stale = sandbox.write(
        "stale.json",
        r#"{"access_token":"ya29.old","token_type":"Bearer","expiry":"2020-01-01T00:00:00Z"}"#,
    );
    assert!(sandbox.run(&["exec-credential", "--from-file", &stale]).fails_with(69).contains("expired"));
}
