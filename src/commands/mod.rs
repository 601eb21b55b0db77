//! The faces of the binary: `print-*`, `exec-credential` and the Docker and git credential
//! helpers (resolve a credential, answer from the cache or mint once, print),
//! `configure-docker`, `login`, `doctor`, and `run`, the long-lived sidecar. Helpers here are the CLI's
//! cache slot and credential loading.

pub(crate) mod configure_docker;
pub(crate) mod doctor;
pub(crate) mod exec;
pub(crate) mod helper;
pub(crate) mod login;
pub(crate) mod print;
pub(crate) mod process;
pub(crate) mod run;

use std::{future::Future, time::Duration};

use crate::{
    config::SourceConfig,
    credentials::{Env, Loaded},
    error::{Error, Result},
    sinks::token_cache::TokenCache,
    token::Token,
};

/// A cached token is reused only with at least this much life left, so a script that
/// starts a long upload with it does not see it expire half-way.
pub(crate) const MIN_CACHED_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Loads the credential the flags select, for [`cached_or_mint`], which decodes its private
/// keys only if it has to mint.
pub(crate) fn load_source(source: &SourceConfig, env: &Env) -> Result<Loaded> {
    source.selection.load_keys_unchecked(env)
}

/// Where one answer is cached: the disk cache and the entry's key.
pub(crate) struct CacheSlot {
    cache: TokenCache,
    key: String,
}

/// The cache slot for `kind` of token from `loaded` with `parts` (scopes, audience, ...), unless
/// `--no-cache`, there is no home to put it in, or the credential's principal cannot be known
/// up front (then nothing is cached, rather than risk answering for another principal).
pub(crate) fn cache_slot(
    source: &SourceConfig,
    env: &Env,
    loaded: &Loaded,
    kind: &str,
    parts: &[&str],
) -> Option<CacheSlot> {
    if source.no_cache {
        return None;
    }
    let fingerprint = loaded.fingerprint.as_deref()?;
    let key_parts: Vec<&str> = [kind, fingerprint].into_iter().chain(parts.iter().copied()).collect();
    TokenCache::default_dir(env)
        .map(|dir| CacheSlot { cache: TokenCache::new(dir), key: TokenCache::key(&key_parts) })
}

/// A cached token with at least `min_remaining` left, or a fresh one from `mint` with
/// `loaded`, stored for next time. A cache that cannot be written is reported and otherwise
/// ignored. On a miss `loaded`'s private keys are decoded and `mint` runs, on a runtime of
/// its own; a hit costs a file read, no key decoding and no runtime.
pub(crate) fn cached_or_mint<F>(
    slot: Option<&CacheSlot>,
    min_remaining: Duration,
    loaded: &Loaded,
    mint: impl FnOnce() -> F,
) -> Result<Token>
where
    F: Future<Output = Result<Token>>,
{
    if let Some(token) = slot.and_then(|s| s.cache.load(&s.key, min_remaining)) {
        tracing::debug!("answered from the disk cache");
        return Ok(token);
    }
    loaded.source.check_private_keys()?;
    let token = block_on(mint)??;
    if let Some(slot) = slot
        && let Err(e) = slot.cache.store(&slot.key, &token)
    {
        tracing::warn!(
            "cannot write the token cache at {} ({e}); continuing without it",
            slot.cache.path(&slot.key).display()
        );
    }
    Ok(token)
}

/// Runs the future `make` returns to completion on a one-thread runtime built for it. The CLI
/// faces make at most a few requests, and build no runtime at all when they need none (a cache
/// hit). The future is made here, on a frame of its own: made by the caller, its several KB
/// would be on the stack of every call, whose pages each start would then touch.
#[inline(never)]
pub(crate) fn block_on<F: Future>(make: impl FnOnce() -> F) -> Result<F::Output> {
    Ok(start(tokio::runtime::Builder::new_current_thread())?.block_on(make()))
}

/// How many threads run a long-lived face's tasks.
#[derive(Debug, Clone, Copy)]
pub enum Workers {
    /// One, for `run`: a sidecar serves one pod and should leave the cores to it. Tokio's
    /// default, a thread per core, would start 64 on a 64-core node. On 2 cores the metadata
    /// API still serves more requests than nginx (2 workers), with a lower p99 than with a
    /// thread per core (docs/performance.md, "Benchmarks").
    One,
    /// One per core (or `TOKIO_WORKER_THREADS`), for the webhook, which serves the cluster.
    PerCore,
}

/// Runs the long-lived face (`run`, `webhook`) `make` returns on a multi-thread runtime; it
/// prints nothing. Not inlined, for the reason [`block_on`] gives: the face's future is tens
/// of KB.
#[inline(never)]
pub fn serve<F: Future<Output = Result<()>>>(workers: Workers, make: impl FnOnce() -> F) -> Result<String> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Workers::One = workers {
        builder.worker_threads(1);
    }
    let runtime = start(builder)?;
    let result = runtime.block_on(make());
    // A token file write stuck on a dead volume (a blocking-pool thread) must not hold the
    // exit: the drain is over, the files are left as they are.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result.map(|()| String::new())
}

fn start(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime> {
    builder.enable_all().build().map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
}
