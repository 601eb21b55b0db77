//! The runtime image as a user runs it: loaded from the release's archive
//! (dist/gcp-token-agent-VERSION-image.tar, scripts/release/release.sh), started by podman the way a
//! pod starts it (read-only, user 65532, no capabilities, no new privileges), serving Python
//! google-auth, reaching an HTTPS token endpoint whose CA is given by SSL_CERT_FILE, with no
//! shell inside.
//!
//! Ignored under plain `cargo test` (they need the release and podman); scripts/test.sh builds
//! the release and runs them with `--ignored`.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    clients::python,
    emulator::Emulator,
    podman::{
        Container, NEEDS_RELEASE, VERSION, image, ok, podman, run, run_as_in_a_pod, shared_dir,
        write_readable,
    },
    running::get,
    tls_front::TlsFront,
};

const EMAIL: &str = "image@emulator-project.iam.gserviceaccount.com";

/// The ceiling the issue set for the image: the binary, a CA bundle and two small files.
const MAX_IMAGE_BYTES: u64 = 12 * 1000 * 1000;

const PYTHON: &str = r#"
import google.auth
from google.auth.transport.requests import Request
creds, project = google.auth.default()
creds.refresh(Request())
print(type(creds).__module__)
print(creds.token)
"#;

#[test]
#[ignore = "needs dist/ from scripts/release/release.sh and podman; scripts/test.sh runs it"]
fn the_image_serves_python_google_auth_from_a_read_only_container_without_capabilities() {
    let emulator = Emulator::start();
    let config = shared_dir(false);
    let key = emulator.add_service_account(EMAIL);
    write_readable(config.path(), "key.json", &serde_json::to_string(key.json()).expect("json"));
    let state = shared_dir(true);
    let options = [
        format!("--volume={}:/config:ro", config.path().display()),
        format!("--volume={}:/state", state.path().display()),
    ];
    let agent = Container::start(
        &options,
        &[
            "run",
            "--credentials=/config/key.json",
            "--listen=127.0.0.1:0",
            "--admin-listen=127.0.0.1:0",
            "--ready-file=/state/ready.json",
        ],
    );
    let ready = wait_for_json(&state.path().join("ready.json"), &agent);
    let listen = ready["listen"].as_str().expect("listen address").to_owned();
    let admin = ready["admin_listen"].as_str().expect("admin address").parse().expect("address");
    assert!(listen.starts_with("127.0.0.1:"), "the metadata API listens on loopback only: {listen}");
    wait_until(&agent, "readiness", || get(admin, "/readyz", &[]).status == 200);

    let envs: Vec<(&str, &str)> =
        ["GCE_METADATA_HOST", "GCE_METADATA_IP"].iter().map(|k| (*k, listen.as_str())).collect();
    let out = python(PYTHON, &[], &envs);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "google.auth.compute_engine.credentials");
    let issued = emulator.issued(lines[1]).expect("a token the emulator issued, through the container");
    assert_eq!(issued.principal_email, EMAIL);

    // What the kernel says about the process, not what was asked for.
    let top = ok(podman().args(["top", &agent.name, "user", "huser", "capeff"]));
    let row: Vec<&str> = top.lines().nth(1).expect("a process row").split_whitespace().collect();
    assert_eq!(
        row,
        ["nonroot", "65532", "none"],
        "user (the image's passwd), host uid, capabilities:\n{top}"
    );
    let inspect = ok(podman().args([
        "container",
        "inspect",
        "--format",
        "{{.HostConfig.ReadonlyRootfs}}",
        &agent.name,
    ]));
    assert_eq!(inspect.trim(), "true");
}

