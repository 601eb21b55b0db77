//! Tests of the owner task: the refresh schedule, backoff, early refresh on ask, withdrawal
//! at expiry and shutdown, on a paused tokio clock.

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
    let clock: Clock =
        Arc::new(move || start.0 + start.1.elapsed() + Duration::from_secs(offset.load(Ordering::SeqCst)));
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
