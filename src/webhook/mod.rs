//! `webhook`: the mutating admission webhook that injects `run` into pods labelled
//! `gcp-token-agent.io/inject: "true"`. A thin HTTPS adaptor ([`handler`]) over a pure
//! mutation ([`mutate`]) of the raw pod; TLS from files re-read when they rotate ([`tls`]) or
//! kept by the webhook itself in a Secret ([`auto_tls`]).

mod accounts;
mod agent;
mod annotations;
mod auto_tls;
mod budget;
mod flags;
mod handler;
mod issue;
mod lease;
mod mutate;
mod review;
mod tls;
mod wire;

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::post};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::{
    cli::{AgentArgs, SidecarMode, WebhookArgs},
    error::{Error, Result},
    server::{self, Limits, admin},
    telemetry::metrics::Metrics,
    validate, watch as source_watch,
};
use handler::WebhookState;
use mutate::InjectContext;

/// Native sidecars (init containers with `restartPolicy: Always`) are on by default from 1.29.
const NATIVE_SIDECAR_MINOR: u32 = 29;

/// Runs the webhook until SIGTERM/SIGINT.
pub async fn run(args: &WebhookArgs) -> Result<()> {
    let context = inject_context(args)?;
    let metrics = Metrics::new();
    let client = match kube::Client::try_default().await {
        Ok(client) => Some(client),
        Err(e) if args.auto_tls.tls_secret.is_some() => {
            return Err(Error::usage("--tls-secret", format!("automatic TLS needs the Kubernetes API: {e}")));
        }
        Err(e) => {
            tracing::warn!("no Kubernetes API access ({e}); service-account annotations will not be read");
            None
        }
    };
    let mut background = Vec::new();
    let mut servers = server::Tasks::new();
    let (stop, shutdown) = watch::channel(false);
    let mut gate: Option<admin::Gate> = None;
    let acceptor = match (&args.tls_cert, &args.tls_key, &args.auto_tls.tls_secret, &client) {
        (Some(cert), Some(key), _, _) => {
            let cert = tls::ReloadingCert::load(cert, key)?;
            background.push(watch_certificates(&cert, &metrics, &shutdown, &mut servers));
            TlsAcceptor::from(Arc::new(tls::server_config(cert)?))
        }
        (_, _, Some(_), Some(client)) => {
            let settings = auto_tls::Settings::from_args(&args.auto_tls)?;
            let cert = tls::SwappableCert::empty();
            let loaded = cert.clone();
            // Not ready (no endpoints for the Service) until a certificate can be served.
            gate = Some(Arc::new(move || {
                (!loaded.is_loaded()).then(|| "no TLS certificate yet (automatic TLS)".to_owned())
            }));
            let keep = auto_tls::keep(client.clone(), settings, cert.clone(), shutdown.clone());
            servers.spawn(async move {
                keep.await;
                "automatic TLS"
            });
            TlsAcceptor::from(Arc::new(tls::server_config(cert)?))
        }
        _ => return Err(Error::usage("--tls-cert/--tls-key", "give both files, or --tls-secret")),
    };
    let native_sidecar = native_sidecars(args.sidecar_mode, client.as_ref()).await;
    tracing::info!(
        native_sidecar,
        "injecting the agent as a {} sidecar",
        if native_sidecar { "native" } else { "classic" }
    );
    let context = InjectContext { native_sidecar, ..context };
    let accounts = client.map(accounts::Accounts::new);
    let state = Arc::new(WebhookState {
        context,
        accounts,
        metrics: metrics.clone(),
        deadline: args.review_deadline,
        budget: budget::Budget::default(),
    });
    let review = Router::new().route("/mutate", post(handler::review)).with_state(state);
    let listener = server::bind("--listen", args.listen).await?;
    let admin_listener = server::bind("--admin-listen", args.admin_listen).await?;
    let addresses = (listener.local_addr().ok(), admin_listener.local_addr().ok());
    server::write_ready_file(args.ready_file.as_deref(), addresses.0, addresses.1)?;
    let reviews = server::serve(
        (listener, Limits::WEBHOOK),
        Some(acceptor),
        review,
        shutdown.clone(),
        args.shutdown_grace,
    );
    servers.spawn(async move {
        reviews.await;
        "review server"
    });
    let health = server::Health::default();
    let admin_state = admin::AdminState {
        tokens: Vec::new(),
        min_remaining: Duration::ZERO,
        metrics,
        gate,
        health: health.clone(),
    };
    let admin = server::serve(
        (admin_listener, Limits::ADMIN),
        None,
        admin::router(admin_state),
        shutdown,
        args.shutdown_grace,
    );
    servers.spawn(async move {
        admin.await;
        "admin server"
    });
    let result = server::drain_on_signal(stop, servers, args.shutdown_grace, &health).await;
    drop(background);
    result
}

