//! Flags of `webhook`: its listeners and TLS, the injected agent, automatic TLS.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

use super::parse_duration;

// Flags of `webhook`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// The HTTPS address the API server calls (`[::]` serves IPv4 and IPv6).
    #[arg(long, value_name = "ADDR", env = "GCP_TOKEN_AGENT_LISTEN", default_value = "[::]:8443")]
    pub listen: std::net::SocketAddr,
    /// PEM certificate chain; re-read when it changes. Not with --tls-secret.
    #[arg(
        long,
        value_name = "FILE",
        env = "GCP_TOKEN_AGENT_TLS_CERT",
        requires = "tls_key",
        required_unless_present = "tls_secret",
        conflicts_with = "tls_secret"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key; re-read when it changes.
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// /healthz, /readyz and /metrics (plain HTTP).
    #[arg(long, value_name = "ADDR", env = "GCP_TOKEN_AGENT_ADMIN_LISTEN", default_value = "[::]:8990")]
    pub admin_listen: std::net::SocketAddr,
    /// The image of the injected agent.
    #[arg(long, value_name = "IMAGE", env = "GCP_TOKEN_AGENT_AGENT_IMAGE")]
    pub agent_image: String,
    /// The provider pods use unless they annotate another; `metadata` proxies the node's
    /// metadata server instead (GKE Workload Identity).
    #[arg(long, value_name = "PROVIDER", env = "GCP_TOKEN_AGENT_WORKLOAD_IDENTITY_PROVIDER")]
    pub workload_identity_provider: Option<String>,
    /// Native sidecar (init container, restartPolicy Always), classic container, or auto
    /// (native when the API server is 1.29 or newer).
    #[arg(long, value_enum, env = "GCP_TOKEN_AGENT_SIDECAR_MODE", default_value_t = SidecarMode::Auto)]
    pub sidecar_mode: SidecarMode,
    /// GOOGLE_CLOUD_PROJECT for pods that do not annotate one [default: the project in the
    /// service account's email].
    #[arg(long, value_name = "ID", env = "GCP_TOKEN_AGENT_PROJECT_ID")]
    pub project_id: Option<String>,
    /// A review (body read and answer) must finish within this; keep it under the webhook
    /// configuration's timeoutSeconds.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "GCP_TOKEN_AGENT_REVIEW_DEADLINE", default_value = "3s")]
    pub review_deadline: Duration,
    /// Once both listeners are bound, write their addresses here as JSON
    /// (`{"listen","admin_listen"}`), e.g. to learn the ports chosen for port 0.
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    /// On SIGTERM/SIGINT, finish in-flight reviews for at most this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "GCP_TOKEN_AGENT_SHUTDOWN_GRACE", default_value = "10s")]
    pub shutdown_grace: Duration,
    /// How pods opt in. pod-label and namespace-label are selectors of the webhook
    /// configuration (the API server sends only the pods they match; the webhook uses the
    /// style to name it in denials); pod-annotation: the API server sends every pod in scope,
    /// and the webhook passes pods without the annotation untouched, before any other check.
    #[arg(long, value_enum, env = "GCP_TOKEN_AGENT_OPT_IN", default_value_t = OptInStyle::PodLabel)]
    pub opt_in: OptInStyle,
    /// The label or annotation key of the opt-in. Under gcp-token-agent.io/ (the per-pod
    /// settings' prefix) only the default.
    #[arg(long, value_name = "KEY", env = "GCP_TOKEN_AGENT_OPT_IN_KEY", default_value = OPT_IN_KEY)]
    pub opt_in_key: String,
    /// The value the opt-in key must have.
    #[arg(long, value_name = "VALUE", env = "GCP_TOKEN_AGENT_OPT_IN_VALUE", default_value = "true")]
    pub opt_in_value: String,
    /// The injected agent.
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Automatic TLS.
    #[command(flatten)]
    pub auto_tls: AutoTlsArgs,
}

