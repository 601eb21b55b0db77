//! Running the real `gcp-token-agent` binary in a sandbox: a temp HOME and cache, and a clean
//! environment, so a developer's own credentials never leak into a test.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_gcp-token-agent");

/// What a finished run printed.
#[derive(Debug)]
pub struct Output {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Runs `command` with `input` on its stdin and waits.
    pub fn of(command: &mut Command, input: &[u8]) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        // The program may stop reading early (an overlong line): a broken pipe is its answer.
        let _ = std::io::Write::write_all(&mut stdin, input);
        drop(stdin);
        let output = child.wait_with_output().expect("wait");
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success; stderr:\n{}", self.stderr);
        &self.stdout
    }

    /// Asserts failure with `code` and one error line, and returns stderr.
    #[track_caller]
    pub fn fails_with(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "stdout: {}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(self.stdout.is_empty(), "stdout must stay empty on failure: {}", self.stdout);
        self.stderr.trim_end()
    }
}

/// A temp directory acting as HOME, with helpers to run the agent inside it.
pub struct Sandbox {
    dir: TempDir,
    envs: Vec<(String, std::ffi::OsString)>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A fresh sandbox. Tests never reach Google: `run`'s numeric project id lookup goes to a
    /// closed local port (one warning in the log) unless a test points it at the emulator.
    pub fn new() -> Self {
        let lookup = ("GCP_TOKEN_AGENT_RESOURCE_MANAGER_ENDPOINT".to_owned(), "http://127.0.0.1:1".into());
        Self { dir: tempfile::tempdir().expect("temp dir"), envs: vec![lookup] }
    }

    /// A path inside the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The sandbox root (HOME).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The cache directory the agent uses here.
    pub fn cache_dir(&self) -> PathBuf {
        self.path("cache").join("gcp-token-agent")
    }

    /// Sets an environment variable for every later run.
    pub fn env(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut Self {
        self.envs.push((key.to_owned(), value.as_ref().to_owned()));
        self
    }

    /// A command for the agent with a clean environment: HOME and XDG_CACHE_HOME in the
    /// sandbox, PATH kept, and whatever [`Sandbox::env`] added.
    pub fn command(&self) -> Command {
        self.command_for(BIN)
    }

    /// Like [`Sandbox::command`], for `program`: the agent by another name (a helper's
    /// symlink), or a client that runs it.
    pub fn command_for(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("HOME", self.root())
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// Runs the agent with `args` and waits.
    pub fn run(&self, args: &[&str]) -> Output {
        let output = self.command().args(args).output().expect("run gcp-token-agent");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs the agent with `args`, `input` on its stdin, and waits.
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        Output::of(self.command().args(args), input)
    }

    /// Writes `contents` to `name` in the sandbox and returns its path as a string.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, contents).expect("write file");
        path.to_string_lossy().into_owned()
    }
}
