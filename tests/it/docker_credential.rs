//! The Docker credential helper and `configure-docker`: the protocol as the binary speaks it
//! (by subcommand and by its symlink name), config.json edits, and a real client, skopeo,
//! pulling a manifest from a stand-in registry that accepts only tokens the emulator issued.

use crate::support;

use std::{
    ffi::OsString,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde_json::{Value, json};
use support::{
    agent::{Output, Sandbox},
    emulator::Emulator,
    registry::{MANIFEST, Registry},
};

const EMAIL: &str = "pull@emulator-project.iam.gserviceaccount.com";
const HELPER: &str = "docker-credential-gcp-token-agent";

/// An emulator with one service account; a sandbox whose GOOGLE_APPLICATION_CREDENTIALS is its
/// key, with DOCKER_CONFIG in the sandbox and the sandbox's `bin/` first on PATH.
fn setup() -> (Arc<Emulator>, Sandbox) {
    let emulator = Arc::new(Emulator::start());
    let mut sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write key");
    std::fs::create_dir_all(sandbox.path("bin")).expect("mkdir bin");
    let system = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(sandbox.path("bin")).chain(std::env::split_paths(&system)))
            .expect("PATH");
    let docker = sandbox.path("docker");
    sandbox.env("GOOGLE_APPLICATION_CREDENTIALS", &key).env("DOCKER_CONFIG", docker).env("PATH", path);
    (emulator, sandbox)
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

fn config(sandbox: &Sandbox) -> Value {
    let bytes = std::fs::read(sandbox.path("docker/config.json")).expect("config.json");
    serde_json::from_slice(&bytes).expect("config.json is JSON")
}

fn skopeo(sandbox: &Sandbox, image: &str) -> Output {
    let mut command = sandbox.command_for("skopeo");
    command.args(["inspect", "--raw", "--tls-verify=false", image]);
    Output::of(&mut command, b"")
}

/// The helper's Secret, checked against the emulator's ledger.
fn issued_secret(emulator: &Emulator, out: &Output) -> String {
    let answer: Value = serde_json::from_str(out.ok()).expect("JSON answer");
    let secret = answer["Secret"].as_str().expect("Secret").to_owned();
    let issued = emulator.issued(&secret).expect("the emulator issued the Secret");
    assert_eq!(issued.principal_email, EMAIL);
    secret
}

#[test]
#[ignore = "needs skopeo: scripts/setup/install-test-deps.sh"]
fn skopeo_pulls_a_manifest_with_the_token_the_helper_prints() {
    let (emulator, sandbox) = setup();
    let ledger = Arc::clone(&emulator);
    let registry = Registry::start(move |token| ledger.issued(token).is_some());
    let bin = sandbox.path("bin");
    // The machine's PATH may hold Google's plugin (CI's does), which the plugin's link would
    // hide: asked for, so the run is the same anywhere.
    let configured = sandbox.run(&[
        "configure-docker",
        "--install-links",
        text(&bin),
        "--replace-gke-plugin",
        &registry.host(),
    ]);
    let written: Vec<PathBuf> = configured.ok().lines().map(PathBuf::from).collect();
    assert_eq!(
        written,
        [
            sandbox.path("docker/config.json"),
            bin.join(HELPER),
            bin.join("git-credential-gcp-token-agent"),
            bin.join("gke-gcloud-auth-plugin")
        ]
    );
    assert!(configured.stderr.is_empty(), "the helper is on PATH, so no warning: {}", configured.stderr);
    assert_eq!(config(&sandbox), json!({"credHelpers": {registry.host(): "gcp-token-agent"}}));

    let pulled = skopeo(&sandbox, &registry.image());
    assert_eq!(pulled.ok(), MANIFEST, "skopeo prints the raw manifest");
    let password = registry.passwords().last().cloned().expect("skopeo sent Basic credentials");
    assert_eq!(emulator.issued(&password).expect("an issued token").principal_email, EMAIL);

    skopeo(&sandbox, &registry.image()).ok();
    let printed = sandbox.run(&["print-access-token"]);
    assert_eq!(printed.ok().trim(), password, "print-access-token shares the helper's cache entry");
    assert_eq!(emulator.calls("token"), 1, "later pulls are answered from the disk cache");
}

#[test]
#[ignore = "needs skopeo: scripts/setup/install-test-deps.sh"]
fn skopeo_is_refused_with_a_bogus_helper_and_without_a_helper() {
    let (emulator, sandbox) = setup();
    let ledger = Arc::clone(&emulator);
    let registry = Registry::start(move |token| ledger.issued(token).is_some());
    let bogus = sandbox.write(
        "bin/docker-credential-bogus",
        "#!/bin/sh\ncat >/dev/null\necho '{\"ServerURL\":\"x\",\"Username\":\"oauth2accesstoken\",\"Secret\":\"ya29.bogus\"}'\n",
    );
    std::fs::set_permissions(&bogus, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    sandbox.write("docker/config.json", json!({"credHelpers": {registry.host(): "bogus"}}).to_string());
    let refused = skopeo(&sandbox, &registry.image());
    assert_ne!(refused.code, 0, "a bogus token is refused: {}", refused.stdout);
    assert!(refused.stderr.contains("401") || refused.stderr.contains("unauthorized"), "{}", refused.stderr);
    assert_eq!(registry.passwords(), ["ya29.bogus"]);

    sandbox.write("docker/config.json", "{}");
    let anonymous = skopeo(&sandbox, &registry.image());
    assert_ne!(anonymous.code, 0, "no helper, no credentials: {}", anonymous.stdout);
    // skopeo sends an empty Basic user and password when it has none.
    assert_eq!(registry.passwords()[1..], [""], "no credentials were sent");
    assert_eq!(emulator.calls("token"), 0);
}

#[test]
#[ignore = "needs skopeo: scripts/setup/install-test-deps.sh"]
fn skopeo_shows_the_helper_s_error_when_it_has_no_credential() {
    let (emulator, mut sandbox) = setup();
    let registry = Registry::start(|_| true);
    sandbox.run(&["configure-docker", "--install-links", text(&sandbox.path("bin")), &registry.host()]).ok();
    sandbox.env("GOOGLE_APPLICATION_CREDENTIALS", sandbox.path("missing.json"));
    let failed = skopeo(&sandbox, &registry.image());
    assert_ne!(failed.code, 0);
    assert!(
        failed.stderr.contains("missing.json"),
        "Docker clients pass the helper's stderr on: {}",
        failed.stderr
    );
    assert!(registry.passwords().is_empty());
    assert_eq!(emulator.calls("token"), 0);
}

#[test]
fn get_answers_google_registries_and_those_config_json_names_by_subcommand_and_by_link() {
    let (emulator, sandbox) = setup();
    let out = sandbox.run_with_input(&["docker-credential", "get"], b"https://us-docker.pkg.dev\n");
    let answer: Value = serde_json::from_str(out.ok()).expect("JSON");
    assert_eq!(answer["ServerURL"], "https://us-docker.pkg.dev", "the server URL as given");
    assert_eq!(answer["Username"], "oauth2accesstoken");
    let secret = issued_secret(&emulator, &out);

    let link = sandbox.path("bin").join(HELPER);
    std::os::unix::fs::symlink(support::agent::BIN, &link).expect("symlink");
    // Not Google's, not in config.json: what Docker's helpers say for "nothing here", no token.
    for registry in ["registry.example.com:5000", "https://index.docker.io/v1/", "gcr.io.evil.example"] {
        let refused = Output::of(sandbox.command_for(&link).arg("get"), registry.as_bytes());
        assert_eq!(refused.code, 1, "{registry}: {}", refused.stderr);
        assert_eq!(refused.stdout, "credentials not found in native keychain\n", "{registry}");
        assert!(refused.stderr.contains("configure-docker"), "{registry}: {}", refused.stderr);
        assert!(!refused.stdout.contains(&secret) && !refused.stderr.contains(&secret));
    }
    // Naming it in credHelpers (what `configure-docker REGISTRY` writes) is the opt-in.
    let config = json!({"credHelpers": {"registry.example.com:5000": "gcp-token-agent"}});
    sandbox.write("docker/config.json", config.to_string());
    let by_link = Output::of(sandbox.command_for(&link).arg("get"), b"registry.example.com:5000");
    assert_eq!(issued_secret(&emulator, &by_link), secret, "the same cached token");
    let by_link: Value = serde_json::from_str(by_link.ok()).expect("JSON");
    assert_eq!(by_link["ServerURL"], "registry.example.com:5000");
    assert_eq!(sandbox.run(&["print-access-token"]).ok().trim(), secret);
    assert_eq!(emulator.calls("token"), 1);
    assert!(!out.stderr.contains(&secret), "the token is never logged");
}

#[test]
fn list_names_only_the_registries_sent_here_and_store_and_erase_do_nothing() {
    let (emulator, sandbox) = setup();
    assert_eq!(sandbox.run(&["docker-credential", "list"]).ok(), "{}\n", "no config.json: none");
    let other = json!({
        "auths": {"quay.io": {"auth": "dXNlcjpwYXNz"}},
        "credHelpers": {"gcr.io": "gcp-token-agent", "ecr.aws": "ecr-login", "127.0.0.1:5000": "gcp-token-agent"},
    });
    sandbox.write("docker/config.json", other.to_string());
    let listed: Value = serde_json::from_str(sandbox.run(&["docker-credential", "list"]).ok()).expect("JSON");
    assert_eq!(listed, json!({"gcr.io": "oauth2accesstoken", "127.0.0.1:5000": "oauth2accesstoken"}));
    let stored = br#"{"ServerURL":"gcr.io","Username":"u","Secret":"s"}"#;
    for action in ["store", "erase"] {
        let out = sandbox.run_with_input(&["docker-credential", action], stored);
        assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "", ""), "{action}");
    }
    assert_eq!(emulator.calls("token"), 0);
    assert_eq!(config(&sandbox), other, "nothing is written");
}

