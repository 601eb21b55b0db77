//! `webhook`: the mutating admission webhook that injects `run` into pods that opt in (the
//! label `gcp-token-agent.io/inject: "true"` by default; [`opt_in`]). A thin HTTPS adaptor ([`handler`]) over a pure
//! mutation ([`mutate`]) of the raw pod; TLS from files re-read when they rotate ([`tls`]) or
//! kept by the webhook itself in a Secret ([`auto_tls`]).

mod accounts;
mod agent;
mod annotations;
mod auto_tls;
mod budget;
mod handler;
mod issue;
mod lease;
mod mutate;
mod not_after;
mod opt_in;
pub(crate) mod probe;
mod review;
mod tls;
mod wire;

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::post};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::{
    config::{Sidecars, Tls, WebhookConfig},
    error::{Error, Result},
    server::{self, Limits, admin},
    telemetry::metrics::Metrics,
    watch as source_watch,
};
use handler::WebhookState;
use mutate::InjectContext;

/// Native sidecars (init containers with `restartPolicy: Always`) are on by default from 1.29.
const NATIVE_SIDECAR_MINOR: u32 = 29;

/// Runs the webhook until SIGTERM/SIGINT.
pub async fn run(config: WebhookConfig) -> Result<()> {
    let metrics = Metrics::new();
    let client = match kube::Client::try_default().await {
        Ok(client) => Some(client),
        Err(e) if matches!(config.tls, Tls::Auto(_)) => {
            return Err(Error::usage("--tls-secret", format!("automatic TLS needs the Kubernetes API: {e}")));
        }
        Err(e) => {
            tracing::warn!("no Kubernetes API access ({e}); service-account annotations will not be read");
            None
        }
    };
    let mut background = Vec::new();
    let mut face = server::Face::new(config.shutdown_grace);
    let shutdown = face.shutdown();
    let mut gate: Option<admin::Gate> = None;
    let acceptor = match (&config.tls, &client) {
        (Tls::Files { cert, key }, _) => {
            let cert = tls::ReloadingCert::load(cert, key, metrics.clone())?;
            background.push(watch_certificates(&cert, &metrics, &shutdown, &mut face.tasks));
            TlsAcceptor::from(Arc::new(tls::server_config(cert)?))
        }
        (Tls::Auto(settings), Some(client)) => {
            let cert = tls::SwappableCert::empty(metrics.clone());
            let loaded = cert.clone();
            // Not ready (no endpoints for the Service) until a certificate can be served.
            gate = Some(Arc::new(move || {
                (!loaded.is_loaded()).then(|| "no TLS certificate yet (automatic TLS)".to_owned())
            }));
            let keep = auto_tls::keep(client.clone(), settings.clone(), cert.clone(), shutdown.clone());
            face.tasks.spawn(async move {
                keep.await;
                "automatic TLS"
            });
            TlsAcceptor::from(Arc::new(tls::server_config(cert)?))
        }
        // `client` is checked above: automatic TLS without the API has already failed.
        (Tls::Auto(_), None) => {
            return Err(Error::usage("--tls-secret", "automatic TLS needs the Kubernetes API"));
        }
    };
    let native_sidecar = native_sidecars(config.sidecars, client.as_ref()).await;
    tracing::info!(
        native_sidecar,
        "injecting the agent as a {} sidecar",
        if native_sidecar { "native" } else { "classic" }
    );
    let state = Arc::new(WebhookState {
        context: inject_context(&config, native_sidecar),
        accounts: client.map(accounts::Accounts::new),
        metrics: metrics.clone(),
        deadline: config.review_deadline,
        budget: budget::Budget::default(),
    });
    let review = Router::new().route("/mutate", post(handler::review)).with_state(state);
    face.bind(Some(config.listen), Some(config.admin_listen), config.ready_file.as_deref()).await?;
    face.serve(Limits::WEBHOOK, Some(acceptor), review, "review server");
    let admin_state = admin::AdminState {
        tokens: Vec::new(),
        min_remaining: Duration::ZERO,
        metrics,
        gate,
        health: face.health(),
    };
    face.serve_admin(admin::router(admin_state), "admin server");
    let result = face.drain().await;
    drop(background);
    result
}

/// The injection settings from the checked flags.
fn inject_context(config: &WebhookConfig, native_sidecar: bool) -> InjectContext {
    InjectContext {
        agent_image: config.agent_image.clone(),
        default_provider: config.default_provider.clone(),
        native_sidecar,
        project_id: config.project_id.clone(),
        metadata_port: config.agent_port,
        admin_port: config.agent_admin_port,
        ksa_service_account: None,
        agent: config.agent.clone(),
        opt_in: config.opt_in.clone(),
    }
}

