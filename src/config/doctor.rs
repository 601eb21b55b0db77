//! `doctor`'s flags checked into one [`DoctorConfig`]: the commands layer never sees clap's types.

use std::{path::PathBuf, time::Duration};

use crate::{
    cli::{DoctorArgs, DoctorFormat},
    credentials::Selection,
    error::Error,
};

/// What `doctor` checks, and how it reports.
#[derive(Debug, Clone)]
pub struct DoctorConfig {
    /// The credential to check, as the flags select it.
    pub(crate) selection: Selection,
    /// `--format json`.
    pub(crate) json: bool,
    /// A running agent's token directory, when there is one to check.
    pub(crate) token_dir: Option<PathBuf>,
    /// `--max-clock-skew`.
    pub(crate) max_clock_skew: Duration,
    /// `--http-timeout`: the deadline of each probe.
    pub(crate) http_timeout: Duration,
}

impl DoctorConfig {
    /// Checks the flags; a bad one is exit 64, as for the other subcommands.
    pub fn from_args(args: &DoctorArgs) -> Result<Self, Error> {
        Self::with_token_file(args, std::env::var_os("GCP_ACCESS_TOKEN_FILE").map(PathBuf::from))
    }

    /// [`from_args`](Self::from_args) with the value of `GCP_ACCESS_TOKEN_FILE`, which names the
    /// token directory in injected pods when `--token-dir` does not.
    fn with_token_file(args: &DoctorArgs, token_file: Option<PathBuf>) -> Result<Self, Error> {
        let from_pod =
            token_file.filter(|f| !f.as_os_str().is_empty()).and_then(|f| f.parent().map(PathBuf::from));
        Ok(Self {
            selection: super::selection(&args.source)?,
            json: args.format == DoctorFormat::Json,
            token_dir: args.token_dir.clone().or(from_pod),
            max_clock_skew: args.max_clock_skew,
            http_timeout: args.source.http_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(argv: &[&str]) -> DoctorArgs {
        let argv = ["gcp-token-agent", "doctor"].iter().chain(argv);
        match Cli::try_parse_from(argv).map(|cli| cli.command) {
            Ok(Command::Doctor(args)) => args,
            other => panic!("not doctor: {other:?}"),
        }
    }

    #[test]
    fn the_token_directory_comes_from_the_flag_before_the_pods_variable() {
        let pod = Some(PathBuf::from("/var/run/gcp-token-agent/token"));
        let flag = DoctorConfig::with_token_file(&args(&["--token-dir", "/tokens"]), pod.clone());
        assert_eq!(flag.map(|c| c.token_dir).ok().flatten(), Some(PathBuf::from("/tokens")));
        let injected = DoctorConfig::with_token_file(&args(&[]), pod);
        assert_eq!(
            injected.map(|c| c.token_dir).ok().flatten(),
            Some(PathBuf::from("/var/run/gcp-token-agent"))
        );
    }

    #[test]
    fn a_bad_impersonation_email_is_bad_usage() {
        let error = DoctorConfig::with_token_file(&args(&["--impersonate-service-account", "nobody"]), None);
        assert_eq!(error.map(|_| ()).map_err(|e| e.exit_code()), Err(crate::error::EXIT_USAGE));
    }
}