#[test]
fn bad_input_and_unknown_actions_are_bad_usage() {
    let (emulator, sandbox) = setup();
    let empty = sandbox.run_with_input(&["docker-credential", "get"], b"");
    assert!(empty.fails_with(64).contains("docker-credential get: stdin: is empty"), "{}", empty.stderr);
    let two = sandbox.run_with_input(&["docker-credential", "get"], b"gcr.io\nquay.io\n");
    assert!(two.fails_with(64).contains("more than one line"), "{}", two.stderr);
    let huge = sandbox.run_with_input(&["docker-credential", "get"], &[b'a'; 10_000]);
    assert!(huge.fails_with(64).contains("larger than 4 KiB"), "{}", huge.stderr);
    let binary = sandbox.run_with_input(&["docker-credential", "get"], b"gcr.io\xff");
    assert!(binary.fails_with(64).contains("not UTF-8"), "{}", binary.stderr);
    let unknown = sandbox.run(&["docker-credential", "version"]);
    assert!(unknown.fails_with(64).contains("invalid value 'version'"), "{}", unknown.stderr);
    sandbox.write("docker/config.json", "[]");
    let list = sandbox.run(&["docker-credential", "list"]);
    assert!(
        list.fails_with(64).contains("config.json (from DOCKER_CONFIG): is not a JSON object"),
        "{}",
        list.stderr
    );
    assert_eq!(emulator.calls("token"), 0);
}

