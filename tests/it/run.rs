//! `run`: the sidecar against the emulator — oneshot, refresh before expiry, key rotation by a
//! kubelet-style `..data` swap, broken sources, torn reads, an outage, config, shutdown.

use crate::support;

use std::{
    os::unix::fs::{PermissionsExt, symlink},
    path::Path,
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;
use support::{
    agent::Sandbox,
    emulator::{Emulator, Fault, KeyFile},
    running::RunningAgent,
};

const EMAIL: &str = "sidecar@emulator-project.iam.gserviceaccount.com";

fn key_in(emulator: &Emulator, sandbox: &Sandbox, name: &str) -> (KeyFile, String) {
    let key = emulator.add_service_account(EMAIL);
    let path = sandbox.path(name);
    key.write_to(&path).expect("write key");
    (key, path.to_string_lossy().into_owned())
}

fn out_dir(sandbox: &Sandbox) -> String {
    let dir = sandbox.path("out");
    std::fs::create_dir_all(&dir).expect("mkdir out");
    dir.to_string_lossy().into_owned()
}

fn read(dir: &str, name: &str) -> String {
    std::fs::read_to_string(Path::new(dir).join(name)).unwrap_or_default()
}

/// An emulator issuing `lifetime`-second tokens, a key and an output directory in a fresh
/// sandbox, and a ready agent running on them with `extra` flags.
struct Sidecar {
    emulator: Emulator,
    /// Held for its lifetime: it owns the temp directory.
    _sandbox: Sandbox,
    key: String,
    out: String,
    agent: RunningAgent,
}

fn sidecar(lifetime: Option<u64>, extra: &[&str]) -> Sidecar {
    let emulator = Emulator::start();
    if let Some(secs) = lifetime {
        emulator.set_token_lifetime(secs);
    }
    let sandbox = Sandbox::new();
    let (_, key) = key_in(&emulator, &sandbox, "key.json");
    let out = out_dir(&sandbox);
    let args = [&["--credentials", key.as_str(), "--output-dir", out.as_str()][..], extra].concat();
    let agent = RunningAgent::start(&sandbox, &args);
    agent.wait_ready();
    Sidecar { emulator, _sandbox: sandbox, key, out, agent }
}

#[test]
fn oneshot_writes_every_file_with_the_mode_and_exits_zero() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let (_, key) = key_in(&emulator, &sandbox, "key.json");
    let out = out_dir(&sandbox);
    let run = sandbox.run(&[
        "run",
        "--oneshot",
        "--credentials",
        &key,
        "--output-dir",
        &out,
        "--id-token",
        "api=https://api.example",
    ]);
    run.ok();
    let token = read(&out, "token");
    assert!(!token.ends_with('\n'), "the raw token has no newline");
    assert_eq!(emulator.issued(&token).expect("issued").principal_email, EMAIL);
    let json: Value = serde_json::from_str(&read(&out, "token.json")).expect("token.json");
    assert_eq!(json["access_token"], token.as_str());
    assert_eq!(json["token_type"], "Bearer");
    assert!(json["expiry"].as_str().is_some_and(|e| e.ends_with('Z')));
    let claims = emulator.verify_id_token(&read(&out, "id_token.api")).expect("valid ID token");
    assert_eq!(claims["aud"], "https://api.example");
    for name in ["token", "token.json", "id_token.api"] {
        let mode = std::fs::metadata(Path::new(&out).join(name)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{name}");
    }
    let custom = sandbox.run(&[
        "run",
        "--oneshot",
        "--credentials",
        &key,
        "--output-dir",
        &out,
        "--file-mode",
        "0600",
    ]);
    custom.ok();
    let mode = std::fs::metadata(Path::new(&out).join("token")).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "--file-mode is applied on every write, not only on create");
}

