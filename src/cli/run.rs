//! Flags of `run`, and the instance facts it reports.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use super::{SourceArgs, parse_duration};

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
    /// Same as --workload-identity-provider (its variable is GCP_TOKEN_AGENT_WORKLOAD_IDENTITY_PROVIDER;
    /// GCP_TOKEN_AGENT_AUDIENCE is still read as the provider here, with a warning).
    #[arg(
        long,
        value_name = "PROVIDER",
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