#[test]
fn configure_docker_adds_the_default_registries_and_keeps_everything_else() {
    let (_emulator, sandbox) = setup();
    let before = json!({
        "auths": {"quay.io": {"auth": "dXNlcjpwYXNz"}},
        "credsStore": "desktop",
        "credHelpers": {"gcr.io": "gcloud", "public.ecr.aws": "ecr-login"},
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
    });
    let path = sandbox.write("docker/config.json", before.to_string());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = sandbox.run(&["configure-docker"]);
    assert_eq!(out.ok(), format!("{path}\n"));
    assert!(
        out.stderr.contains("gcr.io used helper gcloud"),
        "a replaced helper is reported: {}",
        out.stderr
    );
    assert!(out.stderr.contains(&format!("{HELPER} is not on PATH")), "{}", out.stderr);
    let mut after = config(&sandbox);
    let helpers = after["credHelpers"].as_object_mut().expect("credHelpers").clone();
    let defaults = [
        "gcr.io",
        "us.gcr.io",
        "eu.gcr.io",
        "asia.gcr.io",
        "us-docker.pkg.dev",
        "europe-docker.pkg.dev",
        "asia-docker.pkg.dev",
    ];
    for registry in defaults {
        assert_eq!(helpers[registry], "gcp-token-agent", "{registry}");
    }
    assert_eq!(helpers["public.ecr.aws"], "ecr-login");
    assert_eq!(helpers.len(), defaults.len() + 1);
    after["credHelpers"] = before["credHelpers"].clone();
    assert_eq!(after, before, "every other key is kept");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the file's mode is kept");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.starts_with("{\n\t\"auths\"") && text.ends_with("}\n"),
        "written as Docker writes it:\n{text}"
    );
}