#[test]
fn an_id_token_flag_is_one_audience_commas_and_all_while_the_variable_lists_several() {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let (_, key) = key_in(&emulator, &sandbox, "key.json");
    let out = out_dir(&sandbox);
    let audience = "https://api.example/?a=1,b=2";
    let flag = ["run", "--oneshot", "--credentials", &key, "--output-dir", &out, "--id-token"];
    sandbox.run(&[&flag[..], &[&format!("q={audience}")]].concat()).ok();
    let claims = emulator.verify_id_token(&read(&out, "id_token.q")).expect("valid ID token");
    assert_eq!(claims["aud"], audience, "a flag's value is never split");
    assert!(!Path::new(&out).join("id_token.b").exists());

    sandbox.env("GCP_TOKEN_AGENT_ID_TOKEN", "x=https://x.example,y=https://y.example");
    sandbox.run(&["run", "--oneshot", "--credentials", &key, "--output-dir", &out]).ok();
    for (name, aud) in [("x", "https://x.example"), ("y", "https://y.example")] {
        let claims = emulator.verify_id_token(&read(&out, &format!("id_token.{name}"))).expect("valid");
        assert_eq!(claims["aud"], aud);
    }
}

#[test]
fn oneshot_fails_clearly_when_google_refuses() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let (_, key) = key_in(&emulator, &sandbox, "key.json");
    let out = out_dir(&sandbox);
    for _ in 0..3 {
        emulator.push_fault(Fault::ErrorCode { status: 400, error: "invalid_grant".into() });
    }
    let run = sandbox.run(&["run", "--oneshot", "--credentials", &key, "--output-dir", &out]);
    assert_eq!(run.code, 69, "{}", run.stderr);
    assert!(run.stderr.contains("invalid_grant"));
    assert!(read(&out, "token").is_empty(), "no file is written for a failed token");
}

#[test]
fn id_tokens_from_a_source_that_cannot_mint_them_fail_at_start() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let user = sandbox.write("user.json", emulator.add_authorized_user("person@example.com").to_string());
    let out = sandbox.run(&[
        "run",
        "--credentials",
        &user,
        "--id-token",
        "api=https://api.example",
        "--listen",
        "off",
    ]);
    assert!(out.fails_with(64).contains("cannot mint ID tokens"), "{}", out.stderr);
}

#[test]
fn every_configuration_problem_is_reported_at_once() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[
        "run",
        "--credentials",
        "/x.json",
        "--id-token",
        "no-equals-sign",
        "--file-mode",
        "999",
        "--listen",
        "0.0.0.0:8989",
        "--output-dir",
        "/does/not/exist",
    ]);
    let text = run.fails_with(64);
    for flag in ["--id-token", "--file-mode", "--listen", "--output-dir"] {
        assert!(text.contains(flag), "{flag} missing from: {text}");
    }
}

#[test]
fn the_config_file_is_read_and_flags_win_over_it() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let (_, key) = key_in(&emulator, &sandbox, "key.json");
    let out = out_dir(&sandbox);
    let config = sandbox.write(
        "agent.yaml",
        format!("credentials: {key}\noutput-dir: {out}\noneshot: true\nfile-mode: \"0600\"\n"),
    );
    sandbox.run(&["run", "--config", &config, "--file-mode", "0644"]).ok();
    let mode = std::fs::metadata(Path::new(&out).join("token")).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let bad = sandbox.write("bad.yaml", "colour: blue\n");
    assert!(sandbox.run(&["run", "--config", &bad]).fails_with(64).contains("colour"));
}

#[test]
fn an_environment_variable_wins_over_the_config_file_and_a_flag_over_both() {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let (_, key) = key_in(&emulator, &sandbox, "key.json");
    let out = out_dir(&sandbox);
    let config = sandbox.write(
        "agent.yaml",
        format!("credentials: {key}\noutput-dir: {out}\noneshot: true\nfile-mode: \"0600\"\n"),
    );
    let mode = |sandbox: &Sandbox, extra: &[&str]| {
        sandbox.run(&[&["run", "--config", config.as_str()][..], extra].concat()).ok();
        std::fs::metadata(Path::new(&out).join("token")).expect("meta").permissions().mode() & 0o777
    };
    assert_eq!(mode(&sandbox, &[]), 0o600, "the file alone");
    sandbox.env("GCP_TOKEN_AGENT_FILE_MODE", "0640");
    assert_eq!(mode(&sandbox, &[]), 0o640, "env over file");
    assert_eq!(mode(&sandbox, &["--file-mode", "0644"]), 0o644, "flag over env");
}