#[test]
#[ignore = "needs dist/ from scripts/release/release.sh and podman; scripts/test.sh runs it"]
fn print_access_token_in_the_image_reaches_https_google_with_the_ca_that_ssl_cert_file_names() {
    let emulator = Emulator::start();
    let front = TlsFront::start(emulator.addr());
    let mut user = emulator.add_authorized_user("person@example.com");
    user["token_uri"] = Value::from(format!("{}/token", front.url()));
    let config = shared_dir(false);
    write_readable(config.path(), "user.json", &user.to_string());
    write_readable(config.path(), "ca.pem", front.ca_pem());
    let volume = format!("--volume={}:/config:ro", config.path().display());
    let print = |extra: &[&str]| {
        let mut command = run_as_in_a_pod();
        command.args(["--rm", &volume]).args(extra).arg(image());
        run(command.args(["print-access-token", "--credentials=/config/user.json"]))
    };

    let trusted = print(&["--env=SSL_CERT_FILE=/config/ca.pem"]);
    let stderr = String::from_utf8_lossy(&trusted.stderr);
    assert!(trusted.status.success(), "print-access-token failed:\n{stderr}");
    let token = String::from_utf8_lossy(&trusted.stdout).trim().to_owned();
    assert!(emulator.issued(&token).is_some(), "a token the emulator issued over TLS: {token}");

    // The image's own CA bundle does not know the test's CA: without SSL_CERT_FILE the TLS
    // handshake fails, so the token above came through the CA that SSL_CERT_FILE named.
    let untrusted = print(&[]);
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(69), "unreachable upstream:\n{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "names the certificate problem:\n{stderr}");
}

#[test]
#[ignore = "needs dist/ from scripts/release/release.sh and podman; scripts/test.sh runs it"]
fn the_image_holds_only_the_binary_ca_bundle_and_users_and_declares_user_labels_and_size() {
    let inspect: Value =
        serde_json::from_str(&ok(podman().args(["image", "inspect", image()]))).expect("inspect JSON");
    let inspect = &inspect[0];
    let config = &inspect["Config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/usr/local/bin/gcp-token-agent"]));
    let label =
        |name: &str| config["Labels"][format!("org.opencontainers.image.{name}")].as_str().map(str::to_owned);
    assert_eq!(label("version").as_deref(), Some(VERSION));
    assert_eq!(label("licenses").as_deref(), Some("Apache-2.0"));
    assert_eq!(label("source").as_deref(), Some("https://github.com/gcp-token-agent/gcp-token-agent"));
    let revision = label("revision").expect("revision label");
    assert!(revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()), "a commit: {revision}");
    let created = label("created").expect("created label");
    assert!(created.len() == 20 && created.ends_with('Z'), "an RFC 3339 UTC time: {created}");
    let size = inspect["Size"].as_u64().expect("size");
    eprintln!("image {}: {size} bytes", image());
    assert!(size <= MAX_IMAGE_BYTES, "the image is {size} bytes, over {MAX_IMAGE_BYTES}");

    let files = regular_files();
    let expected =
        ["etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "usr/local/bin/gcp-token-agent"];
    assert_eq!(files, expected, "the image's regular files");
    let shell = run(podman().args(["run", "--rm", "--entrypoint=/bin/sh", image(), "-c", "true"]));
    assert!(!shell.status.success(), "a shell ran in the image");
    let stderr = String::from_utf8_lossy(&shell.stderr);
    assert!(stderr.contains("/bin/sh"), "fails for want of /bin/sh:\n{stderr}");
    let version = ok(run_as_in_a_pod().args(["--rm", image(), "--version"]));
    assert_eq!(version.trim(), format!("gcp-token-agent {VERSION}"));
}

/// Regular files of the image's file system, as `podman export` of a container of it lists
/// them (podman adds mount points and empty files such as etc/hosts; those are left out).
fn regular_files() -> Vec<String> {
    let id = ok(podman().args(["create", image()])).trim().to_owned();
    let tar = run(podman().args(["export", &id]));
    let _ = podman().args(["rm", "--force", &id]).output();
    assert!(tar.status.success(), "podman export: {}", String::from_utf8_lossy(&tar.stderr));
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fs.tar"), &tar.stdout).expect("write tar");
    let listing = ok(std::process::Command::new("tar").arg("-tvf").arg(dir.path().join("fs.tar")));
    let mut files: Vec<String> = listing
        .lines()
        .filter(|line| line.starts_with('-'))
        .filter(|line| line.split_whitespace().nth(2).is_none_or(|size| size != "0"))
        .filter_map(|line| line.split_whitespace().last().map(|p| p.trim_start_matches("./").to_owned()))
        .collect();
    files.sort();
    files
}

/// Waits for the JSON file the container writes (its --ready-file).
fn wait_for_json(path: &std::path::Path, container: &Container) -> Value {
    let mut value = None;
    wait_until(container, &format!("{}", path.display()), || {
        value = std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        value.is_some()
    });
    value.expect("ready file")
}

#[track_caller]
fn wait_until(container: &Container, what: &str, mut predicate: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if predicate() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what} ({NEEDS_RELEASE}); container logs:\n{}", container.logs());
}
