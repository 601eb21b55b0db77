//! gcp-token-agent: Google Cloud access and ID tokens for workloads, scripts and kubectl,
//! without gcloud or a Google SDK.
//!
//! # Data flow
//!
//! ```text
//! credentials  ->  exchange  ->  cache  ->  sinks / commands
//! (what we hold)   (talk to Google)          stdout · token files · exec-credential
//! ```
//!
//! # Layout
//!
//! * [`cli`]: the command line (clap); every flag has a `GCP_TOKEN_AGENT_*` variable.
//! * [`credentials`]: key files, user credentials, the metadata server; ADC discovery.
//! * [`exchange`]: one HTTP client with Google's retry policy; the OAuth grants; the
//!   metadata server as an upstream. Credentials in, [`token::Token`]s out.
//! * [`sinks`]: atomic file writes and the CLI's disk cache.
//! * [`commands`]: the short-lived faces (`print-access-token`, `print-identity-token`).
//! * [`error`]: errors named by the step that failed, and their exit codes.
//! * [`secret`]: the masking wrapper every token, key and refresh token lives in.
//! * [`telemetry`]: logging setup.

pub mod cli;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod error;
pub mod exchange;
pub mod refresh;
pub mod secret;
pub mod server;
pub mod sinks;
pub mod telemetry;
pub mod token;
pub mod watch;
pub mod webhook;
