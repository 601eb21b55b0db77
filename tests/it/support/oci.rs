//! A real OCI registry on loopback (Debian's `docker-registry`, the CNCF distribution server)
//! and helm with directories of its own, for pushing the release and installing from it.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use super::podman::{NEEDS_RELEASE, run};

/// Debian's `docker-registry` (CNCF distribution) on a loopback port, storing in a temp dir.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts it and waits until it listens.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // distribution takes a fixed address; a port the kernel just handed out is free.
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            dir.path().join("storage").display()
        );
        std::fs::write(&config, yaml).expect("write config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("docker-registry: {e} ({NEEDS_RELEASE})"));
        let registry = Self { host, child, _dir: dir };
        let addr: std::net::SocketAddr = registry.host.parse().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "docker-registry never listened on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// helm with its own configuration, cache and registry login directories.
pub struct Helm {
    home: tempfile::TempDir,
}

impl Helm {
    /// A helm with empty directories of its own.
    pub fn new() -> Self {
        Self { home: tempfile::tempdir().expect("temp dir") }
    }

    /// The variables that point helm at its directories.
    pub fn envs(&self) -> Vec<(String, String)> {
        let path = |name: &str| self.home.path().join(name).display().to_string();
        vec![
            ("HELM_CONFIG_HOME".into(), path("config")),
            ("HELM_CACHE_HOME".into(), path("cache")),
            ("HELM_DATA_HOME".into(), path("data")),
            ("HELM_REGISTRY_CONFIG".into(), path("config/registry.json")),
        ]
    }

    /// helm ARGS, which must succeed: its stdout and its stderr (where `push` and pulls report).
    pub fn ok(&self, args: &[&str]) -> (String, String) {
        let output = run(Command::new("helm").args(args).envs(self.envs()));
        let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "helm {args:?}:\n{out}{err}");
        (out.into_owned(), err.into_owned())
    }
}
