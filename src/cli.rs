//! The command line: subcommands and flags. Every flag has a `GCP_TOKEN_AGENT_*` variable.

use std::path::PathBuf;

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

/// The faces of the binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print an access token, like `gcloud auth print-access-token`.
    ///
    /// Reuses a cached token while it has at least 5 minutes left, so repeated calls make no
    /// network request. Stdout carries only the token.
    PrintAccessToken(PrintAccessArgs),
    /// Print an ID token for an audience, like `gcloud auth print-identity-token`.
    PrintIdentityToken(PrintIdentityArgs),
}

/// Logging, for every subcommand. Logs go to stderr.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, global = true, env = "GCP_TOKEN_AGENT_LOG_LEVEL", default_value = "warn")]
    pub log_level: String,
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

/// Which credential to use. Without any of these: Application Default Credentials.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// A credentials JSON file (service_account or authorized_user).
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_CREDENTIALS", conflicts_with = "source")]
    pub credentials: Option<PathBuf>,
    /// Where credentials come from: `adc` (Application Default Credentials order) or
    /// `metadata` (the GCE/GKE metadata server at GCE_METADATA_HOST).
    #[arg(long, value_enum, env = "GCP_TOKEN_AGENT_SOURCE", default_value_t = SourceKind::Adc)]
    pub source: SourceKind,
    /// Do not read or write the disk cache.
    #[arg(long, env = "GCP_TOKEN_AGENT_NO_CACHE")]
    pub no_cache: bool,
}

/// The `--source` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, then the metadata server.
    Adc,
    /// The metadata server only.
    Metadata,
}

/// Flags of `print-access-token`.
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
}

/// Flags of `print-identity-token`.
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

/// How `print-*` writes its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The token and a newline.
    Bare,
    /// A JSON object with the expiry.
    Json,
}
