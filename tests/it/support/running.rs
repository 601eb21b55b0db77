//! A live `gcp-token-agent run` process: its logs, its listeners, a tiny HTTP client, signals.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::agent::Sandbox;

/// A running agent; dropping it kills the process.
pub struct RunningAgent {
    child: Child,
    logs: Arc<Mutex<String>>,
    /// The metadata API address, if enabled.
    pub metadata: Option<SocketAddr>,
    /// The admin address, if enabled.
    pub admin: Option<SocketAddr>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl HttpAnswer {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl RunningAgent {
    /// Starts `run ARGS` with both listeners on free loopback ports and waits until they listen.
    pub fn start(sandbox: &Sandbox, args: &[&str]) -> Self {
        Self::start_command(sandbox, "run", args)
    }

    /// Starts `SUBCOMMAND ARGS` (run or webhook) with both listeners on free loopback ports,
    /// learning them from `--ready-file` (the documented, machine-readable way), not from logs.
    pub fn start_command(sandbox: &Sandbox, subcommand: &str, args: &[&str]) -> Self {
        Self::start_under(sandbox, &[], subcommand, args)
    }

    /// Like [`RunningAgent::start_command`], run by `wrapper` (a program and its arguments,
    /// e.g. strace) when it is not empty; dropping the agent then kills the wrapper's children
    /// too, which a dying tracer would leave running.
    pub fn start_under(sandbox: &Sandbox, wrapper: &[&str], subcommand: &str, args: &[&str]) -> Self {
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ready = sandbox.path(&format!("ready-{n}.json"));
        let mut command = match wrapper.split_first() {
            None => sandbox.command(),
            Some((program, wrapper_args)) => {
                let mut command = sandbox.command_for(program);
                command.args(wrapper_args).arg(super::agent::BIN);
                command
            }
        };
        command
            .arg(subcommand)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--ready-file"])
            .arg(&ready)
            .args(args);
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn run");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut logs = sink.lock().expect("lock");
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let mut agent = Self { child, logs, metadata: None, admin: None };
        let addresses = agent.wait_for_ready_file(&ready);
        let address = |key: &str| addresses[key].as_str().and_then(|a| a.parse().ok());
        agent.metadata = address("listen");
        agent.admin = address("admin_listen");
        agent
    }

    fn wait_for_ready_file(&mut self, path: &std::path::Path) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(value) = std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
                return value;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the agent exited with {status}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the agent never wrote {}:\n{}", path.display(), self.logs());
    }

    /// Everything the agent logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("lock").clone()
    }

    /// Waits until `predicate` holds (checked every 20 ms), panicking with the logs after `timeout`.
    #[track_caller]
    pub fn wait_until(&self, timeout: Duration, what: &str, mut predicate: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if predicate() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for {what}; agent logs:\n{}", self.logs());
    }

    /// Waits for `/readyz` to answer 200.
    #[track_caller]
    pub fn wait_ready(&self) {
        let admin = self.admin.expect("admin listener");
        self.wait_until(Duration::from_secs(20), "readiness", || get(admin, "/readyz", &[]).status == 200);
    }

    /// GET on the metadata API with `Metadata-Flavor: Google`.
    pub fn metadata_get(&self, path: &str) -> HttpAnswer {
        get(self.metadata.expect("metadata listener"), path, &[("Metadata-Flavor", "Google")])
    }

    /// Sends a signal (by name, e.g. "TERM"), with kill(2) itself: a bare machine has no kill(1).
    pub fn signal(&self, name: &str) {
        use rustix::process::{Pid, Signal, kill_process};
        let signal = match name {
            "TERM" => Signal::TERM,
            "INT" => Signal::INT,
            "HUP" => Signal::HUP,
            "QUIT" => Signal::QUIT,
            "KILL" => Signal::KILL,
            "USR1" => Signal::USR1,
            "USR2" => Signal::USR2,
            other => panic!("no signal named {other} in RunningAgent::signal"),
        };
        kill_process(Pid::from_child(&self.child), signal).expect("kill(2) the agent");
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the agent did not exit within {timeout:?}:\n{}", self.logs());
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        let pid = self.child.id();
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let pids = children.split_whitespace().filter_map(|c| c.parse().ok());
        for child in pids.filter_map(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(child, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET (Connection: close), enough for these tests.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(40))).expect("timeout");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    // One write: the whole request in one segment, as real clients send it.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status =
        lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpAnswer { status, headers, body: body.to_owned() }
}
