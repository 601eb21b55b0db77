//! Every class of bad input a user can hand the agent, table-driven: FIFOs, devices,
//! directories and oversized files where a file is expected, malformed and credential-bearing
//! URLs, out-of-range durations and modes. Each must end promptly with exit 64 and a message
//! naming what to fix, never a hang, a panic or a secret in the output.

use crate::support;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::json;
use support::{agent::Sandbox, emulator::Emulator};

const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/k8s";
/// Far beyond any answer; reaching it means the agent hung (the test then fails, it does not time).
const HANG: Duration = Duration::from_secs(20);

struct Ran {
    code: Option<i32>,
    stderr: String,
}

/// Runs the agent with a kill deadline, so a hang is a failure instead of a stuck suite.
fn run(sandbox: &Sandbox, args: &[&str]) -> Ran {
    let mut child = sandbox
        .command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > HANG {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    Ran { code: output.status.code(), stderr: String::from_utf8_lossy(&output.stderr).into_owned() }
}

fn fifo(sandbox: &Sandbox, name: &str) -> String {
    let path = sandbox.path(name);
    assert!(std::process::Command::new("mkfifo").arg(&path).status().expect("mkfifo").success());
    path.to_string_lossy().into_owned()
}

/// Paths that are not small regular files.
fn unreadable_paths(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    let big = sandbox.write("big.json", vec![b' '; 2 << 20]);
    let dir = sandbox.path("a-directory");
    std::fs::create_dir_all(&dir).expect("mkdir");
    vec![
        ("a FIFO", fifo(sandbox, "fifo")),
        ("/dev/zero", "/dev/zero".to_owned()),
        ("/dev/urandom", "/dev/urandom".to_owned()),
        ("a 2 MiB file", big),
        ("a directory", dir.to_string_lossy().into_owned()),
    ]
}

fn expect_usage_error(ran: &Ran, case: &str, needle: &str) {
    assert_eq!(
        ran.code,
        Some(64),
        "{case}: expected exit 64 (killed after {HANG:?} if None)\n{}",
        ran.stderr
    );
    assert!(ran.stderr.contains(needle), "{case}: the message should name {needle:?}\n{}", ran.stderr);
    assert!(!ran.stderr.contains("panicked"), "{case}: {}", ran.stderr);
}

#[test]
fn files_that_are_not_small_regular_files_are_refused_for_every_flag() {
    let sandbox = Sandbox::new();
    let emulator = Emulator::start();
    for (what, path) in unreadable_paths(&sandbox) {
        let external = sandbox
            .write("external.json", emulator.external_account_config(PROVIDER, &path, None).to_string());
        let cases: Vec<(&str, Vec<&str>, &str)> = vec![
            (
                "--credentials",
                vec!["print-access-token", "--no-cache", "--credentials", &path],
                "--credentials",
            ),
            ("--config", vec!["run", "--config", &path], "--config"),
            (
                "--client-secrets",
                vec!["login", "--no-browser", "--client-secrets", &path],
                "--client-secrets",
            ),
            ("--from-file", vec!["exec-credential", "--from-file", &path], "--from-file"),
            (
                "--tls-cert",
                vec!["webhook", "--agent-image", "x", "--tls-cert", &path, "--tls-key", &path],
                "--tls-cert",
            ),
            (
                "--subject-token-file",
                vec![
                    "print-access-token",
                    "--no-cache",
                    "--subject-token-file",
                    &path,
                    "--workload-identity-provider",
                    PROVIDER,
                    "--sts-endpoint",
                    emulator.url(),
                ],
                "--subject-token-file",
            ),
            (
                "credential_source.file",
                vec!["print-access-token", "--no-cache", "--credentials", &external],
                "credential_source.file",
            ),
        ];
        for (flag, args, needle) in cases {
            expect_usage_error(&run(&sandbox, &args), &format!("{flag} given {what}"), needle);
        }
    }
}

#[test]
fn a_docker_config_that_is_not_a_small_regular_file_is_refused_naming_it() {
    let mut sandbox = Sandbox::new();
    let docker = sandbox.path("docker");
    std::fs::create_dir_all(&docker).expect("mkdir");
    sandbox.env("DOCKER_CONFIG", &docker);
    let config = docker.join("config.json");
    for (what, path) in unreadable_paths(&sandbox) {
        let _ = std::fs::remove_file(&config);
        std::os::unix::fs::symlink(&path, &config).expect("symlink");
        for args in [["configure-docker", "gcr.io"], ["docker-credential", "list"]] {
            let case = format!("{} with config.json {what}", args[0]);
            expect_usage_error(
                &run(&sandbox, &args),
                &case,
                "config.json (from DOCKER_CONFIG): cannot read it",
            );
        }
    }
}

#[test]
fn malformed_or_credential_bearing_urls_fail_at_once_naming_the_flag_or_field() {
    let sandbox = Sandbox::new();
    let emulator = Emulator::start();
    let subject = sandbox.write("ksa/token", "a.b.c");
    for url in [
        "ftp://sts.example.com",
        "/v1/token",
        "http://[::1",
        "http://sts.example.com",
        "https://user:hunter2@sts.example.com",
    ] {
        for flag in ["--sts-endpoint", "--iam-endpoint"] {
            let ran = run(&sandbox, &federated_with(&subject, flag, url));
            expect_usage_error(&ran, &format!("{flag} {url}"), flag);
            assert!(!ran.stderr.contains("hunter2"), "{flag} {url}: {}", ran.stderr);
        }
        let ran = run(&sandbox, &["run", "--resource-manager-endpoint", url]);
        expect_usage_error(
            &ran,
            &format!("--resource-manager-endpoint {url}"),
            "--resource-manager-endpoint",
        );
        assert!(!ran.stderr.contains("hunter2"), "--resource-manager-endpoint {url}: {}", ran.stderr);
    }
    let key = emulator.add_service_account("app@emulator-project.iam.gserviceaccount.com");
    for token_uri in
        ["/token", "ftp://oauth2.example.com/token", "https://user:hunter2@oauth2.example.com/token"]
    {
        let mut json = key.json().clone();
        json["token_uri"] = json!(token_uri);
        let path = sandbox.write("bad-uri.json", json.to_string());
        let ran = run(&sandbox, &["print-access-token", "--no-cache", "--credentials", &path]);
        expect_usage_error(&ran, &format!("token_uri {token_uri}"), "token_uri");
        assert!(!ran.stderr.contains("hunter2"), "{}", ran.stderr);
    }
}

/// A federated `print-access-token` with one endpoint flag set to `url`.
fn federated_with<'a>(subject: &'a str, flag: &'a str, url: &'a str) -> [&'a str; 10] {
    [
        "print-access-token",
        "--no-cache",
        "--subject-token-file",
        subject,
        "--workload-identity-provider",
        PROVIDER,
        "--service-account",
        "app@emulator-project.iam.gserviceaccount.com",
        flag,
        url,
    ]
}

