//! HTTP servers: the loopback metadata API, the admin listeners and the webhook's reviews. Each
//! takes a bound listener (tests bind port 0) and its [`Limits`], and drains on shutdown.

pub(crate) mod admin;
pub(crate) mod instance;
mod kept;
mod limits;
pub(crate) mod metadata;
mod rendered;

use std::{sync::Arc, time::Duration};

use std::{convert::Infallible, future::Future};

use axum::{
    Router,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use hyper::{body::Incoming, service::Service};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::{Semaphore, watch},
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};
pub(crate) use limits::Limits;
use limits::WriteDeadline;

/// What a listener serves: the routes, and optionally a hot path that answers the most
/// frequent request without routing (the metadata token route).
#[derive(Clone)]
pub(crate) struct Site {
    pub(crate) router: Router,
    pub(crate) hot: Option<HotPath>,
}

/// Answers a request at once when it can, from its method, URI and headers; `None` hands it
/// to the router.
pub(crate) type HotPath = Arc<dyn Fn(&Method, &Uri, &HeaderMap) -> Option<Response> + Send + Sync>;

impl From<Router> for Site {
    fn from(router: Router) -> Self {
        Self { router, hot: None }
    }
}

/// Serves `site` on `listener` (over TLS when `tls` is given) within `limits` until `shutdown`
/// turns true, then lets in-flight requests finish for at most `grace`; one still running just
/// before the grace ends is answered 503 rather than cut off without an answer.
pub(crate) async fn serve(
    (listener, limits): (TcpListener, Limits),
    tls: Option<TlsAcceptor>,
    site: impl Into<Site>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let site = site.into();
    let slots = Arc::new(Semaphore::new(limits.connections));
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        limits.apply(&stream);
        let stream = WriteDeadline::new(stream, limits.write_timeout);
        let (site, tls, stop) = (site.clone(), tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let serving = Serving { site, stop, grace, limits };
            match tls {
                None => connection(stream, serving).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => connection(stream, serving).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    // Every connection holds a permit: having them all back means every connection closed.
    let all = u32::try_from(limits.connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("shutdown grace of {grace:?} elapsed with requests still in flight");
    }
}

/// Runs `routed`, or answers 503 shortly before the grace that began at shutdown ends,
/// leaving time to send the answer.
async fn within_grace(
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    routed: impl Future<Output = Result<Response, Infallible>>,
) -> Result<Response, Infallible> {
    let cut_off = async {
        if stop.wait_for(|stopping| *stopping).await.is_err() {
            // No shutdown can come any more: never cut off.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace.saturating_sub(grace / 10).saturating_sub(ANSWER_TIME)).await;
    };
    tokio::select! {
        response = routed => response,
        () = cut_off => {
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, "shutting down; ask again\n").into_response();
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(response)
        }
    }
}

/// What answering a request cut off at the end of the grace may take.
const ANSWER_TIME: Duration = Duration::from_millis(100);

/// A request answered by the hot path, or on its way through the router.
enum Answer<F> {
    Ready(Response),
    Routed(F),
}

/// What a connection is served with.
struct Serving {
    site: Site,
    /// Turns true at shutdown.
    stop: watch::Receiver<bool>,
    grace: Duration,
    limits: Limits,
}

/// One HTTP/1.1 connection, closed gracefully when `stop` turns true.
async fn connection<I>(io: I, serving: Serving)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Serving { site: Site { router, hot }, stop, grace, limits } = serving;
    let routed = TowerToHyperService::new(router);
    let requests = stop.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let head = |hot: &HotPath| hot(request.method(), request.uri(), request.headers());
        let answer = match hot.as_ref().and_then(head) {
            Some(response) => Answer::Ready(response),
            None => Answer::Routed(routed.call(request)),
        };
        let stop = requests.clone();
        async move {
            match answer {
                Answer::Ready(response) => Ok(response),
                Answer::Routed(routed) => within_grace(stop, grace, routed).await,
            }
        }
    });
    let connection = limits.http1().serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut stop = stop;
    tokio::select! {
        _ = connection.as_mut() => {}
        () = async { let _ = stop.wait_for(|s| *s).await; } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Binds `addr` for `flag`, failing with the flag's name (a taken port is a configuration error).
pub(crate) async fn bind(flag: &str, addr: std::net::SocketAddr) -> Result<TcpListener> {
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
pub(crate) fn write_ready_file(
    path: Option<&std::path::Path>,
    listen: Option<std::net::SocketAddr>,
    admin: Option<std::net::SocketAddr>,
) -> Result<()> {
    let Some(path) = path else { return Ok(()) };
    let show = |addr: Option<std::net::SocketAddr>| addr.map(|a| a.to_string());
    let body = serde_json::json!({ "listen": show(listen), "admin_listen": show(admin) }).to_string();
    crate::sinks::atomic::write_regular(path, body.as_bytes(), 0o644, false)
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
pub(crate) async fn drain_on_signal(
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
