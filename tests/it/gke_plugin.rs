//! The `gke-gcloud-auth-plugin` drop-in: real kubectl, a kubeconfig exactly as
//! `gcloud container clusters get-credentials` writes it, the binary reached through a symlink
//! of that name on `PATH`, and no gcloud anywhere.

use crate::support;

use std::{path::Path, process::Command};

use serde_json::Value;
use support::{agent::Sandbox, apiserver::ApiServer, emulator::Emulator};

const EMAIL: &str = "gke@emulator-project.iam.gserviceaccount.com";

/// gcloud's kubeconfig for a cluster, with the plugin's args as the test gives them.
fn gcloud_kubeconfig(sandbox: &Sandbox, server: &ApiServer, args: &[&str]) -> String {
    let args_yaml: String = args.iter().map(|a| format!("\n      - {a}")).collect();
    let name = "gke_emulator-project_us-central1_standin";
    let config = format!(
        r#"apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: {name}
contexts:
- context:
    cluster: {name}
    user: {name}
  name: {name}
current-context: {name}
kind: Config
preferences: {{}}
users:
- name: {name}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:{args_yaml}
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin for use with kubectl by following
        https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin
      provideClusterInfo: true
"#,
        server = server.url(),
        ca = server.ca_data(),
    );
    sandbox.write("kubeconfig", config)
}

/// `kubectl get --raw /version` with only the link's directory and kubectl's on `PATH`.
fn kubectl(sandbox: &Sandbox, config: &str, key: &Path) -> std::process::Output {
    let bin = sandbox.path("bin");
    if !bin.exists() {
        std::fs::create_dir(&bin).expect("bin dir");
        std::os::unix::fs::symlink(support::agent::BIN, bin.join("gke-gcloud-auth-plugin")).expect("symlink");
    }
    let system = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&system))).expect("PATH");
    Command::new("kubectl")
        .args(["--kubeconfig", config, "get", "--raw", "/version"])
        .env_clear()
        .env("HOME", sandbox.root())
        .env("XDG_CACHE_HOME", sandbox.path("cache"))
        .env("CLOUDSDK_CONFIG", sandbox.path("no-gcloud"))
        .env("GOOGLE_APPLICATION_CREDENTIALS", key)
        .env("PATH", path)
        .output()
        .expect("kubectl runs")
}

#[test]
#[ignore = "needs kubectl: scripts/setup/install-test-deps.sh"]
fn kubectl_works_unchanged_with_a_gcloud_kubeconfig_through_the_plugins_name() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write key");
    let config = gcloud_kubeconfig(&sandbox, &server, &["--use_application_default_credentials"]);
    let output = kubectl(&sandbox, &config, &key);
    assert!(output.status.success(), "kubectl failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let version: Value = serde_json::from_slice(&output.stdout).expect("version JSON");
    assert_eq!(version["gitVersion"], "v1.33.0");
    let tokens = server.bearer_tokens();
    let issued = emulator.issued(tokens.last().expect("a request")).expect("an emulator token");
    assert_eq!(issued.principal_email, EMAIL);
}

#[test]
#[ignore = "needs kubectl: scripts/setup/install-test-deps.sh"]
fn without_the_adc_flag_kubectl_shows_why_and_which_flag_to_add() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write key");
    let config = gcloud_kubeconfig(&sandbox, &server, &[]);
    let output = kubectl(&sandbox, &config, &key);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--use_application_default_credentials"), "{stderr}");
    assert!(server.bearer_tokens().is_empty() && emulator.calls("token") == 0);
}

#[test]
fn the_plugins_name_answers_version_and_help_like_the_binary() {
    let sandbox = Sandbox::new();
    let link = sandbox.path("gke-gcloud-auth-plugin");
    std::os::unix::fs::symlink(support::agent::BIN, &link).expect("symlink");
    let version = sandbox.command_for(&link).arg("--version").output().expect("runs");
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = sandbox.command_for(&link).arg("--help").output().expect("runs");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--from-file"), "exec-credential's help");
}