#[test]
fn tokens_are_refreshed_before_they_expire() {
    let sidecar = sidecar(Some(4), &["--min-remaining", "1s"]);
    let (emulator, out) = (&sidecar.emulator, &sidecar.out);
    let mut seen = std::collections::BTreeSet::new();
    // Wait for three refreshes (an event, not a time window); the deadline only catches a hang.
    sidecar.agent.wait_until(Duration::from_secs(60), "three refreshes", || {
        let token = read(out, "token");
        let issued = emulator.issued(&token).expect("the file always holds an issued token");
        assert!(issued.expires_at > SystemTime::now(), "the file never holds an expired token");
        seen.insert(token);
        seen.len() >= 4
    });
    // One upstream request per token (a refresh may be under way as we stop looking).
    let calls = emulator.calls("token");
    assert!(calls == seen.len() || calls == seen.len() + 1, "{calls} requests for {} tokens", seen.len());
}

/// Kubelet and Secret volumes: `key.json -> ..data/key.json`, `..data -> ..TIMESTAMP/`.
fn kubelet_volume(dir: &Path, generation: u32, contents: &str) {
    let stamp = dir.join(format!("..2026_11_25_{generation:04}"));
    std::fs::create_dir_all(&stamp).expect("mkdir");
    std::fs::write(stamp.join("key.json"), contents).expect("write");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(stamp.file_name().expect("name"), &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("atomic swap");
    if !dir.join("key.json").exists() {
        symlink("..data/key.json", dir.join("key.json")).expect("symlink");
    }
}

#[test]
fn a_secret_style_key_rotation_is_picked_up_without_a_restart() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let volume = sandbox.path("secret");
    std::fs::create_dir_all(&volume).expect("mkdir");
    let first = emulator.add_service_account(EMAIL);
    kubelet_volume(&volume, 1, &first.json().to_string());
    let key = volume.join("key.json").to_string_lossy().into_owned();
    let out = out_dir(&sandbox);
    let agent = RunningAgent::start(&sandbox, &["--credentials", &key, "--output-dir", &out]);
    agent.wait_ready();
    let before = read(&out, "token");
    let rotated = emulator.add_service_account("rotated@emulator-project.iam.gserviceaccount.com");
    kubelet_volume(&volume, 2, &rotated.json().to_string());
    agent.wait_until(Duration::from_secs(5), "a token from the rotated key", || {
        let token = read(&out, "token");
        token != before && emulator.issued(&token).is_some_and(|i| i.principal_email == rotated.email())
    });
    assert!(agent.logs().contains("credential source changed"));
}

