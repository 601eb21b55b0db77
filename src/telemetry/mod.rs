//! Observing from the side: logging setup (stderr; stdout belongs to the answer) and the
//! Prometheus registry in [`metrics`].

use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, filter::LevelFilter};

use crate::{
    cli::{LogArgs, LogFormat},
    error::{Error, Result},
};

/// Installs the global subscriber for `--log-level` (or `default_level`) and `--log-format`.
/// A plain level (`warn`, the CLI's default) needs no directive parser, and its subscriber is
/// built only when an event passes the level ([`lazy`]); only a filter such as
/// `gcp_token_agent=debug,hyper=warn` builds an [`EnvFilter`], whose parser compiles regular
/// expressions: work a cached `exec-credential` should not pay for.
pub fn init_logging(args: &LogArgs, default_level: &str) -> Result<()> {
    let level = args.log_level.as_deref().unwrap_or(default_level);
    if let Ok(plain) = level.parse::<LevelFilter>() {
        let format = args.log_format;
        let make = move || -> Box<dyn Subscriber + Send + Sync> {
            let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(plain);
            match format {
                LogFormat::Text => Box::new(builder.with_ansi(false).finish()),
                LogFormat::Json => Box::new(builder.json().finish()),
            }
        };
        return tracing::subscriber::set_global_default(lazy::Lazy::new(plain, make))
            .map_err(|e| Error::Internal(format!("cannot install the logger: {e}")));
    }
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    let filter = EnvFilter::try_new(level)
        .map_err(|e| Error::usage("--log-level", format!("\"{level}\" is not a level or filter ({e})")))?;
    let builder = builder.with_env_filter(filter);
    match args.log_format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

mod lazy;
pub(crate) mod metrics;
