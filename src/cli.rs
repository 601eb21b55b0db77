//! The command line: subcommands and flags. Every flag has a `GCP_TOKEN_AGENT_*` variable.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Google Cloud access and ID tokens for workloads, scripts and kubectl, without gcloud.
#[derive(Debug, Parser)]
#[command(name = "gcp-token-agent", version, max_term_width = 100)]
pub struct Cli {
    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The faces of the binary. Each subcommand's flags are defined only when it runs (`defer`):
/// a cached `exec-credential` does not build `run`'s and `webhook`'s flags and help.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// The sidecar: keep tokens fresh, write them to --output-dir, serve them on loopback in
    /// the GCE metadata-server format, expose health and metrics. --oneshot: write and exit.
    ///
    /// Every flag is also a key of the --config YAML file (e.g. `output-dir: /var/run/gcp`);
    /// precedence is flag > environment variable > file > default.
    Run(Box<RunArgs>),
    /// Print an access token, like `gcloud auth print-access-token`.
    ///
    /// Reuses a cached token while it has at least 5 minutes left, so repeated calls make no
    /// network request. Stdout carries only the token.
    PrintAccessToken(PrintAccessArgs),
    /// Print an ID token for an audience, like `gcloud auth print-identity-token`.
    PrintIdentityToken(PrintIdentityArgs),
    /// kubectl credential plugin: print one ExecCredential (v1 or v1beta1, as
    /// KUBERNETES_EXEC_INFO asks) with an access token, cached across kubectl runs.
    ExecCredential(ExecCredentialArgs),
    /// Sign in with a Google account in the browser (OAuth installed-app flow with PKCE) and
    /// save an authorized_user credential where Application Default Credentials look for it.
    Login(LoginArgs),
    /// The mutating admission webhook: injects `run` into pods labelled
    /// gcp-token-agent.io/inject=true (review path POST /mutate, HTTPS).
    Webhook(Box<WebhookArgs>),
    /// Docker credential helper (also run as `docker-credential-gcp-token-agent ACTION`).
    ///
    /// `get` reads a registry host or URL on stdin and prints
    /// {"ServerURL","Username":"oauth2accesstoken","Secret":TOKEN}, the token being the one
    /// print-access-token prints (same credentials and disk cache), for Google's registries
    /// (gcr.io, *.gcr.io, *.pkg.dev) and those config.json's credHelpers send here; any other
    /// registry gets "credentials not found" (exit 1). `list` prints the registries
    /// config.json's credHelpers send here; `store` and `erase` read stdin and do nothing.
    DockerCredential(DockerCredentialArgs),
    /// git credential helper (also run as `git-credential-gcp-token-agent ACTION`).
    ///
    /// `get` reads git's key=value lines on stdin and prints username=oauth2accesstoken,
    /// password=TOKEN and password_expiry_utc, the token being the one print-access-token
    /// prints; `store` and `erase` read stdin and do nothing. It answers only Google's git
    /// hosts over https (source.developers.google.com, *.sourcemanager.dev) unless
    /// --allow-host names another; any other host gets no token and a message on stderr.
    GitCredential(GitCredentialArgs),
    /// Point Docker at the credential helper, like `gcloud auth configure-docker`.
    ///
    /// Adds "credHelpers": {"REGISTRY": "gcp-token-agent"} entries to $DOCKER_CONFIG/config.json
    /// (else ~/.docker/config.json), keeping every other key, and prints the file's path.
    /// Docker then runs `docker-credential-gcp-token-agent` from PATH: --install-links makes it.
    ConfigureDocker(ConfigureDockerArgs),
    /// Print a shell completion script, generated from this command line.
    ///
    /// bash: `gcp-token-agent completions bash > /etc/bash_completion.d/gcp-token-agent`;
    /// zsh: into a directory on $fpath as `_gcp-token-agent`; fish:
    /// `~/.config/fish/completions/gcp-token-agent.fish`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), generated from this command line; with --out-dir, write it
    /// and one page per subcommand there: `gcp-token-agent man --out-dir /usr/local/share/man/man1`.
    Man(ManArgs),
}

// Flags of `man`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write gcp-token-agent.1 and gcp-token-agent-SUBCOMMAND.1 into this directory.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

