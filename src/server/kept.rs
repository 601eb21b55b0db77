//! A kept token as a request gets it: fresh at once; close to expiry, after a refresh only if
//! the owner really starts one, and only briefly; at a cold start, once the first arrives.

use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;
use tokio::sync::watch;

use super::metadata::MetadataState;
use crate::{
    refresh::{Progress, Published},
    token::Token,
};

/// How long a request waits for the first token at a cold start before answering 503.
const COLD_START_WAIT: Duration = Duration::from_secs(30);
/// How long a request for a token close to expiry waits for a refresh that has started (Google
/// usually answers in well under a second); after that it gets the current, still valid token.
const REFRESH_WAIT: Duration = Duration::from_secs(1);
/// At most one early refresh this often.
const NUDGE_INTERVAL: Duration = Duration::from_secs(10);

/// The owner's current token. One with less than `min_remaining` left makes the owners
/// refresh early; the request waits for that refresh only if one really runs, and at most
/// [`REFRESH_WAIT`]. A declined or rate-limited ask (the owner backing off, or a token that
/// never lives longer than `min_remaining`) is answered at once with the current valid token.
/// Only during the cold start does a request wait for a first token; after that, no valid
/// token is an immediate 503.
pub(super) async fn published(
    state: &MetadataState,
    published: &Published,
) -> Result<Token, (StatusCode, String)> {
    let fresh =
        |t: &Option<Token>| t.as_ref().is_some_and(|t| t.remaining(SystemTime::now()) >= state.serve_floor());
    let mut tokens = published.tokens.clone();
    let current = tokens.borrow_and_update().clone();
    if let Some(token) = current.as_ref().filter(|_| fresh(&current)) {
        return Ok(token.clone());
    }
    let still_valid = |t: &Token| t.remaining(SystemTime::now()) >= crate::token::MIN_LIFETIME;
    match &current {
        // Already expired (a refresh is in flight, or the wall clock jumped past the owner's
        // schedule): ask for a refresh, but do not hold the request.
        Some(token) if !still_valid(token) => {
            nudge(state);
        }
        // Close to expiry: wait briefly for a refresh only if the owner starts one.
        Some(_) => {
            let asked = nudge(state);
            let _ = tokio::time::timeout(REFRESH_WAIT, refresh_running(&published.progress, asked)).await;
        }
        None => {
            let wait = COLD_START_WAIT.saturating_sub(state.started.elapsed());
            if wait.is_zero() {
                // Withdrawn at its expiry: ask for a refresh, answer 503 now.
                nudge(state);
            } else {
                let _ = tokio::time::timeout(wait, tokens.wait_for(Option::is_some)).await;
            }
        }
    }
    let latest = tokens.borrow().clone().or(current);
    latest.filter(still_valid).ok_or_else(|| {
        (StatusCode::SERVICE_UNAVAILABLE, format!("no valid {} token; see the agent's log", published.name))
    })
}

/// Returns once the owner has answered ask number `asked` (if this request made one) and no
/// refresh is running: at once for a declined ask, after the refresh for a heeded one. The
/// owner answers on its next turn on the runtime, or is refreshing already.
async fn refresh_running(progress: &watch::Receiver<Progress>, asked: Option<u64>) {
    let mut progress = progress.clone();
    if let Some(asked) = asked {
        let _ = progress.wait_for(|p| p.refreshing || p.answered >= asked).await;
    }
    let _ = progress.wait_for(|p| !p.refreshing).await;
}

