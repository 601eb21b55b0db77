//! The runtime a long-running face (`run`, `webhook`) shares: the shutdown signal and the
//! process's tasks, its listeners bound before anything serves (a taken port fails fast with
//! the flag's name), the ready file, each listener served within its [`Limits`], and the
//! drain on SIGTERM.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use axum::Router;
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tokio_rustls::TlsAcceptor;

use super::{Limits, Site, serve};
use crate::error::{Error, Result};

/// One face's serving runtime; see the module docs.
pub(crate) struct Face {
    stop: watch::Sender<bool>,
    shutdown: watch::Receiver<bool>,
    /// The long-lived tasks; the face adds its own (owners, watchers) beside the servers.
    pub(crate) tasks: Tasks,
    health: Health,
    grace: Duration,
    listener: Option<TcpListener>,
    admin: Option<TcpListener>,
}

impl Face {
    /// A runtime whose servers let in-flight requests finish for at most `grace` on shutdown.
    pub(crate) fn new(grace: Duration) -> Self {
        let (stop, shutdown) = watch::channel(false);
        Self {
            stop,
            shutdown,
            tasks: Tasks::new(),
            health: Health::default(),
            grace,
            listener: None,
            admin: None,
        }
    }

    /// Turns true when the face drains.
    pub(crate) fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// What `/healthz` answers from.
    pub(crate) fn health(&self) -> Health {
        self.health.clone()
    }

    /// Binds the face's listener (`--listen`) and the admin listener (`--admin-listen`),
    /// either off when `None`, then writes `ready_file`.
    pub(crate) async fn bind(
        &mut self,
        listen: Option<SocketAddr>,
        admin_listen: Option<SocketAddr>,
        ready_file: Option<&Path>,
    ) -> Result<()> {
        async fn one(flag: &str, addr: Option<SocketAddr>) -> Result<Option<TcpListener>> {
            match addr {
                Some(addr) => bind(flag, addr).await.map(Some),
                None => Ok(None),
            }
        }
        self.listener = one("--listen", listen).await?;
        self.admin = one("--admin-listen", admin_listen).await?;
        let address = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
        write_ready_file(ready_file, address(&self.listener), address(&self.admin))
    }

    /// Serves `site` on the bound `--listen` listener (if any) within `limits`; `name` is the
    /// task's name when it ends.
    pub(crate) fn serve(
        &mut self,
        limits: Limits,
        tls: Option<TlsAcceptor>,
        site: impl Into<Site>,
        name: &'static str,
    ) {
        let Some(listener) = self.listener.take() else { return };
        self.spawn_server((listener, limits), tls, site.into(), name);
    }

    /// Serves the admin routes on the bound `--admin-listen` listener (if any).
    pub(crate) fn serve_admin(&mut self, router: Router, name: &'static str) {
        let Some(listener) = self.admin.take() else { return };
        self.spawn_server((listener, Limits::ADMIN), None, router.into(), name);
    }

    fn spawn_server(
        &mut self,
        listener: (TcpListener, Limits),
        tls: Option<TlsAcceptor>,
        site: Site,
        name: &'static str,
    ) {
        let serving = serve(listener, tls, site, self.shutdown.clone(), self.grace);
        self.tasks.spawn(async move {
            serving.await;
            name
        });
    }

    /// Runs until SIGTERM/SIGINT or until a task ends, then drains (see [`drain_on_signal`]).
    pub(crate) async fn drain(self) -> Result<()> {
        drain_on_signal(self.stop, self.tasks, self.grace, &self.health).await
    }
}

/// Binds `addr` for `flag`, failing with the flag's name (a taken port is a configuration error).
async fn bind(flag: &str, addr: SocketAddr) -> Result<TcpListener> {
    let listener = match TcpListener::bind(addr).await {
        // `[::]` serves IPv4 too, unless the node has IPv6 switched off: then IPv4 only.
        Err(e) if addr.ip() == std::net::Ipv6Addr::UNSPECIFIED && ipv6_missing(&e) => {
            let v4 = std::net::SocketAddr::from(([0, 0, 0, 0], addr.port()));
            tracing::info!("{flag}: IPv6 is not available here ({e}); listening on {v4} instead");
            TcpListener::bind(v4).await
        }
        other => other,
    }
    .map_err(|e| Error::usage(flag, format!("cannot listen on {addr}: {e}")))?;
    tracing::info!("{flag} listening on {}", listener.local_addr().unwrap_or(addr));
    Ok(listener)
}

