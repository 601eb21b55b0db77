//! The short-lived faces: resolve a credential, answer from the cache or mint once, print.

pub mod print;

use std::{future::Future, time::Duration};

use crate::{
    cli::{SourceArgs, SourceKind},
    credentials::{self, Choice, Env, Loaded},
    error::Result,
    sinks::token_cache::TokenCache,
    token::Token,
};

/// A cached token is reused only with at least this much life left, so a script that
/// starts a long upload with it does not see it expire half-way.
pub const MIN_CACHED_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Loads the credential the flags select.
pub fn load_source(args: &SourceArgs, env: &Env) -> Result<Loaded> {
    let choice = match (&args.credentials, args.source) {
        (Some(path), _) => Choice::File(path.clone()),
        (None, SourceKind::Metadata) => Choice::Metadata,
        (None, SourceKind::Adc) => Choice::Adc,
    };
    credentials::resolve(&choice, env)
}

/// The disk cache, unless `--no-cache` or there is no home to put it in.
pub fn cache(args: &SourceArgs, env: &Env) -> Option<TokenCache> {
    if args.no_cache {
        return None;
    }
    TokenCache::default_dir(env).map(TokenCache::new)
}

/// A cached token for `key`, or a fresh one from `mint`, stored for next time.
/// A cache that cannot be written is reported and otherwise ignored.
pub async fn cached_or_mint<F>(cache: Option<&TokenCache>, key: &str, mint: F) -> Result<Token>
where
    F: Future<Output = Result<Token>>,
{
    if let Some(token) = cache.and_then(|c| c.load(key, MIN_CACHED_LIFETIME)) {
        tracing::debug!("answered from the disk cache");
        return Ok(token);
    }
    let token = mint.await?;
    if let Some(cache) = cache
        && let Err(e) = cache.store(key, &token)
    {
        tracing::warn!("cannot write the token cache at {} ({e}); continuing without it", cache.path(key).display());
    }
    Ok(token)
}
