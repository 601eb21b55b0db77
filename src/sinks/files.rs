//! Token files in `--output-dir`: `token`, `token.json`, `id_token.<name>`, each replaced
//! atomically and durably with `--file-mode` applied on every write.

use std::path::PathBuf;

use tokio::sync::watch;

use crate::atomic;
use crate::{
    error::Error,
    refresh::schedule,
    telemetry::metrics::Metrics,
    token::{Token, TokenJson},
};

/// Where and how token files are written.
#[derive(Debug, Clone)]
pub(crate) struct FileSink {
    /// The output directory.
    pub dir: PathBuf,
    /// Permission bits applied on every write.
    pub mode: u32,
    pub metrics: Metrics,
}

/// Which files a token goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `token` and `token.json`.
    Access,
    /// `id_token.<name>`.
    Id(String),
}

impl FileSink {
    /// Writes every file for `token`; the first error is returned after trying all.
    pub(crate) fn write(&self, target: &Target, token: &Token) -> Result<(), Error> {
        match target {
            Target::Access => {
                let first = self.write_file("token.json", TokenJson::render(token).as_bytes());
                let second = self.write_file("token", token.value.expose().as_bytes());
                first.and(second)
            }
            Target::Id(name) => self.write_file(&format!("id_token.{name}"), token.value.expose().as_bytes()),
        }
    }

    fn write_file(&self, name: &str, contents: &[u8]) -> Result<(), Error> {
        let path = self.dir.join(name);
        let result = atomic::write(&path, contents, self.mode, true);
        self.metrics.file_written(name, result.is_ok());
        result.map_err(|source| Error::WriteFile { path, source })
    }

    /// [`FileSink::write`] on the blocking pool: four fsyncs on a slow volume take as long as
    /// the disk does, and `run` has one worker thread, which the metadata API needs.
    async fn write_off_thread(&self, target: &Target, token: &Token) -> Result<(), Error> {
        let (sink, target, token) = (self.clone(), target.clone(), token.clone());
        tokio::task::spawn_blocking(move || sink.write(&target, &token))
            .await
            .unwrap_or_else(|e| Err(Error::Internal(format!("the token file writer stopped: {e}"))))
    }

    /// Writes each token `tokens` publishes until the channel closes, and republishes it on
    /// `written` once its files are on disk (readiness waits for that, so an app started by
    /// the startup probe always finds the files). A failed write keeps the last good files
    /// and is retried with backoff until it works or a new token arrives.
    pub(crate) async fn follow(
        self,
        label: String,
        target: Target,
        mut tokens: watch::Receiver<Option<Token>>,
        written: watch::Sender<Option<Token>>,
    ) {
        loop {
            let token = tokens.borrow_and_update().clone();
            if let Some(token) = token {
                match self.write_with_retry(&label, &target, &token, &mut tokens).await {
                    Retry::Written => {}
                    Retry::Superseded => continue, // write the newer token at once
                    Retry::Closed => return,       // the owner is gone: shutting down
                }
                written.send_replace(Some(token));
            }
            if tokens.changed().await.is_err() {
                return;
            }
        }
    }

    async fn write_with_retry(
        &self,
        label: &str,
        target: &Target,
        token: &Token,
        tokens: &mut watch::Receiver<Option<Token>>,
    ) -> Retry {
        let mut failures = 0;
        while let Err(error) = self.write_off_thread(target, token).await {
            failures += 1;
            self.metrics.refresh_failed(label, error.stage(), error.reason());
            let delay = schedule::backoff(failures, true, fastrand::f64());
            tracing::error!(token = %label, "{error}; the previous files stay in place; retrying in {delay:.1?}");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                changed = tokens.changed() => return if changed.is_ok() { Retry::Superseded } else { Retry::Closed },
            }
        }
        if failures > 0 {
            tracing::info!(token = %label, "token files written after {failures} failed attempts");
        }
        Retry::Written
    }
}

/// Parses `--file-mode` (octal, e.g. 0640 or 640).
pub(crate) fn parse_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("\"{text}\" is not an octal permission mode like 0640"))
        .and_then(|m| match m & 0o133 {
            0 => Ok(m),
            _ => Err(format!(
                "\"{text}\" lets others write the tokens or marks them executable; use 0600, 0640 or 0644"
            )),
        })
}

/// How a retried write ended.
enum Retry {
    Written,
    /// A newer token arrived first.
    Superseded,
    /// The owner stopped publishing (shutdown): nothing more will come.
    Closed,
}