// Flags of `completions`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The names Docker and git run credential helpers by: symlinks to this binary.
pub const DOCKER_HELPER: &str = "docker-credential-gcp-token-agent";
/// See [`DOCKER_HELPER`].
pub const GIT_HELPER: &str = "git-credential-gcp-token-agent";

/// The arguments of a binary run as [`DOCKER_HELPER`] or [`GIT_HELPER`] (by a symlink, as
/// Docker and git name helpers), rewritten as the subcommand they stand for; others as given.
pub(crate) fn expand_helper_name(argv: Vec<OsString>) -> Vec<OsString> {
    let name = argv.first().and_then(|a| Path::new(a).file_name()).and_then(|n| n.to_str());
    let subcommand = match name {
        Some(DOCKER_HELPER) => "docker-credential",
        Some(GIT_HELPER) => "git-credential",
        _ => return argv,
    };
    let rest = argv.into_iter().skip(1);
    [OsString::from("gcp-token-agent"), subcommand.into()].into_iter().chain(rest).collect()
}

// Which credential the helpers' tokens come from: the flags `print-access-token` takes, so
// the same flags (or `GCP_TOKEN_AGENT_*` variables) give the same token and cache entry.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct HelperTokenArgs {
    /// Credential selection.
    #[command(flatten)]
    pub source: SourceArgs,
    /// OAuth scopes, comma-separated [default: https://www.googleapis.com/auth/cloud-platform].
    #[arg(long, value_name = "SCOPES", value_delimiter = ',', env = "GCP_TOKEN_AGENT_SCOPES")]
    pub scopes: Option<Vec<String>>,
    /// Same as --workload-identity-provider.
    #[arg(
        long,
        value_name = "PROVIDER",
        env = "GCP_TOKEN_AGENT_AUDIENCE",
        conflicts_with = "workload_identity_provider",
        help_heading = "Workload identity"
    )]
    pub audience: Option<String>,
}

// Flags of `docker-credential`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct DockerCredentialArgs {
    /// What Docker asks.
    #[arg(value_enum)]
    pub action: DockerAction,
    /// The credential.
    #[command(flatten)]
    pub token: HelperTokenArgs,
}

/// The operations of Docker's credential-helper protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DockerAction {
    /// Print the credentials for the registry named on stdin.
    Get,
    /// Print the registries configured to use this helper.
    List,
    /// Ignore the credentials on stdin (tokens are minted, not stored).
    Store,
    /// Ignore the registry on stdin (nothing is stored).
    Erase,
}

// Flags of `git-credential`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct GitCredentialArgs {
    /// What git asks.
    #[arg(value_enum)]
    pub action: GitAction,
    /// Also answer for this host (HOST or HOST:PORT; repeat for more). Without it only
    /// source.developers.google.com and *.sourcemanager.dev over https get a token; plain http
    /// only ever for a loopback host named here (localhost, 127.0.0.1, ::1). git passes it
    /// from its config: `helper = gcp-token-agent --allow-host git.example.com`.
    #[arg(long, value_name = "HOST", env = "GCP_TOKEN_AGENT_ALLOW_HOST", value_delimiter = ',')]
    pub allow_host: Vec<String>,
    /// The credential.
    #[command(flatten)]
    pub token: HelperTokenArgs,
}

/// The operations of git's credential-helper protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GitAction {
    /// Print username and password for the request on stdin.
    Get,
    /// Ignore the credential on stdin (tokens are minted, not stored).
    Store,
    /// Ignore the credential on stdin (nothing is stored).
    Erase,
}

// Flags of `configure-docker`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct ConfigureDockerArgs {
    /// Registry hosts, HOST or HOST:PORT, space- or comma-separated (a leading https:// and a
    /// trailing / are dropped; any other scheme or a path is refused) [default: gcr.io,
    /// us.gcr.io, eu.gcr.io, asia.gcr.io, us-docker.pkg.dev, europe-docker.pkg.dev,
    /// asia-docker.pkg.dev].
    #[arg(value_name = "REGISTRY", value_delimiter = ',')]
    pub registries: Vec<String>,
    /// Also create the symlinks docker-credential-gcp-token-agent and
    /// git-credential-gcp-token-agent to this binary in DIR (an existing directory, best one on
    /// PATH); older symlinks there are replaced, any other file is left alone and reported.
    #[arg(long, value_name = "DIR", env = "GCP_TOKEN_AGENT_INSTALL_LINKS")]
    pub install_links: Option<PathBuf>,
}

