//! The `gke-gcloud-auth-plugin` drop-in: real kubectl, a kubeconfig exactly as
//! `gcloud container clusters get-credentials` writes it, the binary reached through a symlink
//! of that name on `PATH`, and no gcloud there: with `--use_application_default_credentials`,
//! and without it for accounts the real gcloud activated in a configuration directory.

use crate::support;

use std::{
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;
use support::{agent::Sandbox, apiserver::ApiServer, clients::Gcloud, emulator::Emulator};

const EMAIL: &str = "gke@emulator-project.iam.gserviceaccount.com";
const TARGET: &str = "cluster-admin@emulator-project.iam.gserviceaccount.com";
const USER: &str = "dev@example.com";

/// A key of the emulator's for `email`, in the sandbox.
fn key_for(emulator: &Emulator, sandbox: &Sandbox, email: &str) -> PathBuf {
    let key = sandbox.path("key.json");
    emulator.add_service_account(email).write_to(&key).expect("write key");
    key
}

/// A gcloud configuration directory in which the real gcloud activated `key`.
fn activated(key: &Path) -> Gcloud {
    let gcloud = Gcloud::new();
    gcloud.ok(&["auth", "activate-service-account", "--key-file", key.to_str().expect("utf8")], &[]);
    gcloud
}

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

/// `kubectl get --raw /version` with `envs`, and a `PATH` of one directory holding only our
/// `gke-gcloud-auth-plugin` link and kubectl: no gcloud, no real plugin.
fn kubectl(sandbox: &Sandbox, config: &str, envs: &[(&str, &OsStr)]) -> std::process::Output {
    let bin = sandbox.path("bin");
    if !bin.exists() {
        std::fs::create_dir(&bin).expect("bin dir");
        std::os::unix::fs::symlink(support::agent::BIN, bin.join("gke-gcloud-auth-plugin")).expect("symlink");
        let system = std::env::var_os("PATH").unwrap_or_default();
        let kubectl = std::env::split_paths(&system).map(|dir| dir.join("kubectl")).find(|p| p.is_file());
        std::os::unix::fs::symlink(kubectl.expect("kubectl on PATH"), bin.join("kubectl")).expect("symlink");
    }
    Command::new(bin.join("kubectl"))
        .args(["--kubeconfig", config, "get", "--raw", "/version"])
        .env_clear()
        .env("HOME", sandbox.root())
        .env("XDG_CACHE_HOME", sandbox.path("cache"))
        .env("CLOUDSDK_CONFIG", sandbox.path("no-gcloud"))
        .envs(envs.iter().copied())
        .env("PATH", &bin)
        .output()
        .expect("kubectl runs")
}

/// Asserts kubectl got through to the API server with an emulator token for `email`.
fn assert_through_as(output: &std::process::Output, server: &ApiServer, emulator: &Emulator, email: &str) {
    assert!(output.status.success(), "kubectl failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let version: Value = serde_json::from_slice(&output.stdout).expect("version JSON");
    assert_eq!(version["gitVersion"], "v1.33.0");
    let tokens = server.bearer_tokens();
    let issued = emulator.issued(tokens.last().expect("a request")).expect("an emulator token");
    assert_eq!(issued.principal_email, email);
}

#[test]
#[ignore = "needs kubectl: scripts/setup/install-test-deps.sh"]
fn kubectl_works_unchanged_with_a_gcloud_kubeconfig_through_the_plugins_name() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let key = key_for(&emulator, &sandbox, EMAIL);
    let config = gcloud_kubeconfig(&sandbox, &server, &["--use_application_default_credentials"]);
    let output = kubectl(&sandbox, &config, &[("GOOGLE_APPLICATION_CREDENTIALS", key.as_os_str())]);
    assert_through_as(&output, &server, &emulator, EMAIL);
}

#[test]
#[ignore = "needs gcloud and kubectl: scripts/setup/install-test-deps.sh"]
fn kubectl_uses_the_service_account_the_real_gcloud_activated_without_gcloud_on_path() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let key = key_for(&emulator, &sandbox, EMAIL);
    let gcloud = activated(&key);
    std::fs::remove_file(&key).expect("only gcloud's copy is left");
    let config = gcloud_kubeconfig(&sandbox, &server, &[]);
    let output = kubectl(&sandbox, &config, &[("CLOUDSDK_CONFIG", gcloud.config_dir().as_os_str())]);
    assert_through_as(&output, &server, &emulator, EMAIL);
}

