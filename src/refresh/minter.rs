//! Minting for `run`: the credential is re-resolved on every mint, so a rotated key file or
//! a fixed broken file is picked up without a restart; plus a small per-key cache for tokens
//! minted on demand (other scopes or audiences asked of the metadata API).

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use crate::{
    cli::SourceArgs,
    commands::load_source,
    credentials::Env,
    error::Result,
    exchange::{self, AccessRequest, Http, IdRequest},
    token::Token,
};

/// On-demand tokens are reused while they have this much life left (Python google-auth
/// treats tokens as stale 3 min 45 s before expiry; a little more keeps every client happy).
const ON_DEMAND_MIN_REMAINING: Duration = Duration::from_secs(5 * 60);
/// Bound on distinct on-demand scope sets and audiences, so clients cannot grow memory.
const ON_DEMAND_MAX_ENTRIES: usize = 64;

/// Everything needed to mint: which credential, the environment, the HTTP client.
#[derive(Debug, Clone)]
pub struct Minter {
    source: SourceArgs,
    env: Env,
    http: Http,
}

impl Minter {
    /// A minter for the credential `source` selects.
    pub fn new(source: SourceArgs, env: Env, http: Http) -> Self {
        Self { source, env, http }
    }

    /// Resolves the credential afresh and mints an access token.
    pub async fn access(&self, request: &AccessRequest) -> Result<Token> {
        let loaded = load_source(&self.source, &self.env)?;
        exchange::access_token(&self.http, &loaded.source, request).await
    }

    /// Resolves the credential afresh and mints an ID token.
    pub async fn id(&self, request: &IdRequest) -> Result<Token> {
        let loaded = load_source(&self.source, &self.env)?;
        exchange::id_token(&self.http, &loaded.source, request).await
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Token>>>;

/// Tokens minted on request and cached per key; concurrent requests for one key mint once.
#[derive(Debug, Default)]
pub struct OnDemand {
    slots: Mutex<HashMap<String, Slot>>,
}

impl OnDemand {
    /// The cached token for `key`, or one from `mint`.
    pub async fn get(&self, key: &str, mint: impl Future<Output = Result<Token>>) -> Result<Token> {
        let slot = self.slot(key);
        let mut cached = slot.lock().await;
        if let Some(token) =
            cached.as_ref().filter(|t| t.remaining(SystemTime::now()) >= ON_DEMAND_MIN_REMAINING)
        {
            return Ok(token.clone());
        }
        let token = mint.await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    fn slot(&self, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !slots.contains_key(key) && slots.len() >= ON_DEMAND_MAX_ENTRIES {
            // Forget the entry closest to expiry (or any unused one).
            let victim = slots
                .iter()
                .min_by_key(|(_, slot)| slot.try_lock().ok().and_then(|t| t.as_ref().map(|t| t.expires_at)))
                .map(|(k, _)| k.clone());
            if let Some(victim) = victim {
                slots.remove(&victim);
            }
        }
        slots.entry(key.to_owned()).or_default().clone()
    }
}
