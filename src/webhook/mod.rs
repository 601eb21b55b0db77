//! `webhook`: the mutating admission webhook that injects `run` into pods labelled
//! `gcp-token-agent.io/inject: "true"`. A thin HTTPS adaptor ([`handler`]) over a pure
//! mutation ([`mutate`]); TLS files are re-read when they rotate ([`tls`]).

pub mod annotations;
pub mod handler;
pub mod mutate;
pub mod tls;

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::post};
use tokio::{sync::watch, task::JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::{
    cli::{SidecarMode, WebhookArgs},
    error::{Error, Result},
    server::{self, admin},
    telemetry::metrics::Metrics,
    watch as source_watch,
};
use handler::WebhookState;
use mutate::InjectContext;

/// Native sidecars (init containers with `restartPolicy: Always`) are on by default from 1.29.
const NATIVE_SIDECAR_MINOR: u32 = 29;

/// Runs the webhook until SIGTERM/SIGINT.
pub async fn run(args: &WebhookArgs) -> Result<()> {
    if let Some(provider) =
        args.workload_identity_provider.as_deref().filter(|p| *p != annotations::METADATA_PROVIDER)
    {
        crate::credentials::external_account::check_audience(provider)
            .map_err(|why| Error::usage("--workload-identity-provider", why))?;
    }
    let metrics = Metrics::new();
    let cert = tls::ReloadingCert::load(&args.tls_cert, &args.tls_key)?;
    let acceptor = TlsAcceptor::from(Arc::new(cert.server_config()?));
    let client = match kube::Client::try_default().await {
        Ok(client) => Some(client),
        Err(e) => {
            tracing::warn!("no Kubernetes API access ({e}); service-account annotations will not be read");
            None
        }
    };
    let native_sidecar = native_sidecars(args.sidecar_mode, client.as_ref()).await;
    tracing::info!(
        native_sidecar,
        "injecting the agent as a {} sidecar",
        if native_sidecar { "native" } else { "classic" }
    );
    let context = InjectContext {
        agent_image: args.agent_image.clone(),
        default_provider: args.workload_identity_provider.clone(),
        native_sidecar,
        project_id: args.project_id.clone(),
        metadata_port: args.agent_port,
        admin_port: args.agent_admin_port,
        ksa_service_account: None,
    };
    let state = Arc::new(WebhookState { context, client, metrics: metrics.clone() });
    let (stop, shutdown) = watch::channel(false);
    let _watch = watch_certificates(&cert, &metrics);
    let mut servers = JoinSet::new();
    let review = Router::new().route("/mutate", post(handler::review)).with_state(state);
    let listener = server::bind("--listen", args.listen).await?;
    servers.spawn(server::serve(listener, Some(acceptor), review, shutdown.clone(), args.shutdown_grace));
    let admin_state = admin::AdminState { tokens: Vec::new(), min_remaining: Duration::ZERO, metrics };
    let listener = server::bind("--admin-listen", args.admin_listen).await?;
    servers.spawn(server::serve(listener, None, admin::router(admin_state), shutdown, args.shutdown_grace));
    server::drain_on_signal(stop, servers, args.shutdown_grace).await
}

/// Re-reads the certificate pair whenever either file changes (cert-manager, Secret swaps).
fn watch_certificates(cert: &Arc<tls::ReloadingCert>, metrics: &Metrics) -> source_watch::SourceWatch {
    let (reload_tx, mut reload) = watch::channel(0u64);
    let check_cert = cert.clone();
    let check: source_watch::CheckFn = Arc::new(move || check_cert.reload());
    let watcher = source_watch::spawn(cert.files(), reload_tx, check, metrics.clone());
    tokio::spawn(async move {
        while reload.changed().await.is_ok() {
            tracing::info!(
                "TLS certificate files changed; new handshakes use the new pair once it is complete"
            );
        }
    });
    watcher
}

/// `auto` asks the API server for its version; without one, native is assumed.
async fn native_sidecars(mode: SidecarMode, client: Option<&kube::Client>) -> bool {
    match mode {
        SidecarMode::Native => true,
        SidecarMode::Classic => false,
        SidecarMode::Auto => match client {
            None => true,
            Some(client) => match client.apiserver_version().await {
                Ok(info) => {
                    let minor: u32 = info.minor.trim_end_matches('+').parse().unwrap_or(u32::MAX);
                    info.major != "1" || minor >= NATIVE_SIDECAR_MINOR
                }
                Err(e) => {
                    tracing::warn!("cannot read the API server version ({e}); assuming native sidecars");
                    true
                }
            },
        },
    }
}

#[cfg(test)]
mod tests;
