//! The git credential helper: the protocol as the binary speaks it, and real git — `git
//! credential fill` and `git ls-remote` against a smart-HTTP stand-in (`git http-backend`)
//! that accepts only tokens the emulator issued — finding the helper on PATH by its name.

use crate::support;

use std::{path::Path, sync::Arc};

use support::{
    agent::{Output, Sandbox},
    emulator::Emulator,
    git_http::GitHost,
};

const EMAIL: &str = "source@emulator-project.iam.gserviceaccount.com";
const HELPER: &str = "git-credential-gcp-token-agent";

/// An emulator with one service account; a sandbox whose GOOGLE_APPLICATION_CREDENTIALS is its
/// key, with the helpers' links made by `configure-docker --install-links` in `bin/`.
fn setup() -> (Arc<Emulator>, Sandbox) {
    let emulator = Arc::new(Emulator::start());
    let mut sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write key");
    let docker = sandbox.path("docker");
    sandbox.env("GOOGLE_APPLICATION_CREDENTIALS", &key).env("DOCKER_CONFIG", docker);
    std::fs::create_dir_all(sandbox.path("bin")).expect("mkdir bin");
    let bin = sandbox.path("bin").to_string_lossy().into_owned();
    sandbox.run(&["configure-docker", "--install-links", &bin, "gcr.io"]).ok();
    (emulator, sandbox)
}

/// `git ARGS` in the sandbox's environment (its key, cache and HOME), with `gitconfig` as the
/// global configuration and `bin/` first on PATH; never prompting.
fn sandbox_git(sandbox: &Sandbox, gitconfig: &str, args: &[&str], input: &[u8]) -> Output {
    let system = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(sandbox.path("bin")).chain(std::env::split_paths(&system));
    let mut command = sandbox.command_for("git");
    command
        .args(args)
        .current_dir(sandbox.root())
        .env("PATH", std::env::join_paths(dirs).expect("PATH"))
        .env("GIT_CONFIG_GLOBAL", sandbox.write("gitconfig", gitconfig))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0");
    Output::of(&mut command, input)
}

const WITH_HELPER: &str = "[credential]\n\thelper = gcp-token-agent\n";

/// The value of `key=` in git's key=value output.
fn value<'a>(output: &'a str, key: &str) -> Option<&'a str> {
    output.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

#[test]
#[ignore = "needs git: scripts/setup/install-test-deps.sh"]
fn git_credential_fill_gets_an_issued_token_from_the_helper_on_path() {
    let (emulator, sandbox) = setup();
    let fill = b"protocol=https\nhost=source.developers.google.com\npath=p/my-project/r/repo\n\n";
    let out = sandbox_git(&sandbox, WITH_HELPER, &["credential", "fill"], fill);
    let answer = out.ok();
    assert_eq!(value(answer, "username"), Some("oauth2accesstoken"), "{answer}");
    let password = value(answer, "password").expect("a password");
    assert_eq!(emulator.issued(password).expect("issued by the emulator").principal_email, EMAIL);
    let expiry: u64 = value(answer, "password_expiry_utc").expect("expiry").parse().expect("unix seconds");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs();
    assert!(expiry > now + 300, "the token's expiry, at least 5 minutes out");
    assert_eq!(
        sandbox.run(&["print-access-token"]).ok().trim(),
        password,
        "print-access-token's cache entry"
    );
    assert_eq!(emulator.calls("token"), 1);
}

/// The global helper, opted in for the stand-in git server (plain http on loopback).
fn helper_allowing(host: &GitHost) -> String {
    let authority = host.url().trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
    format!("[credential]\n\thelper = gcp-token-agent --allow-host {authority}\n")
}

#[test]
#[ignore = "needs git: scripts/setup/install-test-deps.sh"]
fn git_ls_remote_lists_the_branch_with_the_opted_in_helper_and_fails_without_it() {
    let (emulator, sandbox) = setup();
    let ledger = Arc::clone(&emulator);
    let host = GitHost::start(move |token| ledger.issued(token).is_some());
    let url = host.url();
    let listed = sandbox_git(&sandbox, &helper_allowing(&host), &["ls-remote", &url], b"");
    let refs = listed.ok();
    assert!(refs.contains(&format!("{}\trefs/heads/main", host.head())), "{refs}");
    let password = host.passwords().last().cloned().expect("git sent Basic credentials");
    assert!(emulator.issued(&password).is_some());

    let before = host.passwords().len();
    let without = sandbox_git(&sandbox, "", &["ls-remote", &url], b"");
    assert_ne!(without.code, 0, "no helper, no prompt: {}", without.stdout);
    assert_eq!(host.passwords().len(), before, "no credentials were sent");

    // The unscoped helper without the opt-in: this is not Google's host, so no token.
    let unscoped = sandbox_git(&sandbox, WITH_HELPER, &["ls-remote", &url], b"");
    assert_ne!(unscoped.code, 0, "no token for another host: {}", unscoped.stdout);
    assert_eq!(host.passwords().len(), before, "no credentials were sent");
    assert!(unscoped.stderr.contains("--allow-host"), "{}", unscoped.stderr);

    let bogus = "[credential]\n\thelper = \"!f() { echo username=oauth2accesstoken; echo password=ya29.bogus; }; f\"\n";
    let refused = sandbox_git(&sandbox, bogus, &["ls-remote", &url], b"");
    assert_ne!(refused.code, 0, "a token the emulator never issued: {}", refused.stdout);
    assert!(refused.stderr.contains("Authentication failed"), "{}", refused.stderr);
    assert_eq!(host.passwords().last().map(String::as_str), Some("ya29.bogus"));
    assert_eq!(emulator.calls("token"), 1);
}

