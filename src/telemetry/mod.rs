//! Observing from the side: logging setup (stderr; stdout belongs to the answer) and the
//! Prometheus registry in [`metrics`].

use tracing_subscriber::EnvFilter;

use crate::{
    cli::{LogArgs, LogFormat},
    error::{Error, Result},
};

/// Installs the global subscriber for `--log-level` (or `default_level`) and `--log-format`.
pub fn init_logging(args: &LogArgs, default_level: &str) -> Result<()> {
    let level = args.log_level.as_deref().unwrap_or(default_level);
    let filter = EnvFilter::try_new(level)
        .map_err(|e| Error::usage("--log-level", format!("\"{level}\" is not a level or filter ({e})")))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

pub(crate) mod metrics;