/// Asks the owners for an early refresh: the ask's number, or `None` when one was asked for
/// too recently.
fn nudge(state: &MetadataState) -> Option<u64> {
    let sender = state.nudge.as_ref()?;
    let mut last = state.last_nudge.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_some_and(|at| at.elapsed() < NUDGE_INTERVAL) {
        return None;
    }
    *last = Some(Instant::now());
    tracing::info!("a served token is close to expiry; asking for an early refresh");
    sender.send_modify(|n| *n = n.wrapping_add(1));
    Some(*sender.borrow())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        credentials::{Choice, Env, Selection},
        exchange::{CLOUD_PLATFORM, Http, RetryPolicy},
        refresh::{EarlyRefresh, MintFn, Minter, OnDemand, Owner},
        secret::Secret,
        server::{instance::Instance, metadata::Identity},
        telemetry::metrics::Metrics,
    };
    use std::sync::Arc;

    /// The metadata API's state over `access`, asking for early refreshes on `asks`, with
    /// the default `--min-remaining` of 60 s, past its cold start.
    fn state(access: Published, asks: watch::Sender<u64>) -> MetadataState {
        let selection =
            Selection { choice: Choice::File("/nonexistent/key.json".into()), ..Default::default() };
        let metrics = Metrics::new();
        MetadataState {
            access,
            scopes: vec![crate::validate::Scope::as_given(CLOUD_PLATFORM)],
            scope_set: [crate::validate::Scope::as_given(CLOUD_PLATFORM)].into(),
            subject: None,
            id_tokens: Vec::new(),
            minter: Minter::new(
                selection,
                Env::default(),
                Http::new(RetryPolicy::default()).expect("client"),
            ),
            on_demand: OnDemand::new(metrics.clone()),
            identity: Identity {
                email: "app@my-project.iam.gserviceaccount.com".to_owned(),
                project_id: None,
                numeric_project_id: super::super::metadata::project_number(None),
                numeric_lookup: None,
            }
            .into(),
            universe_domain: "googleapis.com".to_owned(),
            instance: Instance::default(),
            metrics,
            listen: None,
            min_remaining: Duration::from_secs(60),
            nudge: Some(asks),
            started: Instant::now().checked_sub(COLD_START_WAIT).unwrap_or_else(Instant::now),
            last_nudge: std::sync::Mutex::new(None),
            rendered: Default::default(),
        }
    }

    fn token(value: &str, lifetime: u64) -> Token {
        Token::new(Secret::new(value), SystemTime::now(), Duration::from_secs(lifetime))
    }

    #[tokio::test(start_paused = true)]
    async fn a_declined_ask_is_answered_at_once_with_the_current_token() {
        // 30 s tokens under the default 60 s --min-remaining: the real owner declines every
        // ask, since a new token would be as close to expiry.
        let (asks, asked) = watch::channel(0);
        let (publish, tokens) = watch::channel(None);
        let (progress, watched) = watch::channel(Progress::default());
        let mint: MintFn = Arc::new(|| Box::pin(async { Ok(token("short", 30)) }));
        let owner = Owner {
            name: "access".into(),
            mint,
            publish,
            reload: watch::channel(0).1,
            early: EarlyRefresh { asks: asked, below: Duration::from_secs(60) },
            metrics: Metrics::new(),
            clock: crate::refresh::owner::system_clock(),
            progress,
        };
        let (_stop, shutdown) = watch::channel(false);
        tokio::spawn(owner.run(shutdown));
        let mut first = tokens.clone();
        first.wait_for(Option::is_some).await.expect("a first token");
        let state = state(Published { name: "access".into(), tokens, progress: watched.clone() }, asks);
        let began = tokio::time::Instant::now();
        let served = published(&state, &state.access).await.expect("served");
        // The paused clock moves only when every task waits on a timer: it did not move, so
        // nothing waited (before, the request sat out a 5 s wait for a token that never came).
        assert_eq!(began.elapsed(), Duration::ZERO);
        assert_eq!(served.value.expose(), "short");
        assert_eq!(watched.borrow().answered, 1, "the ask was made and answered");
    }

    #[tokio::test(start_paused = true)]
    async fn a_heeded_ask_is_answered_with_the_new_token() {
        let (asks, mut asked) = watch::channel(0);
        let (publish, tokens) = watch::channel(Some(token("old", 30)));
        let (progress, watched) = watch::channel(Progress::default());
        // An owner that heeds the ask and takes 200 ms to mint.
        tokio::spawn(async move {
            asked.changed().await.expect("an ask");
            let number = *asked.borrow_and_update();
            progress.send_modify(|p| (p.answered, p.refreshing) = (number, true));
            tokio::time::sleep(Duration::from_millis(200)).await;
            progress.send_modify(|p| p.refreshing = false);
            publish.send_replace(Some(token("new", 3600)));
            std::future::pending::<()>().await;
        });
        let state = state(Published { name: "access".into(), tokens, progress: watched }, asks);
        let served = published(&state, &state.access).await.expect("served");
        assert_eq!(served.value.expose(), "new");
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limited_ask_with_no_refresh_running_waits_for_nothing() {
        let (asks, _asked) = watch::channel(0);
        let (_publish, tokens) = watch::channel(Some(token("current", 30)));
        let (_progress, watched) = watch::channel(Progress::default());
        let state = state(Published { name: "access".into(), tokens, progress: watched }, asks);
        *state.last_nudge.lock().expect("lock") = Some(Instant::now());
        let began = tokio::time::Instant::now();
        let served = published(&state, &state.access).await.expect("served");
        assert_eq!((began.elapsed(), served.value.expose()), (Duration::ZERO, "current"));
    }
}