// Flags of `login`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The OAuth client JSON downloaded from the Google Cloud console ("installed" or "web").
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_CLIENT_SECRETS")]
    pub client_secrets: PathBuf,
    /// Scopes to ask for, comma-separated [default: openid, userinfo.email, cloud-platform].
    #[arg(long, value_name = "SCOPES", value_delimiter = ',', env = "GCP_TOKEN_AGENT_SCOPES")]
    pub scopes: Option<Vec<String>>,
    /// Where to write the credential [default: gcloud's application_default_credentials.json].
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Only print the URL; do not try to open a browser.
    #[arg(long, env = "GCP_TOKEN_AGENT_NO_BROWSER")]
    pub no_browser: bool,
    /// The loopback port for the redirect (0: any free port).
    #[arg(long, value_name = "N", env = "GCP_TOKEN_AGENT_PORT", default_value_t = 0)]
    pub port: u16,
    /// Give up if no sign-in completes within this time.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "GCP_TOKEN_AGENT_TIMEOUT", default_value = "5m")]
    pub timeout: Duration,
    /// Billing project recorded as quota_project_id.
    #[arg(long, value_name = "ID", env = "GCP_TOKEN_AGENT_QUOTA_PROJECT")]
    pub quota_project: Option<String>,
}

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

// Logging, for every subcommand. Logs go to stderr.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log level (off, error, warn, info, debug, trace) or levels per target, e.g.
    /// `warn,gcp_token_agent=debug` [default: info for run, warn for the others].
    #[arg(long, global = true, env = "GCP_TOKEN_AGENT_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log format.
    #[arg(long, global = true, env = "GCP_TOKEN_AGENT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

// Which credential to use. Without any of these: Application Default Credentials.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// A credentials JSON file: service_account, authorized_user, external_account or
    /// impersonated_service_account.
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_CREDENTIALS", conflicts_with = "source")]
    pub credentials: Option<PathBuf>,
    /// Where credentials come from: `adc` (Application Default Credentials order) or
    /// `metadata` (the GCE/GKE metadata server at GCE_METADATA_HOST).
    #[arg(long, value_enum, env = "GCP_TOKEN_AGENT_SOURCE", default_value_t = SourceKind::Adc)]
    pub source: SourceKind,
    /// Do not read or write the disk cache.
    #[arg(long, env = "GCP_TOKEN_AGENT_NO_CACHE")]
    pub no_cache: bool,
    /// Workload identity without a JSON file: the projected Kubernetes token to exchange.
    /// Re-read on every exchange.
    #[arg(
        long,
        value_name = "PATH",
        env = "GCP_TOKEN_AGENT_SUBJECT_TOKEN_FILE",
        help_heading = "Workload identity"
    )]
    pub subject_token_file: Option<PathBuf>,
    /// The workload identity provider,
    /// //iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/X
    /// (`--audience` is the same flag, except in print-identity-token).
    #[arg(
        long,
        value_name = "PROVIDER",
        env = "GCP_TOKEN_AGENT_WORKLOAD_IDENTITY_PROVIDER",
        help_heading = "Workload identity"
    )]
    pub workload_identity_provider: Option<String>,
    /// With --subject-token-file: the service account to impersonate. Without it the
    /// federated token is used directly.
    #[arg(
        long,
        value_name = "EMAIL",
        env = "GCP_TOKEN_AGENT_SERVICE_ACCOUNT",
        help_heading = "Workload identity"
    )]
    pub service_account: Option<String>,
    /// Impersonate this service account on top of any source (IAM Credentials).
    #[arg(
        long,
        value_name = "EMAIL",
        env = "GCP_TOKEN_AGENT_IMPERSONATE_SERVICE_ACCOUNT",
        help_heading = "Impersonation"
    )]
    pub impersonate_service_account: Option<String>,
    /// Delegation chain for impersonation, comma-separated emails.
    #[arg(
        long,
        value_name = "EMAILS",
        value_delimiter = ',',
        env = "GCP_TOKEN_AGENT_DELEGATES",
        help_heading = "Impersonation"
    )]
    pub delegates: Vec<String>,
    /// Lifetime of impersonated access tokens: 600s to 12h (over 1h needs the org policy
    /// iam.allowServiceAccountCredentialLifetimeExtension).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "GCP_TOKEN_AGENT_LIFETIME", help_heading = "Impersonation")]
    pub lifetime: Option<Duration>,
    /// STS base URL for --subject-token-file, e.g. a Private Service Connect endpoint
    /// [default: https://sts.googleapis.com]. Credential files carry their own token_url.
    #[arg(long, value_name = "URL", env = "GCP_TOKEN_AGENT_STS_ENDPOINT", help_heading = "Endpoints")]
    pub sts_endpoint: Option<String>,
    /// IAM Credentials base URL for --service-account and --impersonate-service-account
    /// [default: https://iamcredentials.googleapis.com].
    #[arg(long, value_name = "URL", env = "GCP_TOKEN_AGENT_IAM_ENDPOINT", help_heading = "Endpoints")]
    pub iam_endpoint: Option<String>,
    /// Deadline for each call to Google, connect to last body byte (1s to 10m); a slow or
    /// dripping answer fails at it and is retried like any other timeout.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_http_timeout,
        env = "GCP_TOKEN_AGENT_HTTP_TIMEOUT",
        default_value = "30s",
        help_heading = "Endpoints"
    )]
    pub http_timeout: Duration,
}

