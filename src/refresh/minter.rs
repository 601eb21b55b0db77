//! Minting for `run`: the credential is re-resolved on every mint, so a rotated key file or
//! a fixed broken file is picked up without a restart; plus a small per-key cache for tokens
//! minted on demand (other scopes or audiences asked of the metadata API).

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use crate::{
    credentials::{Env, Selection},
    error::{Error, Result},
    exchange::{self, AccessRequest, Http, IdRequest},
    telemetry::metrics::Metrics,
    token::Token,
};

/// On-demand tokens are reused while they have this much life left (Python google-auth
/// treats tokens as stale 3 min 45 s before expiry; a little more keeps every client happy).
const ON_DEMAND_MIN_REMAINING: Duration = Duration::from_secs(5 * 60);
/// Bound on distinct on-demand scope sets and audiences, so clients cannot grow memory.
const ON_DEMAND_MAX_ENTRIES: usize = 64;

/// Everything needed to mint: which credential, the environment, the HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct Minter {
    selection: Selection,
    env: Env,
    http: Http,
}

impl Minter {
    /// A minter for the selected credential.
    pub(crate) fn new(selection: Selection, env: Env, http: Http) -> Self {
        Self { selection, env, http }
    }

    /// Resolves the credential afresh and mints an access token.
    pub(crate) async fn access(&self, request: &AccessRequest) -> Result<Token> {
        let loaded = self.selection.load(&self.env)?;
        exchange::access_token(&self.http, &loaded.source, request).await
    }

    /// Resolves the credential afresh and mints an ID token.
    pub(crate) async fn id(&self, request: &IdRequest) -> Result<Token> {
        let loaded = self.selection.load(&self.env)?;
        exchange::id_token(&self.http, &loaded.source, request).await
    }
}

/// A failed on-demand mint is answered from memory this long, so a client retrying in a
/// loop cannot turn one bad request into a stream of upstream calls.
const FAILURE_TTL: Duration = Duration::from_secs(5);
/// New on-demand mints allowed in a burst, and refilled per second after it.
const MINT_BURST: f64 = 20.0;
const MINTS_PER_SECOND: f64 = 2.0;

/// Why an on-demand request got no token, as the metadata API answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The credential can never do this (answered 404, as GKE does); else 503, retried.
    pub(crate) unsupported: bool,
    /// What failed, naming the step; never a secret.
    pub(crate) message: String,
}

impl From<&Error> for Refusal {
    fn from(error: &Error) -> Self {
        Self { unsupported: matches!(error, Error::Unsupported(_)), message: error.to_string() }
    }
}

#[derive(Debug, Default)]
struct Entry {
    token: Option<Token>,
    failed: Option<(Instant, Refusal)>,
}

type Slot = Arc<tokio::sync::Mutex<Entry>>;

/// Tokens minted on request and cached per key. Concurrent requests for one key mint once
/// (single flight); a key being minted is never evicted; failures are remembered briefly;
/// distinct keys and the rate of new mints are bounded, so no client can grow memory or
/// hammer Google through the agent.
#[derive(Debug)]
pub(crate) struct OnDemand {
    slots: Mutex<HashMap<String, Slot>>,
    bucket: Mutex<(f64, Instant)>,
    metrics: Metrics,
}

impl OnDemand {
    /// An empty cache reporting to `metrics`.
    pub(crate) fn new(metrics: Metrics) -> Self {
        Self { slots: Mutex::default(), bucket: Mutex::new((MINT_BURST, Instant::now())), metrics }
    }

    /// The cached token for `key`, or one from `mint`.
    pub(crate) async fn get(
        &self,
        key: &str,
        mint: impl Future<Output = Result<Token>>,
    ) -> Result<Token, Refusal> {
        let slot = self.slot(key).inspect_err(|_| self.metrics.on_demand("full"))?;
        let mut entry = slot.lock().await;
        if let Some(token) =
            entry.token.as_ref().filter(|t| t.remaining(SystemTime::now()) >= ON_DEMAND_MIN_REMAINING)
        {
            self.metrics.on_demand("cached");
            return Ok(token.clone());
        }
        if let Some((_, refusal)) = entry.failed.as_ref().filter(|(at, _)| at.elapsed() < FAILURE_TTL) {
            self.metrics.on_demand("failure_cached");
            return Err(refusal.clone());
        }
        if !self.take_mint() {
            self.metrics.on_demand("rate_limited");
            return Err(Refusal {
                unsupported: false,
                message: "too many on-demand tokens asked for; try again shortly".to_owned(),
            });
        }
        match mint.await {
            Ok(token) => {
                self.metrics.on_demand("minted");
                *entry = Entry { token: Some(token.clone()), failed: None };
                Ok(token)
            }
            Err(e) => {
                self.metrics.on_demand("failed");
                let refusal = Refusal::from(&e);
                entry.failed = Some((Instant::now(), refusal.clone()));
                Err(refusal)
            }
        }
    }

