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
                let lifetime = token.remaining(now);
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
mod tests {
    use super::*;
    use crate::{
        error::{UpstreamError, UpstreamErrorKind},
        secret::Secret,
    };
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A mint that fails while `fail_first` calls remain, then hands out `lifetime` tokens.
    fn counting_mint(lifetime: Duration, fail_first: u32, calls: Arc<AtomicU32>) -> MintFn {
        Arc::new(move || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n < fail_first {
                    return Err(Error::Upstream(UpstreamError::new(
                        crate::error::Endpoint::Token,
                        "http://test",
                        UpstreamErrorKind::Refused {
                            status: 503,
                            code: None,
                            description: None,
                            retry_after: None,
                        },
                    )));
                }
                Ok(Token::new(Secret::new(format!("t{n}")), SystemTime::now(), lifetime))
            })
        })
    }

    fn start(mint: MintFn) -> (watch::Receiver<Option<Token>>, watch::Sender<u64>, watch::Sender<bool>) {
        let (publish, tokens) = watch::channel(None);
        let (reload_tx, reload) = watch::channel(0);
        let (stop, shutdown) = watch::channel(false);
        let owner = Owner {
            name: "access".into(),
            mint,
            publish,
            reload,
            early: never_asked(),
            metrics: Metrics::new(),
            clock: system_clock(),
            progress: watch::channel(Progress::default()).0,
        };
        tokio::spawn(owner.run(shutdown));
        (tokens, reload_tx, stop)
    }

    fn never_asked() -> EarlyRefresh {
        EarlyRefresh { asks: watch::channel(0).1, below: Duration::from_secs(300) }
    }

    /// An owner of `lifetime` tokens from `mint`, asked for early refreshes on the returned sender.
    fn start_asked(mint: MintFn, clock: Clock) -> (watch::Receiver<Option<Token>>, watch::Sender<u64>) {
        let (tokens, asks, _) = start_watched(mint, clock);
        (tokens, asks)
    }

    /// Like [`start_asked`], also returning what the owner reports of its progress.
    fn start_watched(
        mint: MintFn,
        clock: Clock,
    ) -> (watch::Receiver<Option<Token>>, watch::Sender<u64>, watch::Receiver<Progress>) {
        let (publish, tokens) = watch::channel(None);
        let (asks_tx, asks) = watch::channel(0);
        let (reload_tx, reload) = watch::channel(0);
        let (stop, shutdown) = watch::channel(false);
        let (progress, watched) = watch::channel(Progress::default());
        let early = EarlyRefresh { asks, below: Duration::from_secs(300) };
        let metrics = Metrics::new();
        let owner = Owner { name: "access".into(), mint, publish, reload, early, metrics, clock, progress };
        tokio::spawn(async move {
            // The senders live as long as the owner.
            let _keep = (reload_tx, stop);
            owner.run(shutdown).await;
        });
        (tokens, asks_tx, watched)
    }

    /// Asks for an early refresh `times` times, `gap` apart (the gap also after the last).
    async fn ask(asks: &watch::Sender<u64>, times: usize, gap: Duration) {
        for _ in 0..times {
            asks.send_modify(|n| *n += 1);
            tokio::time::sleep(gap).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_refresh_is_heeded_only_near_expiry() {
        let calls = Arc::new(AtomicU32::new(0));
        let (_tokens, asks) =
            start_asked(counting_mint(Duration::from_secs(3600), 0, calls.clone()), paused_clock());
        tokio::time::sleep(Duration::from_secs(1)).await;
        ask(&asks, 1, Duration::from_millis(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "an hour left: the ask is not for this token");

        let calls = Arc::new(AtomicU32::new(0));
        // 500 s tokens: refreshed at 45-55 % of the lifetime, so under 300 s left after ~250 s.
        let (_tokens, asks) =
            start_asked(counting_mint(Duration::from_secs(500), 0, calls.clone()), paused_clock());
        tokio::time::sleep(Duration::from_secs(210)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        ask(&asks, 1, Duration::from_millis(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "290 s left, under --min-remaining: refreshed");
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_no_longer_than_min_remaining_are_not_renewed_on_every_ask() {
        // 200 s tokens under a 300 s --min-remaining: each is near expiry from birth, and a
        // new one would be too. Asks are ignored; the schedule still renews them.
        let calls = Arc::new(AtomicU32::new(0));
        let (_tokens, asks) =
            start_asked(counting_mint(Duration::from_secs(200), 0, calls.clone()), paused_clock());
        tokio::time::sleep(Duration::from_secs(1)).await;
        ask(&asks, 5, Duration::from_secs(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "51 s in: no mint per ask");
        tokio::time::sleep(Duration::from_secs(70)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "renewed at 45-55 % of its life");
    }

    #[tokio::test(start_paused = true)]
    async fn an_ask_revives_a_token_the_wall_clock_left_behind() {
        // The wall clock jumps 400 s ahead (a suspended VM): the 500 s token has 99 s left by
        // the wall clock while the owner's schedule (monotonic) says refresh in ~250 s.
        let start = (SystemTime::now(), tokio::time::Instant::now());
        let jumped = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let offset = jumped.clone();
        let clock: Clock = Arc::new(move || {
            start.0 + start.1.elapsed() + Duration::from_secs(offset.load(Ordering::SeqCst))
        });
        let calls = Arc::new(AtomicU32::new(0));
        let (_tokens, asks) = start_asked(counting_mint(Duration::from_secs(500), 0, calls.clone()), clock);
        tokio::time::sleep(Duration::from_secs(1)).await;
        jumped.store(400, Ordering::SeqCst);
        ask(&asks, 1, Duration::from_millis(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "under --min-remaining by the wall clock: refreshed");
    }

    #[tokio::test(start_paused = true)]
    async fn every_ask_is_answered_and_only_a_heeded_one_starts_a_refresh() {
        // 200 s tokens under a 300 s --min-remaining: asks are declined, and say so at once.
        let calls = Arc::new(AtomicU32::new(0));
        let (_tokens, asks, mut progress) =
            start_watched(counting_mint(Duration::from_secs(200), 0, calls.clone()), paused_clock());
        tokio::time::sleep(Duration::from_secs(1)).await;
        asks.send_replace(7);
        let answered = *progress.wait_for(|p| p.answered == 7).await.expect("the owner answers");
        assert!(!answered.refreshing, "declined: no refresh runs");
        assert_eq!(answered.lifetime.as_secs(), 200);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // 500 s tokens, 290 s left: the ask is heeded and reported as a refresh running.
        let calls = Arc::new(AtomicU32::new(0));
        let (_tokens, asks, mut progress) =
            start_watched(counting_mint(Duration::from_secs(500), 0, calls.clone()), paused_clock());
        tokio::time::sleep(Duration::from_secs(210)).await;
        asks.send_replace(8);
        // (The mint here is instant: the refresh may be over by the time this task looks.)
        progress.wait_for(|p| p.answered == 8 && !p.refreshing).await.expect("the owner answers");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "heeded: a refresh ran");
    }

    #[test]
    fn a_token_shorter_than_min_remaining_is_ready_with_a_quarter_of_its_life_left() {
        let min = Duration::from_secs(60);
        let progress = |secs| Progress { lifetime: Duration::from_secs(secs), ..Progress::default() };
        assert_eq!(progress(3600).ready_floor(min), min);
        assert_eq!(progress(0).ready_floor(min), min, "no token yet");
        assert_eq!(progress(60).ready_floor(min), Duration::from_secs(15));
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_refresh_never_cuts_a_backoff_short() {
        let calls = Arc::new(AtomicU32::new(0));
        // Fails first: no token, backing off about 1 s, then 2 s...
        let (_tokens, asks) =
            start_asked(counting_mint(Duration::from_secs(3600), 2, calls.clone()), paused_clock());
        tokio::time::sleep(Duration::from_millis(100)).await;
        ask(&asks, 5, Duration::from_millis(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "asks during the backoff are ignored");
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_refreshed_around_half_their_lifetime() {
        let calls = Arc::new(AtomicU32::new(0));
        let (tokens, _reload, _stop) = start(counting_mint(Duration::from_secs(100), 0, calls.clone()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(tokens.borrow().is_some());
        // Refreshes fall between 45 and 55 s apart: after 300 s, 6 or 7 mints in all.
        tokio::time::sleep(Duration::from_secs(299)).await;
        let n = calls.load(Ordering::SeqCst);
        assert!((6..=7).contains(&n), "{n} mints");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_then_recover() {
        let calls = Arc::new(AtomicU32::new(0));
        let (tokens, _reload, _stop) = start(counting_mint(Duration::from_secs(3600), 4, calls.clone()));
        // Fails at t=0, ~1, ~3, ~7 (with up to 20% jitter per step), succeeds at ~15.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(tokens.borrow().is_none());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(tokens.borrow().as_ref().map(|t| t.value.expose().to_owned()), Some("t4".to_owned()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_change_triggers_an_immediate_refresh() {
        let calls = Arc::new(AtomicU32::new(0));
        let (_tokens, reload, _stop) = start(counting_mint(Duration::from_secs(3600), 0, calls.clone()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        reload.send_modify(|n| *n += 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_the_owner() {
        let calls = Arc::new(AtomicU32::new(0));
        let (_tokens, _reload, stop) = start(counting_mint(Duration::from_secs(2), 0, calls.clone()));
        tokio::time::sleep(Duration::from_millis(10)).await;
        stop.send_replace(true);
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A wall clock that moves with tokio's (paused) clock, from now.
    fn paused_clock() -> Clock {
        let (wall, start) = (SystemTime::now(), tokio::time::Instant::now());
        Arc::new(move || wall + start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_withdrawn_at_its_expiry_when_every_refresh_fails() {
        let clock = paused_clock();
        let calls = Arc::new(AtomicU32::new(0));
        let issue = clock.clone();
        let counter = calls.clone();
        let mint: MintFn = Arc::new(move || {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            let token = Token::new(Secret::new("t"), issue(), Duration::from_secs(100));
            Box::pin(async move {
                if first {
                    return Ok(token);
                }
                Err(Error::Upstream(UpstreamError::new(
                    crate::error::Endpoint::Token,
                    "http://test",
                    UpstreamErrorKind::Unreachable(crate::scrub::Scrubbed::ours("outage")),
                )))
            })
        });
        let (publish, tokens) = watch::channel(None);
        let (_reload_tx, reload) = watch::channel(0);
        let (_stop, shutdown) = watch::channel(false);
        tokio::spawn(
            Owner {
                name: "access".into(),
                mint,
                publish,
                reload,
                early: never_asked(),
                metrics: Metrics::new(),
                clock,
                progress: watch::channel(Progress::default()).0,
            }
            .run(shutdown),
        );
        tokio::time::sleep(Duration::from_secs(99)).await;
        assert!(tokens.borrow().is_some(), "still valid at 99 s, refreshes failing since ~50 s");
        assert!(calls.load(Ordering::SeqCst) > 1, "refreshes were tried");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(tokens.borrow().is_none(), "withdrawn at its expiry (100 s), never served expired");
    }
}