#[test]
fn malformed_urls_anywhere_fail_at_once_with_64_and_never_show_a_password() {
    let sandbox = Sandbox::new();
    let subject = sandbox.write("ksa/token", "a.b.c");
    // Passwords holding `/`, `?`, `#`: a parser ends the authority early, the mask does not.
    for url in [
        "https://u:pw/s3cret@sts.example.com",
        "https://u:pw?s3cret@sts.example.com",
        "https://u:pw#s3cret@sts.example.com",
    ] {
        for flag in ["--sts-endpoint", "--iam-endpoint"] {
            let ran = run(&sandbox, &federated_with(&subject, flag, url));
            expect_usage_error(&ran, &format!("{flag} {url}"), flag);
            assert!(!ran.stderr.contains("s3cret"), "{flag} {url}: {}", ran.stderr);
        }
    }
    let mut metadata = Sandbox::new();
    for host in ["u:pw/s3cret@169.254.169.254", "http://169.254.169.254", "h:0", "a b"] {
        metadata.env("GCE_METADATA_HOST", host);
        let ran = run(&metadata, &["print-access-token", "--no-cache", "--source", "metadata"]);
        expect_usage_error(&ran, &format!("GCE_METADATA_HOST={host}"), "GCE_METADATA_HOST");
        assert!(!ran.stderr.contains("s3cret"), "{host}: {}", ran.stderr);
    }
    let source = |url: &str| {
        json!({
            "type": "external_account", "audience": PROVIDER,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "credential_source": {"url": url},
        })
    };
    for url in ["file:///etc/passwd", "ftp://idp.example.com/token", "https://u:s3cret@idp.example.com/t"] {
        let path = sandbox.write("federated.json", source(url).to_string());
        let ran = run(&sandbox, &["print-access-token", "--no-cache", "--credentials", &path]);
        expect_usage_error(&ran, url, "credential_source.url");
        assert!(!ran.stderr.contains("s3cret") && !ran.stderr.contains("unreachable"), "{}", ran.stderr);
    }
}

/// `webhook` with the flags it needs to start, then `extra`.
fn webhook<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    [&["webhook", "--agent-image", "x", "--tls-cert", "c", "--tls-key", "k"][..], extra].concat()
}