impl SourceArgs {
    /// These arguments with `--audience` (the provider's alias in print-access-token,
    /// exec-credential and run) folded into `--workload-identity-provider`.
    pub fn with_provider_alias(&self, audience: Option<&String>) -> Self {
        let mut args = self.clone();
        args.workload_identity_provider = args.workload_identity_provider.or_else(|| audience.cloned());
        args
    }
}

/// Parses `3600`, `3600s`, `60m` or `12h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| format!("\"{text}\" is not a duration like 3600s, 60m or 1h"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("\"{text}\" has unit \"{unit}\"; use s, m or h")),
    };
    // Nothing the agent waits for lasts a year; a bound keeps every deadline computable.
    const MAX: u64 = 366 * 24 * 3600;
    n.checked_mul(factor)
        .filter(|secs| *secs <= MAX)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("\"{text}\" is too long (at most 8784h)"))
}

/// `--http-timeout`: long enough for a TLS handshake, short enough that a stuck call ends.
fn parse_http_timeout(text: &str) -> Result<Duration, String> {
    let timeout = parse_duration(text)?;
    if (Duration::from_secs(1)..=Duration::from_secs(600)).contains(&timeout) {
        Ok(timeout)
    } else {
        Err(format!("\"{text}\" is out of range: 1s to 10m"))
    }
}

/// The `--source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, then the metadata server.
    Adc,
    /// The metadata server only.
    Metadata,
}

// Flags of `print-access-token`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct PrintAccessArgs {
    /// Credential selection.
    #[command(flatten)]
    pub source: SourceArgs,
    /// OAuth scopes, comma-separated [default: https://www.googleapis.com/auth/cloud-platform].
    #[arg(long, value_name = "SCOPES", value_delimiter = ',', env = "GCP_TOKEN_AGENT_SCOPES")]
    pub scopes: Option<Vec<String>>,
    /// Domain-wide delegation: the user a service-account key acts as.
    #[arg(long, value_name = "EMAIL", env = "GCP_TOKEN_AGENT_SUBJECT")]
    pub subject: Option<String>,
    /// Output: the bare token, or JSON {"access_token","token_type","expiry"}.
    #[arg(long, value_enum, env = "GCP_TOKEN_AGENT_FORMAT", default_value_t = OutputFormat::Bare)]
    pub format: OutputFormat,
    /// Same as --workload-identity-provider.
    #[arg(
        long,
        value_name = "PROVIDER",
        env = "GCP_TOKEN_AGENT_AUDIENCE",
        conflicts_with = "workload_identity_provider",
        help_heading = "Workload identity"
    )]
    pub audience: Option<String>,
}

// Flags of `print-identity-token`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct PrintIdentityArgs {
    /// Credential selection.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The audience (`aud`) of the ID token, e.g. a Cloud Run URL.
    #[arg(long, value_name = "AUDIENCE", env = "GCP_TOKEN_AGENT_AUDIENCE")]
    pub audience: String,
    /// Ask for the `email` and `email_verified` claims (metadata `format=full`).
    #[arg(long, env = "GCP_TOKEN_AGENT_INCLUDE_EMAIL")]
    pub include_email: bool,
    /// Output: the bare token, or JSON {"id_token","expiry"}.
    #[arg(long, value_enum, env = "GCP_TOKEN_AGENT_FORMAT", default_value_t = OutputFormat::Bare)]
    pub format: OutputFormat,
}