/// Re-reads the certificate pair whenever either file changes (cert-manager, Secret swaps).
fn watch_certificates(
    cert: &Arc<tls::ReloadingCert>,
    metrics: &Metrics,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut server::Tasks,
) -> source_watch::SourceWatch {
    let (reload_tx, mut reload) = watch::channel(0u64);
    let check_cert = cert.clone();
    let check: source_watch::CheckFn = Arc::new(move || check_cert.reload());
    let (watcher, watching) =
        source_watch::start(cert.files(), reload_tx, check, metrics.clone(), shutdown.clone());
    tasks.spawn(async move {
        // Logs each completed reload; the watcher's end (at shutdown) drops the sender and
        // ends this loop too.
        let watch = async {
            while reload.changed().await.is_ok() {
                tracing::info!(
                    "TLS certificate files changed; new handshakes use the new pair once it is complete"
                );
            }
        };
        tokio::join!(watching, watch);
        "certificate watcher"
    });
    watcher
}

/// Native sidecars from 1.29 on. Managed clusters report minors like `29+`; an unreadable
/// version is taken as new (native), as is any major other than 1.
fn native_for_version(major: &str, minor: &str) -> bool {
    let minor: u32 = minor.trim_end_matches('+').parse().unwrap_or(u32::MAX);
    major != "1" || minor >= NATIVE_SIDECAR_MINOR
}

/// `auto` asks the API server for its version; without one, native is assumed.
async fn native_sidecars(mode: Sidecars, client: Option<&kube::Client>) -> bool {
    match mode {
        Sidecars::Native => true,
        Sidecars::Classic => false,
        Sidecars::Auto => match client {
            None => true,
            Some(client) => match client.apiserver_version().await {
                Ok(info) => native_for_version(&info.major, &info.minor),
                Err(e) => {
                    tracing::warn!("cannot read the API server version ({e}); assuming native sidecars");
                    true
                }
            },
        },
    }
}

/// Fuzzing (`crate::fuzz`): an AdmissionReview body through what [`handler`] runs on it (the
/// envelope, the mutation, the answer) without the ServiceAccount lookup, which needs a
/// cluster. The submodules are private, so the entry point lives here. Any `kind` is mutated:
/// the mutation must be total over whatever object arrives.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_review(body: &[u8]) {
    let Ok(request) = review::Request::parse(body) else { return };
    let Some(Ok(pod)) = request.object.map(review::parse_object) else { return };
    let pod = &pod;
    for context in fuzz_contexts() {
        if context.opt_in.checked_by_webhook() && !opt_in::opted_in(request.object, &context.opt_in) {
            continue;
        }
        let answer = match mutate::mutate(pod, &context) {
            Ok(outcome) => review::Answer::Allow { patch: outcome.patch, warnings: outcome.warnings },
            Err(message) => review::Answer::Deny { code: 403, message },
        };
        answer.review(&request.api_version, &request.uid);
    }
}

/// Both sidecar modes, federation and metadata proxying, with and without a KSA annotation
/// and a CA bundle: each takes other branches of the mutation.
#[cfg(any(test, feature = "fuzzing"))]
fn fuzz_contexts() -> [InjectContext; 2] {
    let federated = InjectContext {
        agent_image: "example.com/gcp-token-agent:0.1.0".to_owned(),
        default_provider: Some(
            "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k".to_owned(),
        ),
        native_sidecar: true,
        project_id: None,
        metadata_port: 8989,
        admin_port: 8990,
        ksa_service_account: Some("sa@my-project.iam.gserviceaccount.com".to_owned()),
        agent: agent::AgentSettings::default(),
        opt_in: crate::config::OptIn::default(),
    };
    let classic = InjectContext {
        default_provider: Some(annotations::METADATA_PROVIDER.to_owned()),
        native_sidecar: false,
        project_id: Some(crate::validate::ProjectId::as_given("my-project")),
        ksa_service_account: None,
        agent: agent::AgentSettings {
            ca_configmap: Some("corp-ca".to_owned()),
            cluster_name: Some("fuzz-cluster".to_owned()),
            cluster_location: Some("us-central1".to_owned()),
            zone: crate::validate::Zone::parse("us-central1-a").ok(),
            ..Default::default()
        },
        // The corpus's pods carry the default key as a label and (some) as an annotation.
        opt_in: crate::config::OptIn {
            style: crate::config::OptInStyle::PodAnnotation,
            ..crate::config::OptIn::default()
        },
        ..federated.clone()
    };
    [federated, classic]
}

#[cfg(test)]
mod tests;