#[test]
#[ignore = "needs gcloud and kubectl: scripts/setup/install-test-deps.sh"]
fn kubectl_uses_the_person_the_real_gcloud_activated_without_gcloud_on_path() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    // `gcloud auth login --cred-file` refuses authorized_user files and the browser flow needs
    // Google, so the person's refresh token is activated with gcloud's own (hidden) command,
    // gcloud's OAuth client set to the emulator's by its variables. gcloud leaves the token
    // endpoint out of a person's adc.json: the configuration's auth/token_host names it.
    let user = emulator.add_authorized_user(USER);
    let text = |field: &str| user[field].as_str().expect(field).to_owned();
    let gcloud = Gcloud::new();
    gcloud.ok(&["config", "set", "auth/token_host", &text("token_uri")], &[]);
    let client = [
        ("CLOUDSDK_AUTH_CLIENT_ID", text("client_id")),
        ("CLOUDSDK_AUTH_CLIENT_SECRET", text("client_secret")),
    ];
    let envs: Vec<(&str, &str)> = client.iter().map(|(k, v)| (*k, v.as_str())).collect();
    gcloud.ok(&["auth", "activate-refresh-token", USER, &text("refresh_token")], &envs);
    let config = gcloud_kubeconfig(&sandbox, &server, &[]);
    let output = kubectl(&sandbox, &config, &[("CLOUDSDK_CONFIG", gcloud.config_dir().as_os_str())]);
    assert_through_as(&output, &server, &emulator, USER);
}

#[test]
#[ignore = "needs gcloud and kubectl: scripts/setup/install-test-deps.sh"]
fn gclouds_impersonation_flag_in_the_kubeconfig_is_honoured() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let key = key_for(&emulator, &sandbox, EMAIL);
    emulator.add_service_account(TARGET);
    emulator.grant_token_creator(TARGET, EMAIL);
    let gcloud = activated(&key);
    // As `get-credentials` writes it when auth/impersonate_service_account is set.
    let flag = format!("--impersonate_service_account={TARGET}");
    let config = gcloud_kubeconfig(&sandbox, &server, &[&flag]);
    let iam = OsString::from(emulator.url());
    let envs = [("CLOUDSDK_CONFIG", gcloud.config_dir().as_os_str()), ("GCP_TOKEN_AGENT_IAM_ENDPOINT", &iam)];
    let output = kubectl(&sandbox, &config, &envs);
    assert_through_as(&output, &server, &emulator, TARGET);
}

