//! HTTP servers: the loopback metadata API, the admin listeners and the webhook's reviews. Each
//! takes a bound listener (tests bind port 0) and its [`Limits`], and drains on shutdown.

pub(crate) mod admin;
mod face;
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
};
use tokio_rustls::TlsAcceptor;

use crate::error::Result;
pub(crate) use face::{Face, Health, Tasks};
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
