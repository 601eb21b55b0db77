//! Observing from the side: logging setup (stderr; stdout belongs to the answer) and the
//! Prometheus registry in [`metrics`].

use tracing::Subscriber;
use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    layer::SubscriberExt,
};

use crate::error::{Error, Result};

/// How to log: `--log-level` (unset: the face's default) and `--log-format`.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    pub(crate) level: Option<String>,
    pub(crate) format: LogFormat,
}

/// One line of text per event, or one JSON object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber for `--log-level` (or `default_level`) and `--log-format`.
/// The level is a level (`warn`, the CLI's default) or levels per target
/// (`warn,gcp_token_agent=debug,hyper_util=off`), matched as target prefixes; tracing's
/// [`Targets`] parses it, with no regular expressions (its `EnvFilter` compiles one per
/// directive, and brought a second regex engine into the binary). The subscriber is built
/// only when an event passes the most verbose level named ([`lazy`]): a cached CLI call
/// usually logs nothing.
pub fn init_logging(settings: &LogSettings, default_level: &str) -> Result<()> {
    let text = settings.level.as_deref().unwrap_or(default_level);
    let targets = level_filter(text).map_err(|why| Error::usage("--log-level", why))?;
    let most_verbose = targets.iter().map(|(_, level)| level).chain(targets.default_level()).max();
    let level = most_verbose.unwrap_or(LevelFilter::OFF);
    let format = settings.format;
    let make = move || -> Box<dyn Subscriber + Send + Sync> {
        let builder = tracing_subscriber::fmt()
            .with_writer(stderr::Stderr)
            .log_internal_errors(false)
            .with_max_level(level);
        match format {
            LogFormat::Text => Box::new(builder.with_ansi(false).finish().with(targets.clone())),
            LogFormat::Json => Box::new(builder.json().finish().with(targets.clone())),
        }
    };
    tracing::subscriber::set_global_default(lazy::Lazy::new(level, make))
        .map_err(|e| Error::Internal(format!("cannot install the logger: {e}")))
}

/// Parses a `--log-level` value as [`init_logging`] does; the webhook checks the level it
/// passes to injected agents with it, so a bad one stops the webhook, not every agent.
pub(crate) fn level_filter(text: &str) -> std::result::Result<Targets, String> {
    if text.contains(['[', '{']) {
        let why = "span and field filters are not supported; use levels per target: warn,TARGET=LEVEL";
        return Err(format!("\"{text}\": {why}"));
    }
    text.parse().map_err(|e| format!("\"{text}\" is not a level or filter ({e})"))
}

mod lazy;
pub(crate) mod metrics;
mod process;
mod stderr;
