//! The owner task of one token: mint, publish, sleep until the schedule says, repeat.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, SystemTime},
};

use tokio::{sync::watch, time::Instant};

use super::{Progress, schedule};
use crate::{
    error::{Error, Result},
    telemetry::metrics::Metrics,
    token::Token,
};

/// The wall clock the owner reads expiry against: `SystemTime::now` in the agent; a test
/// passes one that moves with tokio's paused clock, so expiry can be proven without waiting.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The agent's clock.
pub(crate) fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// Mints one token. Called afresh for every refresh, so it re-reads credential files.
pub(crate) type MintFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Token>> + Send>> + Send + Sync>;

/// When a client finds a token too close to expiry, it asks for an early refresh. An owner
/// heeds it only for its own token with under `below` left, and never while backing off
/// from a failure (the backoff and any `Retry-After` stand).
pub(crate) struct EarlyRefresh {
    /// Bumped by each request.
    pub asks: watch::Receiver<u64>,
    /// `--min-remaining`.
    pub below: Duration,
}

/// The single task that fetches one token and publishes it.
pub(crate) struct Owner {
    /// The metric label: `access` or `id:<name>`.
    pub name: String,
    /// How to get a new token.
    pub mint: MintFn,
    /// Where the token in service is published; `None` while there is no valid one.
    pub publish: watch::Sender<Option<Token>>,
    /// Bumped by the source watcher: a change means "re-exchange now".
    pub reload: watch::Receiver<u64>,
    /// Early-refresh requests from the metadata API (one channel for all owners).
    pub early: EarlyRefresh,
    pub metrics: Metrics,
    /// Where "now" comes from, for every expiry decision.
    pub(crate) clock: Clock,
    /// Whether a refresh runs, and which early-refresh request was answered last.
    pub progress: watch::Sender<Progress>,
}

impl Owner {
    /// Runs until `shutdown` turns true (or its sender goes away).
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut failures = 0u32;
        // Whether a new token would end an early-refresh request: not when tokens live no
        // longer than `--min-remaining`, which would then mint one per request (per nudge).
        let mut renewal_helps = true;
        loop {
            let delay = self.refresh_once(&mut failures, &mut renewal_helps).await;
            if !self.wait(delay, (failures > 0, renewal_helps), &mut shutdown).await {
                return;
            }
        }
    }

    /// One refresh attempt; returns how long to wait before the next.
    async fn refresh_once(&mut self, failures: &mut u32, renewal_helps: &mut bool) -> Duration {
        self.progress.send_if_modified(|p| !std::mem::replace(&mut p.refreshing, true));
        let outcome = {
            let _timer = self.metrics.refresh_timer(&self.name);
            (self.mint)().await
        };
        let now = (self.clock)();
        let lifetime = outcome.as_ref().map(|token| token.remaining(now)).ok();
        // Before the token is published: a request woken by it finds the refresh over.
        self.progress.send_modify(|p| {
            p.refreshing = false;
            p.lifetime = lifetime.unwrap_or(p.lifetime);
        });
        match outcome {
            Ok(token) => {
                *failures = 0;
                self.metrics.refresh_succeeded(&self.name, &token);
                let next = schedule::refresh_at(now, token.expires_at, fastrand::f64());
                tracing::info!(token = %self.name, expiry = %token.expiry_rfc3339(), "refreshed");
                let lifetime = lifetime.unwrap_or_default();
                if lifetime <= self.early.below && *renewal_helps {
                    // Supported: a new token would be as close to expiry, so requests get the
                    // current one at once, it is renewed at about half its life, and /readyz
                    // asks for a quarter of its lifetime instead.
                    tracing::info!(
                        token = %self.name,
                        "the token lives {lifetime:.0?}, no longer than --min-remaining ({:?}): it is \
                         served as it is, renewed at about half its life, and ready while a quarter is left",
                        self.early.below
                    );
                }
                *renewal_helps = lifetime > self.early.below;
                self.publish.send_replace(Some(token));
                next.duration_since(now).unwrap_or(schedule::MIN_REFRESH_DELAY)
            }
            Err(error) => {
                *failures += 1;
                self.metrics.refresh_failed(&self.name, error.stage(), error.reason());
                self.metrics.refresh_failing(&self.name, *failures);
                let mut delay = schedule::backoff(*failures, error.is_retryable(), fastrand::f64());
                if let Error::Upstream(upstream) = &error {
                    // A server that says when to come back is believed, within the cap.
                    delay = delay.max(upstream.retry_after().unwrap_or_default().min(schedule::BACKOFF_CAP));
                }
                let keeping = match &*self.publish.borrow() {
                    Some(t) if t.remaining(now) > Duration::ZERO => {
                        format!("keeping the current token until {}", t.expiry_rfc3339())
                    }
                    _ => "no valid token in service".to_owned(),
                };
                let hint = if error.is_retryable() { "" } else { " (not retryable: backing off to the cap)" };
                tracing::warn!(token = %self.name, "refresh failed: {error}; {keeping}; retrying in {delay:.1?}{hint}");
                delay
            }
        }
    }

    /// Waits `delay`, waking early for a source change or a heeded early-refresh request (none
    /// while `backing_off`; for a token near expiry only if `renewal_helps`); withdraws the
    /// current token if it expires meanwhile. Returns false on shutdown.
    async fn wait(
        &mut self,
        delay: Duration,
        (backing_off, renewal_helps): (bool, bool),
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let deadline = Instant::now() + delay;
        loop {
            let expiry = self.publish.borrow().as_ref().map(|t| t.remaining((self.clock)()));
            let reload_open = self.reload.has_changed().is_ok();
            let asks_open = self.early.asks.has_changed().is_ok();
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return true,
                result = self.reload.changed(), if reload_open => {
                    if result.is_ok() {
                        tracing::info!(token = %self.name, "credential source changed; refreshing now");
                        return true;
                    }
                }
                result = self.early.asks.changed(), if asks_open => {
                    let asked = *self.early.asks.borrow_and_update();
                    let now = (self.clock)();
                    // No token (withdrawn at its expiry, e.g. after the wall clock jumped past the
                    // owner's schedule) is always worth asking for.
                    let wanted = match self.publish.borrow().as_ref() {
                        None => true,
                        Some(token) => renewal_helps && token.remaining(now) < self.early.below,
                    };
                    let heeded = result.is_ok() && wanted && !backing_off;
                    // Answered either way, so the request that asked waits only for a refresh
                    // that really starts.
                    self.progress.send_modify(|p| {
                        p.answered = asked;
                        p.refreshing |= heeded;
                    });
                    if heeded {
                        tracing::info!(token = %self.name, "an early refresh was asked for; refreshing now");
                        return true;
                    }
                }
                () = sleep_or_never(expiry), if expiry.is_some() => self.withdraw(),
                _ = shutdown.changed() => return false,
            }
            if *shutdown.borrow() {
                return false;
            }
        }
    }

    /// Never hand out an expired token: stop publishing it.
    fn withdraw(&mut self) {
        tracing::error!(token = %self.name, "the token expired before a refresh succeeded; serving none");
        self.metrics.token_withdrawn(&self.name);
        self.publish.send_replace(None);
    }
}

async fn sleep_or_never(delay: Option<Duration>) {
    match delay {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