// The instance facts `run` reports (flattened into `run`'s flags).
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
#[command(next_help_heading = "Instance metadata")]
pub struct InstanceArgs {
    /// The zone the metadata API reports (instance/zone), e.g. us-central1-a.
    #[arg(long, value_name = "ZONE", env = "GCP_TOKEN_AGENT_ZONE")]
    pub zone: Option<String>,
    /// The region the metadata API reports (instance/region) [default: the zone's, us-central1
    /// for us-central1-a].
    #[arg(long, value_name = "REGION", env = "GCP_TOKEN_AGENT_REGION")]
    pub region: Option<String>,
    /// The instance name the metadata API reports (instance/name), e.g. the pod's name.
    #[arg(long, value_name = "NAME", env = "GCP_TOKEN_AGENT_INSTANCE_NAME")]
    pub instance_name: Option<String>,
    /// The numeric instance id the metadata API reports (instance/id).
    #[arg(long, value_name = "NUMBER", env = "GCP_TOKEN_AGENT_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// The host name the metadata API reports (instance/hostname) [default: this machine's].
    #[arg(long, value_name = "HOST", env = "GCP_TOKEN_AGENT_HOSTNAME")]
    pub hostname: Option<String>,
    /// The cluster-name instance attribute, as GKE reports it.
    #[arg(long, value_name = "NAME", env = "GCP_TOKEN_AGENT_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// The cluster-location instance attribute (the cluster's region or zone), as GKE reports it.
    #[arg(long, value_name = "LOCATION", env = "GCP_TOKEN_AGENT_CLUSTER_LOCATION")]
    pub cluster_location: Option<String>,
    /// The cluster-uid instance attribute, as GKE reports it.
    #[arg(long, value_name = "UID", env = "GCP_TOKEN_AGENT_CLUSTER_UID")]
    pub cluster_uid: Option<String>,
    /// An instance attribute (instance/attributes/KEY); repeatable, one pair each (in the
    /// variable: comma-separated). Keys: letters, digits, '-' and '_'.
    #[arg(long = "attribute", value_name = "KEY=VALUE", env = "GCP_TOKEN_AGENT_ATTRIBUTE")]
    pub attributes: Vec<String>,
}

