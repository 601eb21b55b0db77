//! `webhook`'s flags, checked at start (exit 64) as `run`'s are: a value that would be
//! injected into every pod, or a deadline no review can meet, never starts. The webhook gets
//! a [`WebhookConfig`] and never sees clap's types.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    cli::{AgentArgs, AutoTlsArgs, SidecarMode, WebhookArgs},
    error::{Error, Result},
    telemetry,
    validate::{self, ProjectId, Zone},
};

/// Kubernetes caps a webhook's `timeoutSeconds` at 30: a longer deadline is never reached.
const MAX_REVIEW_DEADLINE: Duration = Duration::from_secs(30);
/// Longest image reference accepted (registries allow far less in practice).
const MAX_IMAGE: usize = 1024;
/// The provider value that means "proxy the node's metadata server" (no federation).
const METADATA_PROVIDER: &str = "metadata";

/// The webhook's settings, every flag checked.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) admin_listen: SocketAddr,
    pub(crate) tls: Tls,
    pub(crate) sidecars: Sidecars,
    pub(crate) review_deadline: Duration,
    pub(crate) ready_file: Option<PathBuf>,
    pub(crate) shutdown_grace: Duration,
    pub(crate) agent_image: String,
    pub(crate) default_provider: Option<String>,
    pub(crate) project_id: Option<ProjectId>,
    pub(crate) agent_port: u16,
    pub(crate) agent_admin_port: u16,
    pub(crate) agent: AgentSettings,
    /// How pods ask for the agent.
    pub(crate) opt_in: super::OptIn,
}

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub(crate) enum Tls {
    /// `--tls-cert`/`--tls-key`, re-read when they change.
    Files { cert: PathBuf, key: PathBuf },
    /// `--tls-secret`: the webhook keeps its own CA and certificate.
    Auto(AutoTlsSettings),
}

/// `--sidecar-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sidecars {
    Auto,
    Native,
    Classic,
}

/// How the operator wants the agent container itself (webhook flags, chart `agent.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentSettings {
    /// CPU request, memory request, CPU limit, memory limit; `None` leaves one unset.
    pub(crate) resources: [Option<String>; 4],
    /// `None` leaves `runAsUser` to the platform (OpenShift's restricted SCC assigns one).
    pub(crate) run_as_user: Option<i64>,
    /// Extra variables (proxies, `SSL_CERT_FILE`), in order.
    pub(crate) env: Vec<(String, String)>,
    /// A ConfigMap in the pod's namespace with extra CA certificates.
    pub(crate) ca_configmap: Option<String>,
    /// Its key holding the PEM bundle.
    pub(crate) ca_key: String,
    /// `run --cluster-name`.
    pub(crate) cluster_name: Option<String>,
    /// `run --cluster-location`.
    pub(crate) cluster_location: Option<String>,
    /// `run --zone` for pods that annotate none.
    pub(crate) zone: Option<Zone>,
    /// `run --log-level`; `None`: run's default.
    pub(crate) log_level: Option<String>,
    /// `run --log-format`; `None`: run's default.
    pub(crate) log_format: Option<telemetry::LogFormat>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            resources: ["10m", "16Mi", "200m", "64Mi"].map(|q| Some(q.to_owned())),
            run_as_user: Some(65532),
            env: Vec::new(),
            ca_configmap: None,
            ca_key: "ca.crt".to_owned(),
            cluster_name: None,
            cluster_location: None,
            zone: None,
            log_level: None,
            log_format: None,
        }
    }
}

/// What automatic TLS manages, checked.
#[derive(Debug, Clone)]
pub(crate) struct AutoTlsSettings {
    pub(crate) namespace: String,
    pub(crate) secret: String,
    pub(crate) webhook_configuration: String,
    pub(crate) names: Vec<String>,
    pub(crate) validity: Duration,
}

