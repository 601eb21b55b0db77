//! Flags of `doctor`.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

use super::{SourceArgs, parse_duration};

// Flags of `doctor`.
#[allow(missing_docs)] // clap would turn a doc comment into the deferred subcommand's about
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Credential selection: the one to check, as the other subcommands take it.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output: one line per finding, or a JSON array of {"level","check","message","fix"}.
    #[arg(long, value_enum, env = "GCP_TOKEN_AGENT_FORMAT", default_value_t = DoctorFormat::Text)]
    pub format: DoctorFormat,
    /// A running agent's --output-dir, whose token files must be fresh [default: the directory
    /// of GCP_ACCESS_TOKEN_FILE, which the webhook sets in injected pods].
    #[arg(long, value_name = "DIR", env = "GCP_TOKEN_AGENT_TOKEN_DIR")]
    pub token_dir: Option<PathBuf>,
    /// How far this machine's clock may be from the token endpoint's before it is a finding.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "GCP_TOKEN_AGENT_MAX_CLOCK_SKEW", default_value = "1m")]
    pub max_clock_skew: Duration,
}

/// How `doctor` writes its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// One line per finding (`bare`, print-access-token's default, means the same here).
    #[value(alias = "bare")]
    Text,
    /// A JSON array of findings.
    Json,
}