/// Writes `{"listen": ADDR, "admin_listen": ADDR}` (null for a listener that is off) to
/// `--ready-file` once both are bound: the machine-readable way to learn the ports (with port
/// 0, or a fallback from `[::]`). It says nothing about tokens; `/readyz` does.
fn write_ready_file(
    path: Option<&Path>,
    listen: Option<std::net::SocketAddr>,
    admin: Option<std::net::SocketAddr>,
) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let show = |addr: Option<std::net::SocketAddr>| addr.map(|a| a.to_string());
    let body = serde_json::json!({ "listen": show(listen), "admin_listen": show(admin) }).to_string();
    crate::atomic::write_regular(path, body.as_bytes(), 0o644, false)
        .map_err(|source| Error::WriteFile { path: path.to_owned(), source })
}

/// EAFNOSUPPORT (kernel without IPv6) or EADDRNOTAVAIL (IPv6 disabled by sysctl).
fn ipv6_missing(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(97 | 99))
}

/// The long-lived tasks of a process (owners, file writers, servers), each returning its
/// name when it ends, so an unexpected end says which one stopped.
pub(crate) type Tasks = JoinSet<&'static str>;

/// Whether every long-lived task is still running; `/healthz` answers from it.
#[derive(Debug, Clone)]
pub(crate) struct Health(Arc<std::sync::atomic::AtomicBool>);

impl Default for Health {
    fn default() -> Self {
        Self(Arc::new(std::sync::atomic::AtomicBool::new(true)))
    }
}

impl Health {
    /// Whether nothing has failed.
    pub(crate) fn is_ok(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn fail(&self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Waits for SIGTERM or SIGINT, then drains `tasks`; a second signal aborts at once. SIGHUP
/// is logged and ignored (files are watched; there is nothing else to reload). If a task
/// ends first, `/healthz` turns red, the rest drain, and the error names the task, so the
/// process exits non-zero and Kubernetes restarts it.
async fn drain_on_signal(
    stop: watch::Sender<bool>,
    mut tasks: Tasks,
    grace: Duration,
    health: &Health,
) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handler = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| Error::Internal(format!("cannot handle {name}: {e}")))
    };
    let mut terminate = handler(SignalKind::terminate(), "SIGTERM")?;
    let mut hangup = handler(SignalKind::hangup(), "SIGHUP")?;
    let failure = loop {
        tokio::select! {
            _ = terminate.recv() => break None,
            _ = tokio::signal::ctrl_c() => break None,
            _ = hangup.recv() => tracing::info!("SIGHUP ignored: credential files are watched, nothing else reloads"),
            ended = tasks.join_next() => break Some(ended_unexpectedly(ended)),
        }
    };
    if let Some(why) = &failure {
        health.fail();
        tracing::error!("{why}; stopping so the process can be restarted");
    }
    tracing::info!("shutting down: finishing in-flight requests for at most {grace:?}");
    stop.send_replace(true);
    let drained = async { while tasks.join_next().await.is_some() {} };
    tokio::select! {
        () = drained => {}
        _ = terminate.recv() => abort(),
        _ = tokio::signal::ctrl_c() => abort(),
        () = tokio::time::sleep(grace.saturating_add(Duration::from_secs(1))) => tracing::warn!("drain deadline passed"),
    }
    tracing::info!("stopped");
    failure.map_or(Ok(()), |why| Err(Error::Internal(why)))
}

fn ended_unexpectedly(ended: Option<Result<&'static str, tokio::task::JoinError>>) -> String {
    match ended {
        Some(Ok(name)) => format!("the {name} task stopped unexpectedly"),
        Some(Err(e)) if e.is_panic() => "a task panicked".to_owned(),
        Some(Err(e)) => format!("a task failed: {e}"),
        None => "no task is running".to_owned(),
    }
}

fn abort() -> ! {
    tracing::warn!("second signal: aborting");
    std::process::exit(130)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_ends_turns_health_red_and_fails_the_process() {
        let health = Health::default();
        let (stop, mut shutdown) = watch::channel(false);
        let mut tasks = Tasks::new();
        tasks.spawn(async move {
            let _ = shutdown.wait_for(|stopped| *stopped).await;
            "metadata server"
        });
        tasks.spawn(async { "token owner" });
        let error = drain_on_signal(stop, tasks, Duration::from_secs(1), &health).await.expect_err("fails");
        assert!(error.to_string().contains("token owner"), "{error}");
        assert_eq!(error.exit_code(), crate::error::EXIT_OTHER);
        assert!(!health.is_ok());
    }

    #[tokio::test]
    async fn a_panicking_task_is_noticed_too() {
        let health = Health::default();
        let (stop, _) = watch::channel(false);
        let mut tasks = Tasks::new();
        tasks.spawn(async { panic!("injected failure") });
        let error = drain_on_signal(stop, tasks, Duration::from_secs(1), &health).await.expect_err("fails");
        assert!(error.to_string().contains("panicked"), "{error}");
        assert!(!health.is_ok());
    }
}
