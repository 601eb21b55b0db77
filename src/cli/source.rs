//! Which credential a face uses (`--credentials`, `--source`, federation, impersonation),
//! shared by `run`, the print commands, `exec-credential` and the helpers.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

use super::{duration::parse_whole_seconds, parse_duration};

// Which credential to use. Without any of these: Application Default Credentials.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// A credentials JSON file: service_account, authorized_user, external_account or
    /// impersonated_service_account.
    #[arg(long, value_name = "FILE", env = "GCP_TOKEN_AGENT_CREDENTIALS", conflicts_with = "source")]
    pub credentials: Option<PathBuf>,
    /// Where credentials come from: `adc` (Application Default Credentials order),
    /// `metadata` (the GCE/GKE metadata server at GCE_METADATA_HOST) or `gcloud` (the account
    /// gcloud's active configuration names, read from CLOUDSDK_CONFIG without running gcloud).
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
    /// (`--audience` is the same flag, except in print-identity-token, whose `--audience` is
    /// the ID token's and read from GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE).
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
    #[arg(long, value_name = "DURATION", value_parser = parse_whole_seconds, env = "GCP_TOKEN_AGENT_LIFETIME", help_heading = "Impersonation")]
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
    /// gcloud's active account: its `legacy_credentials/ACCOUNT/adc.json`.
    Gcloud,
}
