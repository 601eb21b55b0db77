//! Flags of the one-shot faces beside the print commands: the Docker and git credential
//! helpers, `configure-docker` and `login`.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

use super::{SourceArgs, parse_duration};

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
    /// Also create the symlinks docker-credential-gcp-token-agent,
    /// git-credential-gcp-token-agent and gke-gcloud-auth-plugin (for kubectl) to this binary in
    /// DIR (an existing directory, best one on PATH); older symlinks there are replaced, any
    /// other file is refused (and then no link is made), and no plugin link replaces Google's own
    /// gke-gcloud-auth-plugin in DIR or could hide one elsewhere on PATH (reported).
    #[arg(long, value_name = "DIR", env = "GCP_TOKEN_AGENT_INSTALL_LINKS")]
    pub install_links: Option<PathBuf>,
    /// With --install-links: make the gke-gcloud-auth-plugin link even where another program of
    /// that name (Google's plugin) is: in DIR (replaced) or elsewhere on PATH (then kubectl runs
    /// whichever comes first).
    #[arg(long, requires = "install_links", env = "GCP_TOKEN_AGENT_REPLACE_GKE_PLUGIN")]
    pub replace_gke_plugin: bool,
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