#[test]
#[ignore = "needs git: scripts/setup/install-test-deps.sh"]
fn git_credential_fill_gives_no_password_over_http_or_to_other_hosts_without_an_opt_in() {
    let (emulator, sandbox) = setup();
    let fill = |gitconfig: &str, protocol: &str, host: &str| {
        let request = format!("protocol={protocol}\nhost={host}\npath=r\n\n");
        sandbox_git(&sandbox, gitconfig, &["credential", "fill"], request.as_bytes())
    };
    let opted = "[credential]\n\thelper = gcp-token-agent --allow-host git.example.com\n";
    for (config, protocol, host) in [
        (WITH_HELPER, "http", "attacker"),
        (WITH_HELPER, "http", "source.developers.google.com"),
        (WITH_HELPER, "https", "github.com"),
        (WITH_HELPER, "https", "source.developers.google.com.evil.example"),
        (opted, "http", "git.example.com"),
        (opted, "https", "other.example.com"),
    ] {
        let out = fill(config, protocol, host);
        assert_eq!(value(&out.stdout, "password"), None, "{protocol}://{host}: {}", out.stdout);
    }
    assert_eq!(emulator.calls("token"), 0, "no token was even minted");
    let google = fill(WITH_HELPER, "https", "us-central1-git.sourcemanager.dev");
    assert!(value(google.ok(), "password").is_some_and(|p| emulator.issued(p).is_some()));
    let allowed = fill(opted, "https", "git.example.com:8443");
    assert!(value(allowed.ok(), "password").is_some_and(|p| emulator.issued(p).is_some()));
    let direct = sandbox.run_with_input(&["git-credential", "get"], b"protocol=http\nhost=attacker\n\n");
    assert_eq!(direct.code, 1, "{}", direct.stderr);
    assert!(direct.stdout.is_empty() && direct.stderr.contains("plain http"), "{}", direct.stderr);
}

#[test]
#[ignore = "needs git: scripts/setup/install-test-deps.sh"]
fn a_helper_scoped_to_another_host_is_not_asked() {
    let (emulator, sandbox) = setup();
    let ledger = Arc::clone(&emulator);
    let host = GitHost::start(move |token| ledger.issued(token).is_some());
    let scoped = "[credential \"https://source.developers.google.com\"]\n\thelper = gcp-token-agent\n";
    let out = sandbox_git(&sandbox, scoped, &["ls-remote", &host.url()], b"");
    assert_ne!(out.code, 0);
    assert_eq!(emulator.calls("token"), 0, "credential.URL.helper limits the helper to its host");
}

#[test]
fn store_and_erase_read_stdin_and_do_nothing_by_subcommand_and_by_link() {
    let (emulator, sandbox) = setup();
    let stored = b"protocol=https\nhost=h\nusername=oauth2accesstoken\npassword=ya29.x\n\n";
    for action in ["store", "erase"] {
        let out = sandbox.run_with_input(&["git-credential", action], stored);
        assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "", ""), "{action}");
        let by_link = Output::of(sandbox.command_for(sandbox.path("bin").join(HELPER)).arg(action), stored);
        assert_eq!((by_link.code, by_link.stdout.as_str()), (0, ""), "{action}: {}", by_link.stderr);
    }
    assert_eq!(emulator.calls("token"), 0);
}

#[test]
fn get_answers_by_link_with_the_same_cached_token() {
    let (emulator, sandbox) = setup();
    let link = sandbox.path("bin").join(HELPER);
    assert_eq!(std::fs::read_link(&link).expect("link"), Path::new(support::agent::BIN));
    let request = b"protocol=https\nhost=source.developers.google.com";
    let by_link = Output::of(sandbox.command_for(&link).arg("get"), request);
    let by_subcommand =
        sandbox.run_with_input(&["git-credential", "get"], &[request.as_slice(), b"\n\n"].concat());
    assert_eq!(by_link.ok(), by_subcommand.ok(), "EOF ends a request as a blank line does");
    let password = value(by_link.ok(), "password").expect("password");
    assert!(emulator.issued(password).is_some());
    assert!(!by_link.stderr.contains(password));
    assert_eq!(emulator.calls("token"), 1);
}

#[test]
fn malformed_requests_and_unknown_actions_are_bad_usage() {
    let (emulator, sandbox) = setup();
    let no_equals = sandbox.run_with_input(&["git-credential", "get"], b"protocol=https\nya29.secret\n\n");
    let message = no_equals.fails_with(64);
    assert_eq!(message, "gcp-token-agent: error: git-credential get: stdin: line 2 is not key=value");
    let binary = sandbox.run_with_input(&["git-credential", "get"], b"host=\xff\n");
    assert!(binary.fails_with(64).contains("line 1 is not UTF-8"), "{}", binary.stderr);
    let long = [b"path=".as_slice(), &vec![b'a'; 100_000], b"\n"].concat();
    let overlong = sandbox.run_with_input(&["git-credential", "get"], &long);
    assert!(overlong.fails_with(64).contains("line 1 is longer than 64 KiB"), "{}", overlong.stderr);
    let unknown = sandbox.run(&["git-credential", "list"]);
    assert!(unknown.fails_with(64).contains("invalid value 'list'"), "{}", unknown.stderr);
    assert_eq!(emulator.calls("token"), 0);
}
