//! A stand-in git host over smart HTTP: a bare repository with one commit, served by the real
//! `git http-backend` run as a CGI program, behind HTTP Basic auth that takes a password the
//! test accepts (a token the emulator issued).

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use tempfile::TempDir;

use super::{
    clients::clean_command,
    http::{Passwords, Request, Response, Server},
};

/// The repository's name on the server.
pub const REPOSITORY: &str = "repo.git";

/// A running git host; dropping it stops it and removes the repository.
pub struct GitHost {
    server: Server,
    head: String,
    passwords: Passwords,
    _root: TempDir,
}

impl GitHost {
    /// A bare repository with one commit on `main`, pushed from a temp clone, served on
    /// 127.0.0.1; `accept` decides whether a Basic password is a valid token.
    pub fn start(accept: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let head = make_repository(root.path());
        let project_root = root.path().join("srv");
        let (server, passwords) = Server::behind_basic_auth(
            move |_, password| accept(password),
            || Response::challenge("stand-in git host"),
            move |request| http_backend(&project_root, request),
        );
        Self { server, head, passwords, _root: root }
    }

    /// `http://127.0.0.1:PORT/repo.git`.
    pub fn url(&self) -> String {
        format!("http://{}/{REPOSITORY}", self.server.host())
    }

    /// The commit `main` points at.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// Every Basic password presented so far, in order.
    pub fn passwords(&self) -> Vec<String> {
        self.passwords.lock().expect("lock").clone()
    }
}

/// `git` with a clean environment and no user or system configuration.
pub fn git(dir: &Path) -> Command {
    let mut command = clean_command("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    command
}

fn run_git(dir: &Path, args: &[&str]) -> String {
    let output = git(dir).args(args).output().expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `srv/repo.git` (bare) with one commit pushed from `work/`; returns the commit id.
fn make_repository(root: &Path) -> String {
    let bare = root.join("srv").join(REPOSITORY);
    std::fs::create_dir_all(&bare).expect("mkdir");
    run_git(&bare, &["init", "--quiet", "--bare", "--initial-branch=main"]);
    let work = root.join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    run_git(&work, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(work.join("README"), "stand-in\n").expect("write");
    run_git(&work, &["add", "README"]);
    let identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"];
    run_git(&work, &[&identity[..], &["commit", "--quiet", "-m", "first"]].concat());
    run_git(&work, &["push", "--quiet", bare.to_str().expect("utf8"), "main"]);
    run_git(&work, &["rev-parse", "HEAD"])
}

/// Runs `git http-backend` as a CGI program for one authenticated request.
fn http_backend(project_root: &Path, request: &Request) -> Response {
    let mut command = clean_command("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_USER", "oauth2accesstoken")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let forwarded = [
        ("content-type", "CONTENT_TYPE"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
    ];
    for (header, variable) in forwarded {
        if let Some(value) = request.header(header) {
            command.env(variable, value);
        }
    }
    let mut child = command.spawn().expect("git http-backend runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&request.body).expect("write the request body");
    drop(stdin);
    let output = child.wait_with_output().expect("git http-backend finishes");
    assert!(output.status.success(), "git http-backend: {}", String::from_utf8_lossy(&output.stderr));
    cgi_response(&output.stdout)
}

/// A CGI answer (headers, a blank line, the body) as an HTTP response; `Status:` sets the code.
fn cgi_response(output: &[u8]) -> Response {
    let split = output.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, i + 4));
    let split = split.or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2)));
    let (head_end, body_start) = split.expect("CGI headers end with a blank line");
    let head = String::from_utf8_lossy(&output[..head_end]);
    let mut response = Response { status: 200, headers: Vec::new(), body: output[body_start..].to_vec() };
    for line in head.lines() {
        let (name, value) = line.split_once(':').expect("CGI header");
        if name.eq_ignore_ascii_case("status") {
            response.status = value.trim()[..3].parse().expect("status code");
        } else {
            response.headers.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    response
}
