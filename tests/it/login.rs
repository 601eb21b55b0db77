//! `login` end to end: the real binary, the emulator's consent pages and a real headless
//! Chromium (driven by playwright-core) clicking "Allow"; then the credential it wrote is used
//! by `print-access-token`. Failure paths send the loopback redirect by hand.

use crate::support;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{
    agent::{Output, Sandbox},
    emulator::{Emulator, Fault},
    running::get,
};

const USER: &str = "signer@example.com";
const LOGIN_SCOPES: &str =
    "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/cloud-platform";

/// A `login` in progress, past the printed URL; dropping it kills the agent.
struct Login {
    child: Child,
    stderr: Option<JoinHandle<String>>,
    /// The consent URL the agent printed.
    url: reqwest::Url,
}

impl Login {
    /// Starts `login --client-secrets SECRETS ARGS`.
    fn start(sandbox: &Sandbox, secrets: &str, args: &[&str]) -> Self {
        let mut command = sandbox.command();
        command.args(["login", "--client-secrets", secrets]).args(args);
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn login");
        let (found, url) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        // The whole of stderr is kept for assertions; the URL line is also handed over live.
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("    http") {
                    let _ = found.send(format!("http{url}"));
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let Ok(url) = url.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("login never printed an indented URL; stderr:\n{}", stderr.join().unwrap_or_default());
        };
        Self { child, stderr: Some(stderr), url: reqwest::Url::parse(&url).expect("the printed URL parses") }
    }