impl WebhookConfig {
    /// Checks `webhook`'s flags: the first problem is the error, naming its flag.
    pub fn from_args(args: &WebhookArgs) -> Result<Self> {
        image(&args.agent_image).map_err(|why| Error::usage("--agent-image", why))?;
        if args.review_deadline.is_zero() || args.review_deadline > MAX_REVIEW_DEADLINE {
            return Err(Error::usage(
                "--review-deadline",
                format!(
                    "{:?} is not between 1ms and 30s (Kubernetes calls a webhook for at most 30s)",
                    args.review_deadline
                ),
            ));
        }
        if let Some(provider) = args.workload_identity_provider.as_deref().filter(|p| *p != METADATA_PROVIDER)
        {
            crate::credentials::external_account::check_audience(provider)
                .map_err(|why| Error::usage("--workload-identity-provider", why))?;
        }
        let project_id = args.project_id.as_deref().map(ProjectId::parse).transpose();
        let project_id = project_id.map_err(|why| Error::usage("--project-id", why))?;
        let ports = (args.agent.agent_port, args.agent.agent_admin_port);
        if ports.0 == 0 || ports.1 == 0 {
            return Err(Error::usage(
                "--agent-port/--agent-admin-port",
                "the injected agent needs fixed ports, not 0",
            ));
        }
        if ports.0 == ports.1 {
            return Err(Error::usage("--agent-port/--agent-admin-port", "the two ports must differ"));
        }
        let agent = agent_settings(&args.agent)?;
        let opt_in = super::OptIn::from_args(args.opt_in, &args.opt_in_key, &args.opt_in_value)?;
        let tls = match (&args.tls_cert, &args.tls_key, &args.auto_tls.tls_secret) {
            (Some(cert), Some(key), _) => Tls::Files { cert: cert.clone(), key: key.clone() },
            (_, _, Some(_)) => Tls::Auto(AutoTlsSettings::from_args(&args.auto_tls)?),
            _ => return Err(Error::usage("--tls-cert/--tls-key", "give both files, or --tls-secret")),
        };
        Ok(Self {
            listen: args.listen,
            admin_listen: args.admin_listen,
            tls,
            sidecars: match args.sidecar_mode {
                SidecarMode::Auto => Sidecars::Auto,
                SidecarMode::Native => Sidecars::Native,
                SidecarMode::Classic => Sidecars::Classic,
            },
            review_deadline: args.review_deadline,
            ready_file: args.ready_file.clone(),
            shutdown_grace: args.shutdown_grace,
            agent_image: args.agent_image.clone(),
            default_provider: args.workload_identity_provider.clone(),
            project_id,
            agent_port: ports.0,
            agent_admin_port: ports.1,
            agent,
            opt_in,
        })
    }
}

fn agent_settings(args: &AgentArgs) -> Result<AgentSettings> {
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
    let zone =
        args.zone.as_deref().map(Zone::parse).transpose().map_err(|why| Error::usage("--zone", why))?;
    checked("--agent-log-level", &args.agent_log_level, |level| telemetry::level_filter(level).map(drop))?;
    Ok(AgentSettings {
        resources,
        run_as_user,
        env,
        ca_configmap: args.agent_ca_configmap.clone(),
        ca_key: args.agent_ca_key.clone(),
        cluster_name: args.cluster_name.clone(),
        cluster_location: args.cluster_location.clone(),
        zone,
        log_level: args.agent_log_level.clone(),
        log_format: args.agent_log_format.map(Into::into),
    })
}

impl AutoTlsSettings {
    fn from_args(args: &AutoTlsArgs) -> Result<Self> {
        let name = |flag: &str, value: &Option<String>| {
            value
                .clone()
                .filter(|v| validate::dns_subdomain(v))
                .ok_or_else(|| Error::usage(flag, format!("{value:?} is not a Kubernetes object name")))
        };
        let namespace = name("--namespace", &args.namespace)?;
        let service = name("--service-name", &args.service_name)?;
        if !validate::dns_subdomain(&args.cluster_domain) {
            return Err(Error::usage(
                "--cluster-domain",
                format!("\"{}\" is not a DNS name", args.cluster_domain),
            ));
        }
        if args.tls_validity < Duration::from_secs(30) {
            return Err(Error::usage("--tls-validity", "must be at least 30s"));
        }
        let names = vec![
            service.clone(),
            format!("{service}.{namespace}"),
            format!("{service}.{namespace}.svc"),
            format!("{service}.{namespace}.svc.{}", args.cluster_domain),
        ];
        Ok(Self {
            secret: name("--tls-secret", &args.tls_secret)?,
            webhook_configuration: name("--webhook-configuration", &args.webhook_configuration)?,
            namespace,
            names,
            validity: args.tls_validity,
        })
    }
}

/// A variable name Kubernetes accepts (C identifiers, plus `.` and `-`).
fn env_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// An image reference as a Pod's `image` takes it: `[REGISTRY/]PATH[:TAG][@DIGEST]`, non-empty,
/// of letters, digits and `._-/:@` only (no space, newline or control character).
pub(crate) fn image(text: &str) -> std::result::Result<(), String> {
    let shown = crate::scrub::escape(&text.chars().take(64).collect::<String>());
    if text.is_empty() {
        return Err("is empty; name the agent's image, e.g. ghcr.io/OWNER/gcp-token-agent:0.2.0".to_owned());
    }
    let chars_ok = text.chars().all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    let shape_ok = !text.starts_with(['-', '.', '/', ':', '@']) && !text.ends_with(['/', ':', '@']);
    if !chars_ok || !shape_ok || text.len() > MAX_IMAGE {
        return Err(format!(
            "\"{shown}\" is not an image reference ([REGISTRY/]PATH[:TAG][@DIGEST], letters, digits \
             and ._-/:@)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_references_without_spaces_or_newlines() {
        for good in [
            "gcp-token-agent:0.1.0",
            "ghcr.io/o/gcp-token-agent:0.1.0",
            "127.0.0.1:5000/agent@sha256:0123abcd",
            "example.com/gcp-token-agent:0.1.0",
        ] {
            assert!(image(good).is_ok(), "{good}");
        }
        for bad in ["", " ", "a b", "img\nevil: x", "img:tag\r", "-img", "img:", "a\u{1b}[0m", "ü"] {
            assert!(image(bad).is_err(), "{bad:?}");
        }
        assert!(!image("a\nb").expect_err("newline").contains('\n'));
    }
}