// How the webhook sets up the injected agent container.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
#[command(next_help_heading = "Injected agent")]
pub struct AgentArgs {
    /// The injected agent's loopback metadata port.
    #[arg(long, value_name = "PORT", env = "GCP_TOKEN_AGENT_AGENT_PORT", default_value_t = 8989)]
    pub agent_port: u16,
    /// The injected agent's probe port.
    #[arg(long, value_name = "PORT", env = "GCP_TOKEN_AGENT_AGENT_ADMIN_PORT", default_value_t = 8990)]
    pub agent_admin_port: u16,
    /// CPU request of the agent (empty: none).
    #[arg(long, value_name = "QUANTITY", env = "GCP_TOKEN_AGENT_AGENT_CPU_REQUEST", default_value = "10m")]
    pub agent_cpu_request: String,
    /// Memory request of the agent (empty: none).
    #[arg(
        long,
        value_name = "QUANTITY",
        env = "GCP_TOKEN_AGENT_AGENT_MEMORY_REQUEST",
        default_value = "16Mi"
    )]
    pub agent_memory_request: String,
    /// CPU limit of the agent (empty: none).
    #[arg(long, value_name = "QUANTITY", env = "GCP_TOKEN_AGENT_AGENT_CPU_LIMIT", default_value = "200m")]
    pub agent_cpu_limit: String,
    /// Memory limit of the agent (empty: none).
    #[arg(long, value_name = "QUANTITY", env = "GCP_TOKEN_AGENT_AGENT_MEMORY_LIMIT", default_value = "64Mi")]
    pub agent_memory_limit: String,
    /// The agent's runAsUser, or `none` to let the platform pick (OpenShift's restricted SCC).
    #[arg(long, value_name = "UID", env = "GCP_TOKEN_AGENT_AGENT_RUN_AS_USER", default_value = "65532")]
    pub agent_run_as_user: String,
    /// An extra variable for the agent (HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE); repeatable.
    #[arg(long = "agent-env", value_name = "NAME=VALUE", env = "GCP_TOKEN_AGENT_AGENT_ENV")]
    pub agent_env: Vec<String>,
    /// The injected agents' --log-level (unset: run's default).
    #[arg(long, value_name = "FILTER", env = "GCP_TOKEN_AGENT_AGENT_LOG_LEVEL")]
    pub agent_log_level: Option<String>,
    /// The injected agents' --log-format (unset: run's default, text).
    #[arg(long, value_name = "FORMAT", env = "GCP_TOKEN_AGENT_AGENT_LOG_FORMAT", value_enum)]
    pub agent_log_format: Option<super::LogFormat>,
    /// A ConfigMap in each pod's namespace with extra CA certificates for the agent (mounted
    /// at /etc/gcp-token-agent/ca, SSL_CERT_FILE pointed at --agent-ca-key).
    #[arg(long, value_name = "NAME", env = "GCP_TOKEN_AGENT_AGENT_CA_CONFIGMAP")]
    pub agent_ca_configmap: Option<String>,
    /// The ConfigMap key holding the PEM bundle.
    #[arg(long, value_name = "KEY", env = "GCP_TOKEN_AGENT_AGENT_CA_KEY", default_value = "ca.crt")]
    pub agent_ca_key: String,
    /// The cluster-name attribute injected agents report (run --cluster-name), as on GKE.
    #[arg(long, value_name = "NAME", env = "GCP_TOKEN_AGENT_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// The cluster-location attribute injected agents report (run --cluster-location): the
    /// cluster's region or zone.
    #[arg(long, value_name = "LOCATION", env = "GCP_TOKEN_AGENT_CLUSTER_LOCATION")]
    pub cluster_location: Option<String>,
    /// The zone injected agents report (run --zone) for pods that do not annotate one; for
    /// clusters whose nodes are all in one zone (Kubernetes does not expose a node's zone to
    /// its pods).
    #[arg(long, value_name = "ZONE", env = "GCP_TOKEN_AGENT_ZONE")]
    pub zone: Option<String>,
}