    /// A token bucket: `MINT_BURST` at once, `MINTS_PER_SECOND` after.
    fn take_mint(&self) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (tokens, last) = *bucket;
        let refilled = (tokens + last.elapsed().as_secs_f64() * MINTS_PER_SECOND).min(MINT_BURST);
        let (left, ok) = if refilled >= 1.0 { (refilled - 1.0, true) } else { (refilled, false) };
        *bucket = (left, Instant::now());
        ok
    }

    /// The slot for `key`; when the table is full, an idle entry (the one closest to expiry)
    /// makes room. Entries being minted are never chosen; if all are, the request is refused.
    fn slot(&self, key: &str) -> Result<Slot, Refusal> {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !slots.contains_key(key) && slots.len() >= ON_DEMAND_MAX_ENTRIES {
            let victim = slots
                .iter()
                // Only an entry no request holds: not one being minted, nor one a request has
                // just taken out of the table and is about to lock.
                .filter(|(_, slot)| Arc::strong_count(slot) == 1)
                .filter_map(|(k, slot)| {
                    let entry = slot.try_lock().ok()?;
                    Some((entry.token.as_ref().map(|t| t.expires_at), k.clone()))
                })
                .min()
                .map(|(_, k)| k);
            let victim = victim.ok_or_else(|| Refusal {
                unsupported: false,
                message: format!(
                    "{ON_DEMAND_MAX_ENTRIES} on-demand tokens are being minted; try again shortly"
                ),
            })?;
            slots.remove(&victim);
        }
        Ok(slots.entry(key.to_owned()).or_default().clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::secret::Secret;

    fn token(lifetime: u64) -> Token {
        Token::new(Secret::new("t"), SystemTime::now(), Duration::from_secs(lifetime))
    }

    #[tokio::test]
    async fn concurrent_requests_for_one_key_mint_once_and_failures_are_remembered() {
        let on_demand = Arc::new(OnDemand::new(Metrics::new()));
        let calls = Arc::new(AtomicU32::new(0));
        let mut joins = Vec::new();
        for _ in 0..10 {
            let (on_demand, calls) = (on_demand.clone(), calls.clone());
            joins.push(tokio::spawn(async move {
                on_demand
                    .get("k", async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Ok(token(3600))
                    })
                    .await
            }));
        }
        for join in joins {
            assert!(join.await.expect("joined").is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "single flight");
        let failing = || async { Err(Error::Unsupported("never".to_owned())) };
        let first = on_demand.get("bad", failing()).await.expect_err("fails");
        assert!(first.unsupported);
        let again = on_demand.get("bad", async { Ok(token(3600)) }).await.expect_err("remembered");
        assert_eq!(again, first, "a failure is answered from memory for a while");
    }

    #[tokio::test]
    async fn a_key_being_minted_is_never_evicted_and_new_keys_are_rate_limited() {
        let on_demand = OnDemand::new(Metrics::new());
        let held: Vec<Slot> =
            (0..ON_DEMAND_MAX_ENTRIES).map(|i| on_demand.slot(&format!("k{i}")).expect("slot")).collect();
        let locks: Vec<_> = held.iter().map(|s| s.try_lock().expect("lock")).collect();
        assert!(on_demand.slot("one-more").is_err(), "every entry is in flight");
        drop(locks);
        drop(held);
        assert!(on_demand.slot("one-more").is_ok(), "an idle entry makes room");
        let minted = (0..100).filter(|_| on_demand.take_mint()).count();
        assert!(minted >= MINT_BURST as usize && minted < 100, "{minted}");
    }
}