// Flags of `run`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Credential selection (--no-cache does not apply to run).
    #[command(flatten)]
    pub source: SourceArgs,
    /// OAuth scopes of the access token, comma-separated [default: cloud-platform].
    #[arg(long, value_name = "SCOPES", value_delimiter = ',', env = "GCP_TOKEN_AGENT_SCOPES")]
    pub scopes: Option<Vec<String>>,
    /// Domain-wide delegation: the user a service-account key acts as.
    #[arg(long, value_name = "EMAIL", env = "GCP_TOKEN_AGENT_SUBJECT")]
    pub subject: Option<String>,
    /// Same as --workload-identity-provider.
    #[arg(
        long,
        value_name = "PROVIDER",
        env = "GCP_TOKEN_AGENT_AUDIENCE",
        conflicts_with = "workload_identity_provider",
        help_heading = "Workload identity"
    )]
    pub audience: Option<String>,
    /// Keep an ID token for AUDIENCE fresh too, written to `id_token.NAME`; repeatable (in the
    /// variable: comma-separated).
    #[arg(long = "id-token", value_name = "NAME=AUDIENCE", env = "GCP_TOKEN_AGENT_ID_TOKEN")]
    pub id_tokens: Vec<String>,
    /// Ask for the email claims in ID tokens.
    #[arg(long, env = "GCP_TOKEN_AGENT_INCLUDE_EMAIL")]
    pub include_email: bool,
    /// Write `token`, `token.json` and `id_token.NAME` here (atomically, durably).
    #[arg(long, value_name = "DIR", env = "GCP_TOKEN_AGENT_OUTPUT_DIR")]
    pub output_dir: Option<PathBuf>,
    /// Permission bits of the token files, octal, applied on every write.
    #[arg(long, value_name = "MODE", env = "GCP_TOKEN_AGENT_FILE_MODE", default_value = "0640")]
    pub file_mode: String,
    /// The GCE-metadata-compatible token API (`off` disables it).
    #[arg(long, value_name = "ADDR", env = "GCP_TOKEN_AGENT_LISTEN", default_value = "127.0.0.1:8989")]
    pub listen: String,
    /// Allow --listen on a non-loopback address: anyone who can reach it gets your tokens.
    #[arg(long, env = "GCP_TOKEN_AGENT_ALLOW_NON_LOOPBACK")]
    pub allow_non_loopback: bool,
    /// /healthz, /readyz and /metrics (`off` disables it). Never serves a token. `[::]`
    /// serves IPv4 and IPv6.
    #[arg(long, value_name = "ADDR", env = "GCP_TOKEN_AGENT_ADMIN_LISTEN", default_value = "[::]:8990")]
    pub admin_listen: String,
    /// /readyz answers 200 only while every token is valid for at least this long, and the
    /// metadata API asks for an early refresh of a token with less left (waiting at most 1 s,
    /// and only for a refresh that starts). Tokens that never live longer than this (short
    /// impersonation lifetimes) are served as they are, renewed at about half their life, and
    /// ready while a quarter of it is left.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "GCP_TOKEN_AGENT_MIN_REMAINING", default_value = "60s")]
    pub min_remaining: Duration,
    /// The project the metadata API reports [default: the credential's project_id].
    #[arg(long, value_name = "ID", env = "GCP_TOKEN_AGENT_PROJECT_ID")]
    pub project_id: Option<String>,
    /// The numeric project the metadata API reports [default: the workload identity
    /// provider's project number, else looked up once at start from Resource Manager with the
    /// agent's token (needs resourcemanager.projects.get); gcloud needs it to detect the agent].
    #[arg(long, value_name = "NUMBER", env = "GCP_TOKEN_AGENT_NUMERIC_PROJECT_ID")]
    pub numeric_project_id: Option<String>,
    /// Cloud Resource Manager base URL for that lookup, e.g. a Private Service Connect
    /// endpoint [default: https://cloudresourcemanager.UNIVERSE_DOMAIN].
    #[arg(
        long,
        value_name = "URL",
        env = "GCP_TOKEN_AGENT_RESOURCE_MANAGER_ENDPOINT",
        help_heading = "Endpoints"
    )]
    pub resource_manager_endpoint: Option<String>,
    /// Obtain every token, write the files, exit 0 (init containers, Jobs, CronJobs).
    #[arg(long, env = "GCP_TOKEN_AGENT_ONESHOT")]
    pub oneshot: bool,
    /// Once both listeners are bound, write their addresses here as JSON
    /// (`{"listen","admin_listen"}`, null when off), e.g. to learn the ports chosen for port 0.
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    /// A YAML file whose keys are these flags' names.
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// On SIGTERM/SIGINT, finish in-flight requests for at most this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "GCP_TOKEN_AGENT_SHUTDOWN_GRACE", default_value = "10s")]
    pub shutdown_grace: Duration,
    /// What the metadata API reports about the instance (last: its heading applies to the
    /// flags after it).
    #[command(flatten)]
    pub instance: InstanceArgs,
}

// Flags of `exec-credential`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct ExecCredentialArgs {
    /// Credential selection.
    #[command(flatten)]
    pub source: SourceArgs,
    /// OAuth scopes, comma-separated [default: cloud-platform,userinfo.email].
    #[arg(long, value_name = "SCOPES", value_delimiter = ',', env = "GCP_TOKEN_AGENT_SCOPES")]
    pub scopes: Option<Vec<String>>,
    /// Same as --workload-identity-provider.
    #[arg(
        long,
        value_name = "PROVIDER",
        env = "GCP_TOKEN_AGENT_AUDIENCE",
        conflicts_with = "workload_identity_provider",
        help_heading = "Workload identity"
    )]
    pub audience: Option<String>,
    /// Answer from a running agent's token.json instead of minting (no network).
    #[arg(long, value_name = "PATH", env = "GCP_TOKEN_AGENT_FROM_FILE", conflicts_with_all = ["credentials", "subject_token_file"])]
    pub from_file: Option<PathBuf>,
}

/// How `print-*` writes its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The token and a newline.
    Bare,
    /// A JSON object with the expiry.
    Json,
}