// Automatic TLS: the webhook keeps its own CA and serving certificate in a Secret.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
#[command(next_help_heading = "Automatic TLS")]
pub struct AutoTlsArgs {
    /// Keep the CA and serving certificate in this kubernetes.io/tls Secret (created when
    /// missing, rotated before expiry by the replica holding the Lease of the same name) and
    /// keep --webhook-configuration's caBundle current. Instead of --tls-cert/--tls-key.
    #[arg(long, value_name = "NAME", env = "GCP_TOKEN_AGENT_TLS_SECRET", requires_all = ["webhook_configuration", "service_name", "namespace"])]
    pub tls_secret: Option<String>,
    /// The MutatingWebhookConfiguration whose caBundle automatic TLS patches.
    #[arg(long, value_name = "NAME", env = "GCP_TOKEN_AGENT_WEBHOOK_CONFIGURATION")]
    pub webhook_configuration: Option<String>,
    /// The webhook's Service: the certificate names NAME, NAME.NS, NAME.NS.svc and
    /// NAME.NS.svc.DOMAIN.
    #[arg(long, value_name = "NAME", env = "GCP_TOKEN_AGENT_SERVICE_NAME")]
    pub service_name: Option<String>,
    /// The webhook's namespace (from the downward API).
    #[arg(long, value_name = "NS", env = "GCP_TOKEN_AGENT_NAMESPACE")]
    pub namespace: Option<String>,
    /// The cluster's DNS domain.
    #[arg(
        long,
        value_name = "DOMAIN",
        env = "GCP_TOKEN_AGENT_CLUSTER_DOMAIN",
        default_value = "cluster.local"
    )]
    pub cluster_domain: String,
    /// Life of the serving certificate, renewed with a third left; the CA lives four times
    /// as long and is renewed likewise.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "GCP_TOKEN_AGENT_TLS_VALIDITY", default_value = "2160h")]
    pub tls_validity: Duration,
}

/// The opt-in key the chart and the webhook use unless told otherwise.
pub const OPT_IN_KEY: &str = "gcp-token-agent.io/inject";

/// How a pod asks for the agent (`--opt-in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptInStyle {
    /// A label on the pod (the webhook configuration's objectSelector).
    PodLabel,
    /// A label on the pod's namespace (the webhook configuration's namespaceSelector).
    NamespaceLabel,
    /// An annotation on the pod, checked by the webhook itself.
    PodAnnotation,
}

// Flags of `webhook-probe`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct WebhookProbeArgs {
    /// The webhook's review URL, as the API server calls it, e.g.
    /// https://gcp-token-agent.gcp-token-agent.svc:443/mutate.
    #[arg(long, value_name = "URL", env = "GCP_TOKEN_AGENT_URL")]
    pub url: String,
    /// PEM CA certificates the webhook's serving certificate must chain to (the webhook
    /// configuration's caBundle); the only roots trusted.
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_CA_FILE")]
    pub ca_file: PathBuf,
    /// The opt-in annotation the synthetic pod carries (the webhook's --opt-in-key).
    #[arg(long, value_name = "KEY", env = "GCP_TOKEN_AGENT_OPT_IN_KEY", default_value = OPT_IN_KEY)]
    pub opt_in_key: String,
    /// Its value (the webhook's --opt-in-value).
    #[arg(long, value_name = "VALUE", env = "GCP_TOKEN_AGENT_OPT_IN_VALUE", default_value = "true")]
    pub opt_in_value: String,
    /// Give up on the webhook after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "GCP_TOKEN_AGENT_TIMEOUT", default_value = "10s")]
    pub timeout: Duration,
}

/// How the agent is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SidecarMode {
    /// Native when the cluster supports it.
    Auto,
    /// An init container with restartPolicy Always: starts first, does not block Jobs.
    Native,
    /// A regular container.
    Classic,
}