#[test]
fn a_broken_source_file_keeps_the_last_good_token_and_is_reported() {
    let sidecar = sidecar(None, &[]);
    let (key, out, agent) = (&sidecar.key, &sidecar.out, &sidecar.agent);
    let good = std::fs::read(key).expect("the good key");
    let before = read(out, "token");
    std::fs::write(key, "{ half-written").expect("break it");
    agent.wait_until(Duration::from_secs(5), "the broken file reported", || {
        agent.logs().contains("not usable yet")
    });
    let metrics = support::running::get(agent.admin.expect("admin"), "/metrics", &[]).body;
    assert!(metrics.contains(r#"gcp_token_agent_source_reloads_total{result="failure"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"stage="source""#), "{metrics}");
    assert_eq!(read(out, "token"), before, "the last good token stays");
    assert_eq!(agent.metadata_get("/computeMetadata/v1/instance/service-accounts/default/token").status, 200);
    // Deleted and turned into a directory (unreadable either way): reported, token kept.
    std::fs::remove_file(key).expect("delete it");
    std::fs::create_dir(key).expect("a directory in its place");
    agent.wait_until(Duration::from_secs(5), "the directory reported", || {
        metrics_contain(agent, r#"result="failure"} 2"#)
    });
    assert_eq!(read(out, "token"), before, "the last good token stays");
    std::fs::remove_dir(key).expect("remove the directory");
    std::fs::write(key, good).expect("fix it");
    agent.wait_until(Duration::from_secs(5), "a new token after the fix", || read(out, "token") != before);
}

fn metrics_contain(agent: &RunningAgent, needle: &str) -> bool {
    support::running::get(agent.admin.expect("admin"), "/metrics", &[]).body.contains(needle)
}

#[test]
fn a_reader_never_sees_a_torn_file_while_tokens_rotate_every_second() {
    let sidecar = sidecar(Some(2), &["--min-remaining", "0s"]);
    let (emulator, out) = (&sidecar.emulator, &sidecar.out);
    let (token_path, json_path) = (Path::new(&out).join("token"), Path::new(&out).join("token.json"));
    let mut reads = 0u32;
    // At least 100,000 reads, and through at least two rotations (events, not a time window;
    // the deadline only catches an agent that stopped rotating).
    let hang = Instant::now() + Duration::from_secs(60);
    while reads < 100_000 || emulator.calls("token") < 3 {
        assert!(Instant::now() < hang, "no rotation within 60 s");
        let token = std::fs::read_to_string(&token_path).expect("token is always there");
        assert!(token.starts_with("ya29.emu-") && token.len() > 40, "torn token read: {token:?}");
        let json = std::fs::read(&json_path).expect("token.json is always there");
        let parsed: Value = serde_json::from_slice(&json).expect("token.json always parses");
        assert!(parsed["access_token"].as_str().is_some_and(|t| t.starts_with("ya29.emu-")));
        reads += 2;
    }
    assert!(emulator.calls("token") >= 3, "tokens rotated during the reads: {}", emulator.calls("token"));
}

#[test]
fn an_outage_is_ridden_out_on_the_current_token_and_recovery_is_quick() {
    let sidecar = sidecar(Some(24), &["--min-remaining", "1s"]);
    let (emulator, out, agent) = (&sidecar.emulator, &sidecar.out, &sidecar.agent);
    let first = read(out, "token");
    for _ in 0..3 {
        emulator.push_fault(Fault::Status(503));
    }
    // The refresh at ~12 s fails three times (backoff ~1, 2, 4 s), then succeeds.
    agent.wait_until(Duration::from_secs(23), "a fresh token after the outage", || {
        let token = read(out, "token");
        let issued = emulator.issued(&token).expect("always an issued token");
        assert!(issued.expires_at > SystemTime::now(), "never an expired token in the file");
        token != first
    });
    assert_eq!(emulator.pending_faults(), 0);
    let metrics = support::running::get(agent.admin.expect("admin"), "/metrics", &[]).body;
    assert!(metrics.contains(r#"gcp_token_agent_refresh_total{reason="server_error",result="failure",stage="token_endpoint",token="access"} 3"#), "{metrics}");
    // The outage is over: the count an alert on refreshes failing reads is back to 0.
    assert!(
        metrics.contains(r#"gcp_token_agent_refresh_consecutive_failures{token="access"} 0"#),
        "{metrics}"
    );
    assert!(agent.logs().contains("keeping the current token until"));
}

#[test]
fn a_missing_output_directory_is_reported_and_recovered_from() {
    let sidecar = sidecar(Some(4), &["--min-remaining", "0s"]);
    let (out, agent) = (&sidecar.out, &sidecar.agent);
    std::fs::remove_dir_all(out).expect("remove the output dir");
    agent.wait_until(Duration::from_secs(8), "the write failure logged", || {
        agent.logs().contains("cannot write")
    });
    std::fs::create_dir_all(out).expect("recreate");
    agent.wait_until(Duration::from_secs(10), "files written again", || !read(out, "token").is_empty());
    let metrics = support::running::get(agent.admin.expect("admin"), "/metrics", &[]).body;
    assert!(
        metrics.contains(r#"gcp_token_agent_file_writes_total{file="token.json",result="failure"}"#),
        "{metrics}"
    );
}

#[test]
fn sigterm_drains_and_exits_zero_leaving_the_files() {
    // Nothing in flight: the drain ends at once, long before this grace (and the wait below).
    let mut sidecar = sidecar(None, &["--shutdown-grace", "60s"]);
    sidecar.agent.signal("TERM");
    assert_eq!(sidecar.agent.wait_exit(Duration::from_secs(15)), 0, "{}", sidecar.agent.logs());
    assert!(!read(&sidecar.out, "token").is_empty(), "files are left in place");
    assert!(sidecar.agent.logs().contains("shutting down"));
}

/// An on-demand token for other scopes, asked on a thread and held by a slow token endpoint:
/// returns once the mint is in flight.
fn slow_mint_in_flight(sidecar: &Sidecar) -> std::thread::JoinHandle<support::running::HttpAnswer> {
    sidecar.emulator.push_fault(Fault::Slow(Duration::from_secs(30)));
    let addr = sidecar.agent.metadata.expect("listener");
    let path = "/computeMetadata/v1/instance/service-accounts/default/token?scopes=https://www.googleapis.com/auth/pubsub";
    let in_flight =
        std::thread::spawn(move || support::running::get(addr, path, &[("Metadata-Flavor", "Google")]));
    sidecar.agent.wait_until(Duration::from_secs(10), "the slow mint in flight", || {
        sidecar.emulator.calls("token") >= 2
    });
    in_flight
}

#[test]
fn a_request_still_in_flight_when_the_grace_ends_is_answered_503_not_dropped() {
    let mut sidecar = sidecar(None, &["--shutdown-grace", "2s"]);
    // Held by a slow token endpoint past the grace.
    let in_flight = slow_mint_in_flight(&sidecar);
    sidecar.agent.signal("TERM");
    let answer = in_flight.join().expect("the request thread");
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.body.contains("shutting down"), "{}", answer.body);
    assert_eq!(sidecar.agent.wait_exit(Duration::from_secs(15)), 0, "{}", sidecar.agent.logs());
}

#[test]
fn a_second_sigterm_aborts_a_drain_that_is_waiting_for_a_slow_request() {
    let mut sidecar = sidecar(None, &["--shutdown-grace", "60s"]);
    let _in_flight = slow_mint_in_flight(&sidecar);
    sidecar.agent.signal("TERM");
    sidecar.agent.wait_until(Duration::from_secs(10), "the drain to start", || {
        sidecar.agent.logs().contains("shutting down")
    });
    sidecar.agent.signal("TERM");
    assert_eq!(sidecar.agent.wait_exit(Duration::from_secs(15)), 130, "{}", sidecar.agent.logs());
    assert!(sidecar.agent.logs().contains("second signal"), "{}", sidecar.agent.logs());
}

#[test]
#[ignore = "needs strace: scripts/setup/install-test-deps.sh"]
fn the_metadata_api_answers_while_a_token_file_write_is_stuck_in_fsync() {
    // strace holds every fsync for an hour: a volume that stopped answering. (`run` has one
    // worker thread; a write on it would hold every request.)
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let (_, key) = key_in(&emulator, &sandbox, "key.json");
    let out = out_dir(&sandbox);
    let strace = [
        "strace",
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        "trace=fsync",
        "-e",
        "inject=fsync:delay_enter=3600s",
    ];
    let agent =
        RunningAgent::start_under(&sandbox, &strace, "run", &["--credentials", &key, "--output-dir", &out]);
    // A write reaches its first fsync right after creating its temp file.
    let writing = || {
        std::fs::read_dir(&out)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
    };
    agent.wait_until(Duration::from_secs(20), "a token file write to begin", writing);
    let answer = agent.metadata_get("/computeMetadata/v1/instance/service-accounts/default/token");
    assert_eq!(answer.status, 200, "{answer:?}\n{}", agent.logs());
    let admin = agent.admin.expect("admin");
    let ready = support::running::get(admin, "/readyz", &[]);
    assert_eq!(ready.status, 503, "the files are not written yet, so not ready: {ready:?}");
    assert!(read(&out, "token").is_empty(), "the write is still held");
}
