//! Logging setup. Logs go to stderr; stdout belongs to the answer.

use tracing_subscriber::EnvFilter;

use crate::{
    cli::{LogArgs, LogFormat},
    error::{Error, Result},
};

/// Installs the global subscriber for `--log-level` and `--log-format`.
pub fn init_logging(args: &LogArgs) -> Result<()> {
    let filter = EnvFilter::try_new(&args.log_level)
        .map_err(|e| Error::usage("--log-level", format!("\"{}\" is not a level or filter ({e})", args.log_level)))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

pub mod metrics;