#[test]
#[ignore = "needs kubectl: scripts/setup/install-test-deps.sh"]
fn with_no_active_gcloud_account_kubectl_shows_how_to_log_in_or_use_adc() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let key = key_for(&emulator, &sandbox, EMAIL);
    let config = gcloud_kubeconfig(&sandbox, &server, &[]);
    // An ADC key is there, but without the flag the plugin does not use it.
    let output = kubectl(&sandbox, &config, &[("GOOGLE_APPLICATION_CREDENTIALS", key.as_os_str())]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in
        ["no active account", "config_default", "gcloud auth login", "--use_application_default_credentials"]
    {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(server.bearer_tokens().is_empty() && emulator.calls("token") == 0);
}

#[test]
#[ignore = "needs gcloud and kubectl: scripts/setup/install-test-deps.sh"]
fn an_active_account_without_gclouds_adc_copy_is_named_with_the_file_and_the_fix() {
    let emulator = Emulator::start();
    let server = ApiServer::start();
    let sandbox = Sandbox::new();
    let key = key_for(&emulator, &sandbox, EMAIL);
    let gcloud = activated(&key);
    let adc = gcloud.config_dir().join("legacy_credentials").join(EMAIL).join("adc.json");
    std::fs::remove_file(&adc).expect("gcloud wrote the ADC copy");
    let calls = emulator.calls("token");
    let config = gcloud_kubeconfig(&sandbox, &server, &[]);
    let output = kubectl(&sandbox, &config, &[("CLOUDSDK_CONFIG", gcloud.config_dir().as_os_str())]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [adc.display().to_string(), format!("gcloud auth login {EMAIL}")] {
        assert!(stderr.contains(&needle), "{needle}: {stderr}");
    }
    assert!(server.bearer_tokens().is_empty() && emulator.calls("token") == calls);
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

#[test]
fn install_links_makes_the_plugins_link_but_leaves_googles_plugin_alone_unless_told() {
    let mut sandbox = Sandbox::new();
    sandbox.env("DOCKER_CONFIG", sandbox.path("docker"));
    let bin = sandbox.path("bin");
    std::fs::create_dir(&bin).expect("bin");
    // No other gke-gcloud-auth-plugin on PATH (this machine's may have Google's).
    sandbox.env("PATH", &bin);
    let dir = bin.to_str().expect("utf8");
    let plugin = bin.join("gke-gcloud-auth-plugin");
    let made = sandbox.run(&["configure-docker", "--install-links", dir, "gcr.io"]);
    assert!(made.ok().lines().any(|l| Path::new(l) == plugin), "{}", made.stdout);
    let version = sandbox.command_for(&plugin).arg("--version").output().expect("runs");
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));

    // Google's plugin (here a stand-in program) in the directory is kept, and the run says so.
    std::fs::remove_file(&plugin).expect("rm");
    let google = sandbox.write("bin/gke-gcloud-auth-plugin", "#!/bin/sh\necho google\n");
    let kept = sandbox.run(&["configure-docker", "--install-links", dir, "gcr.io"]);
    assert!(!kept.ok().contains("gke-gcloud-auth-plugin"), "not reported as written: {}", kept.stdout);
    assert!(kept.stderr.contains(&google) && kept.stderr.contains("--replace-gke-plugin"), "{}", kept.stderr);
    assert_eq!(std::fs::read_to_string(&plugin).expect("read"), "#!/bin/sh\necho google\n");
    assert!(bin.join("docker-credential-gcp-token-agent").exists(), "the helpers' links are still made");

    let replaced =
        sandbox.run(&["configure-docker", "--install-links", dir, "--replace-gke-plugin", "gcr.io"]);
    assert!(replaced.ok().contains("gke-gcloud-auth-plugin"));
    assert_eq!(std::fs::read_link(&plugin).expect("a link now"), Path::new(support::agent::BIN));
}

#[test]
fn install_links_makes_no_plugin_link_that_would_hide_googles_plugin_elsewhere_on_path() {
    use std::os::unix::fs::PermissionsExt;
    let mut sandbox = Sandbox::new();
    sandbox.env("DOCKER_CONFIG", sandbox.path("docker"));
    let (bin, sdk) = (sandbox.path("bin"), sandbox.path("sdk/bin"));
    std::fs::create_dir(&bin).expect("bin");
    let google = sandbox.write("sdk/bin/gke-gcloud-auth-plugin", "#!/bin/sh\necho google\n");
    std::fs::set_permissions(&google, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    sandbox.env("PATH", std::env::join_paths([&bin, &sdk]).expect("PATH"));
    let dir = bin.to_str().expect("utf8");
    let plugin = bin.join("gke-gcloud-auth-plugin");

    let kept = sandbox.run(&["configure-docker", "--install-links", dir, "gcr.io"]);
    assert!(!kept.ok().contains("gke-gcloud-auth-plugin"), "not reported as written: {}", kept.stdout);
    assert!(!plugin.exists() && !plugin.is_symlink(), "kubectl still finds Google's plugin first");
    assert!(kept.stderr.contains(&google) && kept.stderr.contains("--replace-gke-plugin"), "{}", kept.stderr);
    assert!(bin.join("docker-credential-gcp-token-agent").exists(), "the helpers' links are still made");

    let made = sandbox.run(&["configure-docker", "--install-links", dir, "--replace-gke-plugin", "gcr.io"]);
    assert!(made.ok().lines().any(|l| Path::new(l) == plugin), "{}", made.stdout);
    assert_eq!(std::fs::read_link(&plugin).expect("a link now"), Path::new(support::agent::BIN));
    assert_eq!(std::fs::read_to_string(&google).expect("read"), "#!/bin/sh\necho google\n", "untouched");
}

#[test]
fn install_links_touches_nothing_when_the_plugins_place_is_a_directory() {
    let mut sandbox = Sandbox::new();
    sandbox.env("DOCKER_CONFIG", sandbox.path("docker"));
    let bin = sandbox.path("bin");
    std::fs::create_dir_all(bin.join("gke-gcloud-auth-plugin")).expect("a directory in the way");
    let refused =
        sandbox.run(&["configure-docker", "--install-links", bin.to_str().expect("utf8"), "gcr.io"]);
    let message = refused.fails_with(64);
    assert!(message.contains("--install-links") && message.contains("is a directory"), "{message}");
    assert_eq!(std::fs::read_dir(&bin).expect("list").count(), 1, "no helper's link made");
    assert!(!sandbox.path("docker/config.json").exists(), "nor Docker's config written");
}
