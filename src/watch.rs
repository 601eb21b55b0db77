//! Watching credential files: kubelet swaps a `..data` symlink, Secrets rotate the same way,
//! editors rename, files get deleted and recreated. So we watch the *directory*, and on any
//! event re-read the files and compare contents; a slow poll covers lost events.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use crate::{digest::sha256_hex, telemetry::metrics::Metrics};

/// Events arrive in bursts (a kubelet swap is four or five); wait this long for the rest.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(100);
/// Re-check contents this often even without events (some platforms drop them).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Says whether the credential now on disk is usable (for the reload metric and log).
pub(crate) type CheckFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// A running watch; dropping it stops the OS watcher.
pub(crate) struct SourceWatch {
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Watches `files` and bumps `reload` whenever one's content changes. The returned loop
/// does the work: the caller runs it as a supervised task; it ends at shutdown (or once
/// nobody listens to `reload`).
pub(crate) fn start(
    files: Vec<PathBuf>,
    reload: watch::Sender<u64>,
    check: CheckFn,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
) -> (SourceWatch, impl Future<Output = ()> + Send + 'static) {
    let (events_tx, events) = mpsc::unbounded_channel();
    let watcher = watch_dirs(&files, events_tx);
    let fingerprints = files.iter().map(|f| (f.clone(), fingerprint(f))).collect();
    let watched = Watched { files, fingerprints, reload, check, metrics };
    let work = async move {
        tokio::select! {
            () = debounce_loop(watched, events) => {}
            _ = shutdown.wait_for(|stopping| *stopping) => {}
        }
    };
    (SourceWatch { _watcher: watcher }, work)
}

/// Sets up the OS watcher on each file's directory; on failure, the poll alone remains.
fn watch_dirs(files: &[PathBuf], events: mpsc::UnboundedSender<()>) -> Option<notify::RecommendedWatcher> {
    let handler = move |result: notify::Result<notify::Event>| {
        if result.is_ok() {
            let _ = events.send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("cannot watch credential files ({e}); polling every {POLL_INTERVAL:?} instead");
            return None;
        }
    };
    for dir in files
        .iter()
        .filter_map(|f| f.parent())
        .map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d })
    {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!("cannot watch {} ({e}); polling every {POLL_INTERVAL:?} instead", dir.display());
        }
    }
    Some(watcher)
}

struct Watched {
    files: Vec<PathBuf>,
    fingerprints: HashMap<PathBuf, Option<String>>,
    reload: watch::Sender<u64>,
    check: CheckFn,
    metrics: Metrics,
}

async fn debounce_loop(mut watched: Watched, mut events: mpsc::UnboundedReceiver<()>) {
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.tick().await;
    // False once the OS watcher is gone (or never started): from then on only the poll drives.
    let mut events_open = true;
    loop {
        tokio::select! {
            event = events.recv(), if events_open => {
                if event.is_none() {
                    events_open = false;
                    continue;
                }
                tokio::time::sleep(DEBOUNCE).await;
                while events.try_recv().is_ok() {}
            }
            _ = poll.tick() => {}
        }
        if watched.reload.is_closed() {
            return;
        }
        watched.recheck();
    }
}

impl Watched {
    /// Compares contents with what was last seen; on a change, reports and triggers a reload.
    fn recheck(&mut self) {
        let mut changed = Vec::new();
        for file in &self.files {
            let now = fingerprint(file);
            if self.fingerprints.get(file) != Some(&now) {
                changed.push(file.display().to_string());
                self.fingerprints.insert(file.clone(), now);
            }
        }
        if changed.is_empty() {
            return;
        }
        let verdict = (self.check)();
        self.metrics.source_reloaded(verdict.is_ok());
        match verdict {
            Ok(()) => tracing::info!("credential source changed: {}", changed.join(", ")),
            Err(why) => tracing::warn!("credential source changed but is not usable yet: {why}"),
        }
        self.reload.send_modify(|generation| *generation += 1);
    }
}

/// The content hash of a file (following symlinks), or `None` if it cannot be read.
fn fingerprint(path: &Path) -> Option<String> {
    crate::input::read_file(path).ok().map(|bytes| sha256_hex(&bytes))
}