    /// One parameter of the consent URL.
    fn param(&self, name: &str) -> String {
        let mut values = self.url.query_pairs().filter(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        values.next().unwrap_or_else(|| panic!("no {name} in {}", self.url))
    }

    /// The loopback listener the redirect goes to.
    fn loopback(&self) -> SocketAddr {
        let redirect = reqwest::Url::parse(&self.param("redirect_uri")).expect("redirect_uri parses");
        SocketAddr::from(([127, 0, 0, 1], redirect.port().expect("redirect_uri has a port")))
    }

    /// Waits for the exit; panics (killing the agent) after `timeout`.
    fn finish(mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait().expect("try_wait") {
                Some(status) => break Some(status),
                None if Instant::now() > deadline => break None,
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let _ = self.child.kill();
        let mut stdout = String::new();
        self.child.stdout.take().expect("stdout").read_to_string(&mut stdout).expect("read stdout");
        let stderr = self.stderr.take().map(|t| t.join().expect("stderr reader")).unwrap_or_default();
        let status = status.unwrap_or_else(|| panic!("login did not exit within {timeout:?}:\n{stderr}"));
        Output { code: status.code().unwrap_or(-1), stdout, stderr }
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        // A failed assertion must not leave an agent waiting out its 5-minute timeout.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tests/interop/node: login.js and its node_modules.
fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/node")
}

/// Runs tests/interop/node/login.js: headless Chromium opens `url` and clicks Allow (or Deny).
fn browser(url: &str, deny: bool) -> String {
    let node = node_dir();
    let output = Command::new("node")
        .arg(node.join("login.js"))
        .arg(url)
        .args(deny.then_some("--deny"))
        .env("NODE_PATH", node.join("node_modules"))
        .stdin(Stdio::null())
        .output()
        .expect("node runs (see tests/interop/node/package.json; chromium is the Debian package)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser failed:\n{stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A second request to `addr` gets no answer. The agent drops its listener right after it has
/// answered the redirect, so a connection made in that instant may still be accepted by the
/// kernel, but it is then reset unanswered; any later one is refused outright.
fn unanswered(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return true };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ =
        stream.write_all(b"GET /?code=again&state=again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).is_err() || answer.is_empty()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("the credential file")).expect("JSON")
}

fn client_secrets(emulator: &Emulator, sandbox: &Sandbox, kind: &str) -> (String, Value) {
    let file = emulator.add_oauth_client(kind);
    (sandbox.write("client_secret.json", file.to_string()), file[kind].clone())
}

#[test]
#[ignore = "needs node and chromium (tests/interop/node): scripts/setup/install-test-deps.sh"]
fn a_person_signs_in_with_a_browser_and_the_credential_works() {
    let emulator = Emulator::start();
    emulator.set_consenting_user(USER);
    let sandbox = Sandbox::new();
    let (secrets, client) = client_secrets(&emulator, &sandbox, "installed");
    let out = sandbox.path("creds/user.json");
    let mut login =
        Login::start(&sandbox, &secrets, &["--no-browser", "--output", out.to_str().expect("utf8")]);
    assert!(login.url.as_str().starts_with(&format!("{}?", emulator.auth_uri())), "{}", login.url);
    let redirect_uri = login.param("redirect_uri");
    assert_eq!(redirect_uri, format!("http://{}/", login.loopback()));
    assert_eq!(login.param("scope"), LOGIN_SCOPES);
    // Hold the code exchange so the loopback can be probed while the agent still runs.
    emulator.push_fault_to("token", Fault::Slow(Duration::from_secs(2)));

    let page = browser(login.url.as_str(), false);
    assert!(page.contains("Signed in"), "{page}");
    assert!(login.child.try_wait().expect("try_wait").is_none(), "the agent is still exchanging the code");
    let probe = TcpStream::connect_timeout(&login.loopback(), Duration::from_secs(2));
    assert!(probe.is_err(), "the loopback listener closed after the one redirect");
    let output = login.finish(Duration::from_secs(30));
    assert_eq!(output.ok(), format!("{}\n", out.display()), "stdout is the path");

    let mode = std::fs::metadata(&out).expect("written").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the file holds a refresh token");
    let written = read_json(&out);
    let refresh_token = written["refresh_token"].as_str().expect("refresh_token").to_string();
    let expected = json!({
        "type": "authorized_user", "client_id": client["client_id"], "client_secret": client["client_secret"],
        "refresh_token": refresh_token, "token_uri": emulator.token_uri(),
    });
    assert_eq!(written, expected);
    let exchange = &emulator.requests_to("token")[0].form;
    assert_eq!(
        (exchange["grant_type"].as_str(), &exchange["redirect_uri"]),
        ("authorization_code", &redirect_uri)
    );

    let token = sandbox.run(&["print-access-token", "--credentials", out.to_str().expect("utf8")]);
    let issued = emulator.issued(token.ok().trim()).expect("a token the emulator issued");
    assert_eq!((issued.principal_email.as_str(), issued.scopes.join(" ")), (USER, LOGIN_SCOPES.to_string()));
}

#[test]
#[ignore = "needs node and chromium (tests/interop/node): scripts/setup/install-test-deps.sh"]
fn without_flags_the_browser_opens_and_a_web_client_credential_lands_where_adc_finds_it() {
    let emulator = Emulator::start();
    let mut sandbox = Sandbox::new();
    let config = sandbox.path("gcloud-config");
    sandbox.env("CLOUDSDK_CONFIG", &config);
    // $BROWSER is what the agent starts with the URL; here it is headless Chromium clicking Allow.
    let log = sandbox.path("browser.log");
    let opener =
        sandbox.write("open-browser", "#!/bin/sh\nexec node \"$LOGIN_JS\" \"$1\" >\"$LOGIN_LOG\" 2>&1\n");
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    sandbox.env("BROWSER", &opener).env("LOGIN_JS", node_dir().join("login.js")).env("LOGIN_LOG", &log);
    sandbox.env("NODE_PATH", node_dir().join("node_modules"));
    let (secrets, _) = client_secrets(&emulator, &sandbox, "web");
    let scopes = "https://www.googleapis.com/auth/cloud-platform";
    let login = Login::start(&sandbox, &secrets, &["--scopes", scopes, "--quota-project", "billing-1"]);
    let output = login.finish(Duration::from_secs(60));
    // The agent does not wait for the browser it started; the script logs "done" once Chromium is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut browser_log = String::new();
    while !browser_log.lines().any(|l| l == "done") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        browser_log = std::fs::read_to_string(&log).unwrap_or_default();
    }
    assert!(browser_log.contains("Signed in"), "browser:\n{browser_log}\nagent:\n{}", output.stderr);
    let adc = config.join("application_default_credentials.json");
    assert_eq!(output.ok(), format!("{}\n", adc.display()));
    assert_eq!(read_json(&adc)["quota_project_id"], "billing-1");

    let token = sandbox.run(&["print-access-token"]);
    let issued = emulator.issued(token.ok().trim()).expect("a token the emulator issued");
    assert_eq!(
        (issued.principal_email.as_str(), issued.scopes.join(" ")),
        ("person@example.com", scopes.into())
    );
}

/// Starts a login writing to a not-yet-existing directory; returns it with that directory.
fn failing_login(extra: &[&str]) -> (Emulator, Sandbox, Login, PathBuf) {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let (secrets, _) = client_secrets(&emulator, &sandbox, "installed");
    let dir = sandbox.path("never");
    let out = dir.join("user.json");
    let args = [&["--no-browser", "--output", out.to_str().expect("utf8")], extra].concat();
    let login = Login::start(&sandbox, &secrets, &args);
    (emulator, sandbox, login, dir)
}

/// The agent failed with one clear line containing `reason`, contacted no token endpoint and wrote nothing.
#[track_caller]
/// `code`: 69 when the user or Google refused, 1 when nobody signed in in time.
fn assert_failed_cleanly(login: Login, emulator: &Emulator, dir: &Path, reason: &str, code: i32) {
    let loopback = login.loopback();
    let output = login.finish(Duration::from_secs(30));
    let stderr = output.fails_with(code);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("gcp-token-agent: error: ") && last.contains(reason), "{stderr}");
    assert_eq!(emulator.calls("token"), 0);
    assert!(!dir.exists(), "nothing was written");
    assert!(unanswered(loopback), "the listener is gone");
}

#[test]
fn a_denial_fails_and_writes_nothing_and_stray_or_forged_redirects_are_ignored() {
    let (emulator, _sandbox, login, dir) = failing_login(&[]);
    // Any web page can send the browser to the loopback port: without this login's state the
    // request is answered and ignored, and the login keeps waiting.
    for stray in
        ["/?code=4%2F0Aforged&state=not-this-login", "/?code=4%2F0Aforged", "/?error=access_denied", "/"]
    {
        let answer = get(login.loopback(), stray, &[]);
        assert_eq!(answer.status, 400, "{stray}");
        assert!(answer.body.contains("Not this sign-in"), "{stray}: {}", answer.body);
    }
    assert!(!unanswered(login.loopback()), "still listening after stray requests");
    // A denial carries this login's state: it ends the login.
    let state = login.param("state");
    let answer = get(login.loopback(), &format!("/?error=access_denied%0AFORGED&state={state}"), &[]);
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("Sign-in failed"), "{}", answer.body);
    assert!(unanswered(login.loopback()), "one redirect only");
    assert_failed_cleanly(login, &emulator, &dir, "access_denied\\nFORGED", 69);
}

#[test]
fn login_urls_must_be_https_or_loopback_http_and_are_refused_at_once() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let good = emulator.add_oauth_client("installed");
    for (field, value) in [
        ("token_uri", "http://oauth.example.com/token"),
        ("token_uri", "file:///etc/passwd"),
        ("token_uri", "ftp://oauth.example.com/token"),
        ("auth_uri", "javascript:alert(1)"),
        ("auth_uri", "data:text/html,hi"),
        ("auth_uri", "file:///etc/passwd"),
        ("token_uri", "https://user:s3cret/x@oauth.example.com/token"),
    ] {
        let mut secrets = good.clone();
        secrets["installed"][field] = value.into();
        let path = sandbox.write("bad-client.json", secrets.to_string());
        let out = sandbox.run(&["login", "--no-browser", "--client-secrets", &path]);
        let message = out.fails_with(64);
        assert!(message.contains(field) && !message.contains("s3cret"), "{value}: {message}");
        assert!(!message.contains("Open this URL"), "refused before the flow starts: {message}");
    }
    assert_eq!(emulator.calls("token"), 0);
}

#[test]
#[ignore = "needs node and chromium (tests/interop/node): scripts/setup/install-test-deps.sh"]
fn clicking_deny_in_the_browser_fails_and_writes_nothing() {
    let (emulator, _sandbox, login, dir) = failing_login(&[]);
    assert!(browser(login.url.as_str(), true).contains("Sign-in failed"));
    assert_failed_cleanly(login, &emulator, &dir, "access_denied", 69);
}

#[test]
fn no_redirect_before_the_timeout_fails_and_writes_nothing() {
    let started = Instant::now();
    let (emulator, _sandbox, login, dir) = failing_login(&["--timeout", "1s"]);
    assert_failed_cleanly(login, &emulator, &dir, "no sign-in completed within 1s", 1);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_code_the_token_endpoint_refuses_fails_after_the_redirect_and_writes_nothing() {
    let (emulator, _sandbox, login, dir) = failing_login(&[]);
    let state = login.param("state");
    // The right state but a code the emulator never issued: the exchange gets invalid_grant.
    let answer = get(login.loopback(), &format!("/?code=4%2F0Anever-issued&state={state}"), &[]);
    assert_eq!(answer.status, 200);
    let output = login.finish(Duration::from_secs(30));
    let stderr = output.fails_with(69);
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert_eq!(emulator.requests_to("token")[0].form["code"], "4/0Anever-issued", "sent percent-decoded");
    assert!(!dir.exists(), "nothing was written");
}

#[test]
fn a_fixed_port_is_used_and_a_busy_one_is_a_usage_error() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let (secrets, _) = client_secrets(&emulator, &sandbox, "installed");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port().to_string();
    let output = sandbox.run(&["login", "--client-secrets", &secrets, "--no-browser", "--port", &port]);
    let stderr = output.fails_with(64);
    assert!(stderr.contains(&format!("--port: cannot listen on 127.0.0.1:{port}")), "{stderr}");
    drop(busy);
    let login = Login::start(&sandbox, &secrets, &["--no-browser", "--port", &port, "--timeout", "1s"]);
    assert_eq!(login.param("redirect_uri"), format!("http://127.0.0.1:{port}/"));
    assert_ne!(login.finish(Duration::from_secs(30)).code, 0);
}