#[test]
fn configure_docker_creates_a_private_file_and_accepts_pasted_urls() {
    let (_emulator, sandbox) = setup();
    let out = sandbox.run(&["configure-docker", "https://europe-west1-docker.pkg.dev/,localhost:5000"]);
    out.ok();
    assert_eq!(
        config(&sandbox),
        json!({"credHelpers": {"europe-west1-docker.pkg.dev": "gcp-token-agent", "localhost:5000": "gcp-token-agent"}})
    );
    let mode = |p: PathBuf| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(sandbox.path("docker/config.json")), 0o600);
    assert_eq!(mode(sandbox.path("docker")), 0o700);
}

#[test]
fn configure_docker_refuses_bad_registries_a_config_that_is_not_an_object_and_files_in_the_way() {
    let (_emulator, sandbox) = setup();
    let bad = sandbox.run(&["configure-docker", "gcr.io/my-project/image", "http://gcr.io"]);
    let message = bad.fails_with(64);
    assert!(message.contains("REGISTRY: ") && message.contains("gcr.io/my-project/image"), "{message}");
    assert!(message.contains("http://gcr.io"), "every bad registry is named: {message}");
    assert!(!sandbox.path("docker/config.json").exists(), "nothing is written");

    let path = sandbox.write("docker/config.json", "[\"not\", \"an object\"]");
    let refused = sandbox.run(&["configure-docker", "gcr.io"]);
    assert!(
        refused.fails_with(64).contains(&format!("{path} (from DOCKER_CONFIG): is not a JSON object")),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "[\"not\", \"an object\"]", "left as it was");

    let bin = sandbox.path("bin");
    std::os::unix::fs::symlink("/old/gcp-token-agent", bin.join(HELPER)).expect("stale link");
    let theirs = sandbox.write("bin/git-credential-gcp-token-agent", "#!/bin/sh\n");
    std::fs::remove_file(&path).expect("rm");
    let blocked = sandbox.run(&["configure-docker", "--install-links", text(&bin), "gcr.io"]);
    let message = blocked.fails_with(64);
    assert!(
        message.contains(&format!("--install-links: {theirs} exists and is not a symbolic link")),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&theirs).expect("read"), "#!/bin/sh\n", "never overwritten");
    let link = || std::fs::read_link(bin.join(HELPER)).expect("link");
    assert_eq!(
        link(),
        PathBuf::from("/old/gcp-token-agent"),
        "nothing is touched when one link cannot be made"
    );
    assert!(!path_exists(&path), "nor config.json");
    std::fs::remove_file(&theirs).expect("rm");
    sandbox.run(&["configure-docker", "--install-links", text(&bin), "gcr.io"]).ok();
    assert_eq!(link(), PathBuf::from(support::agent::BIN), "the stale link is replaced");

    let missing = sandbox.run(&["configure-docker", "--install-links", text(&sandbox.path("nope"))]);
    assert!(missing.fails_with(64).contains("is not an existing directory"), "{}", missing.stderr);
}

fn path_exists(path: &str) -> bool {
    Path::new(path).exists()
}

#[test]
fn docker_config_falls_back_to_home() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(&["configure-docker", "gcr.io"]);
    let path: OsString = out.ok().trim().into();
    assert_eq!(PathBuf::from(path), sandbox.path(".docker/config.json"));
}
