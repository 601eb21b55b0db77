//! gcp-token-agent: Google Cloud access and ID tokens for workloads, scripts and kubectl,
//! without gcloud or a Google SDK.
//!
//! # Data flow
//!
//! ```text
//! credentials  ->  exchange  ->  refresh (owner task + cache)  ->  sinks / servers / commands
//! (what we hold)   (talk to Google)   (when to renew)                files · metadata API · stdout
//!                  metrics (telemetry) observe every stage from the side
//! ```
//!
//! # Layout
//!
//! * [`cli`], [`config`]: the command line (clap; every flag has a `GCP_TOKEN_AGENT_*`
//!   variable) and the long-running faces' validated configuration (`run`'s merged with its
//!   YAML file); clap's types stop there.
//! * [`credentials`]: key files, user credentials, federation, impersonation, the metadata
//!   server; ADC discovery.
//! * [`exchange`]: one HTTP client with Google's retry policy; the OAuth grants, STS, IAM
//!   Credentials, the metadata server as an upstream. Credentials in, [`token::Token`]s out.
//! * [`refresh`]: when to refresh (pure), the owner task per token, on-demand minting.
//! * [`watch`]: credential-file watching (directory watch, symlink swaps, periodic re-check).
//! * [`sinks`]: token files, the CLI's disk cache, ExecCredential output,
//!   the credential-helper protocols, Docker's config.json.
//! * [`server`]: the loopback metadata API and the admin listener (health, readiness, metrics),
//!   and the one place every server is built, with its listener's limits: the runtime
//!   `run` and `webhook` share (bind, ready file, serve, drain).
//! * [`commands`]: each face: `print-*`, `exec-credential`, the Docker and git credential
//!   helpers, `configure-docker`, `run`, `login`, `doctor`.
//! * [`webhook`](mod@webhook): the admission webhook (pure mutation, thin HTTPS adaptor within a
//!   memory budget, reloading TLS).
//! * [`telemetry`]: logging setup, the Prometheus registry and the process metrics.
//! * [`error`]: errors named by the step that failed, and their exit codes.
//! * [`secret`]: the masking wrapper every token, key and refresh token lives in.
//! * [`atomic`]: atomic file replacement (token files, the ready file, Docker's config).

// No input may panic the agent: outside tests, no `expect`, `panic!` or unchecked indexing
// (`unwrap` is refused for every target in Cargo.toml).
#![cfg_attr(not(test), warn(clippy::expect_used, clippy::indexing_slicing, clippy::panic))]
// The public surface is what `main.rs` uses (re-exported below); everything else is
// `pub(crate)`, and this lint keeps it so.
#![warn(unreachable_pub)]

pub(crate) mod atomic;
pub mod cli;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod credentials;
pub(crate) mod digest;
pub(crate) mod error;
pub(crate) mod exchange;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz;
pub(crate) mod input;
pub(crate) mod refresh;
pub(crate) mod scrub;
pub(crate) mod secret;
pub(crate) mod server;
pub(crate) mod sinks;
pub(crate) mod telemetry;
pub(crate) mod token;
pub(crate) mod validate;
pub(crate) mod watch;
pub(crate) mod webhook;

// What the binary (`main.rs`) needs; everything else is `pub(crate)`.
pub use cli::docs::{completions, man_pages};
/// docs/reference.md's text, for the test that keeps the file in step with the flags.
#[doc(hidden)]
pub use cli::reference::reference_markdown;
pub use commands::{
    Workers,
    configure_docker::configure_docker,
    doctor::doctor,
    exec::exec_credential,
    helper::{docker_credential, git_credential},
    login::login,
    print::{access_token as print_access_token, identity_token as print_identity_token},
    process::{harden as harden_process, print_answer},
    run::run,
    serve,
};
pub use config::{
    ConfigureDockerConfig, DockerCredentialConfig, DoctorConfig, ExecConfig, GitCredentialConfig,
    LoginConfig, ParseError, PrintAccessConfig, PrintIdentityConfig, ProbeConfig, RunConfig, WebhookConfig,
    parse,
};
pub use credentials::Env;
pub use error::{EXIT_USAGE, Error, Origin, UpstreamError, UpstreamErrorKind};
pub use telemetry::{LogSettings, init_logging};
pub use webhook::{probe::probe as webhook_probe, run as webhook};
