//! Flags of `print-access-token`, `print-identity-token` and `exec-credential`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::SourceArgs;

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
    /// Same as --workload-identity-provider (its variable is GCP_TOKEN_AGENT_WORKLOAD_IDENTITY_PROVIDER;
    /// GCP_TOKEN_AGENT_AUDIENCE is still read as the provider here, with a warning).
    #[arg(
        long,
        value_name = "PROVIDER",
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
    /// The audience (`aud`) of the ID token, e.g. a Cloud Run URL; required. Its variable is
    /// GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE (GCP_TOKEN_AGENT_AUDIENCE is still read, with a warning,
    /// unless it holds a workload identity provider).
    #[arg(long, value_name = "AUDIENCE", env = "GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE", default_value_t = String::new(), hide_default_value = true)]
    pub audience: String,
    /// Ask for the `email` and `email_verified` claims (metadata `format=full`).
    #[arg(long, env = "GCP_TOKEN_AGENT_INCLUDE_EMAIL")]
    pub include_email: bool,
    /// Output: the bare token, or JSON {"id_token","expiry"}.
    #[arg(long, value_enum, env = "GCP_TOKEN_AGENT_FORMAT", default_value_t = OutputFormat::Bare)]
    pub format: OutputFormat,
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
    /// Same as --workload-identity-provider (its variable is GCP_TOKEN_AGENT_WORKLOAD_IDENTITY_PROVIDER;
    /// GCP_TOKEN_AGENT_AUDIENCE is still read as the provider here, with a warning).
    #[arg(
        long,
        value_name = "PROVIDER",
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