#[test]
fn out_of_range_durations_modes_and_ids_are_refused() {
    let sandbox = Sandbox::new();
    let huge = "18446744073709551615s";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "--shutdown-grace", huge], "--shutdown-grace"),
        (vec!["run", "--min-remaining", "9000h"], "--min-remaining"),
        (vec!["login", "--client-secrets", "x.json", "--timeout", huge], "--timeout"),
        (webhook(&["--shutdown-grace", huge]), "--shutdown-grace"),
        (vec!["run", "--file-mode", "0666"], "--file-mode"),
        (vec!["run", "--file-mode", "0755"], "--file-mode"),
        (vec!["run", "--numeric-project-id", "abc"], "--numeric-project-id"),
        (vec!["run", "--project-id", "Bad Project!!"], "--project-id"),
        (vec!["run", "--scopes", "not a scope"], "--scopes"),
        (vec!["run", "--scopes="], "--scopes"),
        (vec!["print-access-token", "--http-timeout", "0s"], "--http-timeout"),
        (vec!["run", "--http-timeout", "11m"], "--http-timeout"),
        // Go-style durations keep each flag's range: 10m1s and 500ms are just outside it.
        (vec!["run", "--http-timeout", "10m1s"], "--http-timeout"),
        (vec!["run", "--http-timeout", "500ms"], "--http-timeout"),
        (vec!["print-access-token", "--lifetime", "1h30m0.5s"], "--lifetime"),
        (vec!["run", "--min-remaining", "1h-30m"], "--min-remaining"),
        (vec!["run", "--zone", "us-east-1a"], "--zone"),
        (vec!["run", "--zone", "us-central1-a", "--region", "europe-west4"], "--region"),
        (vec!["run", "--instance-id", "18446744073709551616"], "--instance-id"),
        (vec!["run", "--instance-name", "a/b"], "--instance-name"),
        (vec!["run", "--cluster-name", "two words"], "--cluster-name"),
        (vec!["run", "--attribute", "no-value"], "--attribute"),
        (vec!["run", "--attribute", "k=\u{1b}[31m"], "--attribute"),
        (webhook(&["--zone", "us-central1"]), "--zone"),
        (webhook(&["--cluster-name", "a/b"]), "--cluster-name"),
        // A level every injected agent would refuse stops the webhook instead.
        (webhook(&["--agent-log-level", "info[span]"]), "--agent-log-level"),
        // The webhook checks its own flags as `run` does: nothing injects an empty image.
        (vec!["webhook", "--agent-image", "", "--tls-cert", "c", "--tls-key", "k"], "--agent-image"),
        (
            vec!["webhook", "--agent-image", "img\nevil: x", "--tls-cert", "c", "--tls-key", "k"],
            "--agent-image",
        ),
        (webhook(&["--review-deadline", "0s"]), "--review-deadline"),
        (webhook(&["--review-deadline", "31s"]), "--review-deadline"),
        (webhook(&["--review-deadline", "30s1ms"]), "--review-deadline"),
        // The print commands check scopes and emails as `run` does.
        (vec!["print-access-token", "--scopes", "a b"], "--scopes"),
        (vec!["exec-credential", "--scopes", "a b"], "--scopes"),
        (
            vec!["print-access-token", "--impersonate-service-account", "x@gmail.com"],
            "--impersonate-service-account",
        ),
        (vec!["run", "--impersonate-service-account", "x@gmail.com"], "--impersonate-service-account"),
    ];
    for (args, needle) in cases {
        expect_usage_error(&run(&sandbox, &args), &args.join(" "), needle);
    }
}

#[test]
fn a_flag_given_twice_is_refused_rather_than_the_last_one_winning() {
    let sandbox = Sandbox::new();
    let ran = run(&sandbox, &["print-access-token", "--credentials", "a.json", "--credentials", "b.json"]);
    expect_usage_error(&ran, "--credentials twice", "--credentials");
}

#[test]
fn kubernetes_exec_info_that_is_not_utf8_is_refused_not_ignored() {
    use std::os::unix::ffi::OsStrExt;
    let mut sandbox = Sandbox::new();
    sandbox.env("KUBERNETES_EXEC_INFO", std::ffi::OsStr::from_bytes(b"{\"apiVersion\":\"\xff\"}"));
    let ran = run(&sandbox, &["exec-credential"]);
    expect_usage_error(&ran, "non-UTF-8 KUBERNETES_EXEC_INFO", "KUBERNETES_EXEC_INFO");
    assert!(ran.stderr.contains("not UTF-8"), "{}", ran.stderr);
}

#[test]
fn a_ready_file_that_is_not_a_regular_file_is_refused_and_left_as_it_is() {
    let sandbox = Sandbox::new();
    let emulator = Emulator::start();
    let key = sandbox.path("key.json");
    emulator.add_service_account("app@emulator-project.iam.gserviceaccount.com").write_to(&key).expect("key");
    let key = key.to_string_lossy().into_owned();
    let dir = sandbox.path("a-directory");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (what, path) in
        [("a FIFO", fifo(&sandbox, "ready-fifo")), ("a directory", dir.to_string_lossy().into_owned())]
    {
        let args = [
            "run",
            "--credentials",
            &key,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "off",
            "--ready-file",
            &path,
        ];
        let ran = run(&sandbox, &args);
        assert_eq!(ran.code, Some(1), "{what}: {}", ran.stderr);
        assert!(ran.stderr.contains("not a regular file"), "{what}: {}", ran.stderr);
        let kind = std::fs::symlink_metadata(&path).expect("still there").file_type();
        assert!(!kind.is_file(), "{what} was replaced by a regular file");
    }
}
