//! Observing from the side: logging setup (stderr; stdout belongs to the answer) and the
//! Prometheus registry in [`metrics`].

use tracing_subscriber::{EnvFilter, filter::LevelFilter};

use crate::{
    cli::{LogArgs, LogFormat},
    error::{Error, Result},
};

/// Installs the global subscriber for `--log-level` (or `default_level`) and `--log-format`.
/// A plain level (`warn`, the CLI's default) needs no directive parser; only a filter such as
/// `gcp_token_agent=debug,hyper=warn` builds an [`EnvFilter`], whose parser compiles regular
/// expressions: work a cached `exec-credential` should not pay for.
pub fn init_logging(args: &LogArgs, default_level: &str) -> Result<()> {
    let level = args.log_level.as_deref().unwrap_or(default_level);
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    if let Ok(plain) = level.parse::<LevelFilter>() {
        let builder = builder.with_max_level(plain);
        match args.log_format {
            LogFormat::Text => builder.with_ansi(false).init(),
            LogFormat::Json => builder.json().init(),
        }
        return Ok(());
    }
    let filter = EnvFilter::try_new(level)
        .map_err(|e| Error::usage("--log-level", format!("\"{level}\" is not a level or filter ({e})")))?;
    let builder = builder.with_env_filter(filter);
    match args.log_format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

pub(crate) mod metrics;
