//! The command line: subcommands and flags. Every flag has a `GCP_TOKEN_AGENT_*` variable.
//! What is generated from the definition itself lives here too: completions, man pages and
//! docs/reference.md. `config` turns the parsed flags into each face's settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) mod docs;
mod doctor;
mod duration;
mod helpers;
mod print;
pub(crate) mod reference;
mod run;
mod source;
mod webhook;

pub use doctor::{DoctorArgs, DoctorFormat};
pub use duration::parse_duration;
pub use helpers::{
    ConfigureDockerArgs, DockerAction, DockerCredentialArgs, GitAction, GitCredentialArgs, HelperTokenArgs,
    LoginArgs,
};
pub use print::{ExecCredentialArgs, OutputFormat, PrintAccessArgs, PrintIdentityArgs};
pub use run::{InstanceArgs, RunArgs};
pub use source::{SourceArgs, SourceKind};
pub use webhook::{
    AgentArgs, AutoTlsArgs, OPT_IN_KEY, OptInStyle, SidecarMode, WebhookArgs, WebhookProbeArgs,
};

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
    /// Warnings found while parsing (deprecated variables), logged once logging is set up.
    #[arg(skip)]
    pub warnings: Vec<String>,
    /// Debug lines found while parsing (plugin flags ignored), logged once logging is set up.
    #[arg(skip)]
    pub debug: Vec<String>,
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
    /// The mutating admission webhook: injects `run` into pods that opt in (by default the
    /// label gcp-token-agent.io/inject=true; see --opt-in) (review path POST /mutate, HTTPS).
    Webhook(Box<WebhookArgs>),
    /// Check a running webhook, as `helm test` does: POST a dry-run AdmissionReview of a
    /// synthetic opted-in pod to --url, trusting only --ca-file, and check the answer is an
    /// allowed review that injects the agent. Prints one line; exit 0 if it is, 1 if not.
    WebhookProbe(WebhookProbeArgs),
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
    /// Check a set-up and say what is wrong: which credential is found and why, file modes,
    /// clock skew, each endpoint, a mint and for whom, impersonation, the numeric project id,
    /// and inside a pod the agent's API and token files.
    ///
    /// One line per finding (ok, warn or fail) with what to do; never prints a token or key.
    /// Exit 0 when nothing fails, 1 when something does, 64 for bad usage.
    Doctor(DoctorArgs),
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