/// The injection settings from the flags, each checked as `run` would check it.
fn inject_context(args: &WebhookArgs) -> Result<InjectContext> {
    flags::check(args)?;
    if let Some(provider) =
        args.workload_identity_provider.as_deref().filter(|p| *p != annotations::METADATA_PROVIDER)
    {
        crate::credentials::external_account::check_audience(provider)
            .map_err(|why| Error::usage("--workload-identity-provider", why))?;
    }
    if let Some(Err(why)) = args.project_id.as_deref().map(validate::project_id) {
        return Err(Error::usage("--project-id", why));
    }
    if args.agent.agent_port == 0 || args.agent.agent_admin_port == 0 {
        return Err(Error::usage(
            "--agent-port/--agent-admin-port",
            "the injected agent needs fixed ports, not 0",
        ));
    }
    if args.agent.agent_port == args.agent.agent_admin_port {
        return Err(Error::usage("--agent-port/--agent-admin-port", "the two ports must differ"));
    }
    Ok(InjectContext {
        agent_image: args.agent_image.clone(),
        default_provider: args.workload_identity_provider.clone(),
        native_sidecar: true,
        project_id: args.project_id.clone(),
        metadata_port: args.agent.agent_port,
        admin_port: args.agent.agent_admin_port,
        ksa_service_account: None,
        agent: agent_settings(&args.agent)?,
    })
}

fn agent_settings(args: &AgentArgs) -> Result<agent::AgentSettings> {
    let quantity = |flag: &str, text: &str| match text.trim() {
        "" => Ok(None),
        q => validate::quantity(q).map(|()| Some(q.to_owned())).map_err(|why| Error::usage(flag, why)),
    };
    let resources = [
        quantity("--agent-cpu-request", &args.agent_cpu_request)?,
        quantity("--agent-memory-request", &args.agent_memory_request)?,
        quantity("--agent-cpu-limit", &args.agent_cpu_limit)?,
        quantity("--agent-memory-limit", &args.agent_memory_limit)?,
    ];
    let run_as_user = match args.agent_run_as_user.trim() {
        "none" => None,
        uid => Some(uid.parse::<i64>().ok().filter(|u| (1..=i64::from(u32::MAX)).contains(u)).ok_or_else(
            || Error::usage("--agent-run-as-user", format!("\"{uid}\" is not a non-root user id or none")),
        )?),
    };
    let mut env = Vec::new();
    for pair in &args.agent_env {
        let (name, value) = pair.split_once('=').filter(|(name, _)| env_name(name)).ok_or_else(|| {
            Error::usage("--agent-env", format!("\"{pair}\" is not NAME=VALUE with a valid variable name"))
        })?;
        env.push((name.to_owned(), value.to_owned()));
    }
    if let Some(name) = args.agent_ca_configmap.as_deref().filter(|n| !validate::dns_subdomain(n)) {
        return Err(Error::usage("--agent-ca-configmap", format!("\"{name}\" is not a ConfigMap name")));
    }
    let key_ok = !args.agent_ca_key.is_empty()
        && args.agent_ca_key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if !key_ok {
        return Err(Error::usage(
            "--agent-ca-key",
            format!("\"{}\" is not a ConfigMap key", args.agent_ca_key),
        ));
    }
    let checked = |flag: &str, value: &Option<String>, check: fn(&str) -> Result<(), String>| {
        value.as_deref().map(check).transpose().map_err(|why| Error::usage(flag, why))
    };
    checked("--cluster-name", &args.cluster_name, validate::metadata_name)?;
    checked("--cluster-location", &args.cluster_location, validate::metadata_name)?;
    checked("--zone", &args.zone, validate::zone)?;
    Ok(agent::AgentSettings {
        resources,
        run_as_user,
        env,
        ca_configmap: args.agent_ca_configmap.clone(),
        ca_key: args.agent_ca_key.clone(),
        cluster_name: args.cluster_name.clone(),
        cluster_location: args.cluster_location.clone(),
        zone: args.zone.clone(),
    })
}

/// A variable name Kubernetes accepts (C identifiers, plus `.` and `-`).
fn env_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
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
async fn native_sidecars(mode: SidecarMode, client: Option<&kube::Client>) -> bool {
    match mode {
        SidecarMode::Native => true,
        SidecarMode::Classic => false,
        SidecarMode::Auto => match client {
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
    };
    let classic = InjectContext {
        default_provider: Some(annotations::METADATA_PROVIDER.to_owned()),
        native_sidecar: false,
        project_id: Some("my-project".to_owned()),
        ksa_service_account: None,
        agent: agent::AgentSettings {
            ca_configmap: Some("corp-ca".to_owned()),
            cluster_name: Some("fuzz-cluster".to_owned()),
            cluster_location: Some("us-central1".to_owned()),
            zone: Some("us-central1-a".to_owned()),
            ..Default::default()
        },
        ..federated.clone()
    };
    [federated, classic]
}

#[cfg(test)]
mod tests;
