//! `print-access-token` and `print-identity-token`.

use serde_json::json;

use super::{MIN_CACHED_LIFETIME, cache_slot, cached_or_mint, load_source};
use crate::{
    config::{AccessConfig, OutputFormat, PrintAccessConfig, PrintIdentityConfig},
    credentials::Env,
    error::Result,
    exchange::{self, Http, RetryPolicy},
    token::Token,
    validate::Scope,
};

/// Returns what `print-access-token` prints.
pub fn access_token(config: &PrintAccessConfig, env: &Env) -> Result<String> {
    let token = cached_access_token(&config.access, env)?;
    Ok(match config.format {
        OutputFormat::Bare => format!("{}\n", token.value.expose()),
        OutputFormat::Json => format!("{}\n", crate::token::TokenJson::render(&token)),
    })
}

/// The access token `print-access-token` prints for `access`: from the disk cache, or minted
/// and cached. The credential helpers call this too, so they share the cache entry of the
/// same flags.
pub(crate) fn cached_access_token(access: &AccessConfig, env: &Env) -> Result<Token> {
    let (source, request) = (&access.source, &access.request);
    let loaded = load_source(source, env)?;
    let scopes = request.scopes.as_deref().map(|s| Scope::joined(s, " ")).unwrap_or_default();
    let subject = request.subject.as_deref().unwrap_or("");
    let slot = cache_slot(source, env, &loaded, "access", &[&scopes, subject]);
    let mint = || async {
        let http = Http::new(RetryPolicy::with_timeout(source.http_timeout))?;
        exchange::access_token(&http, &loaded.source, request).await
    };
    cached_or_mint(slot.as_ref(), MIN_CACHED_LIFETIME, &loaded, mint)
}

/// Returns what `print-identity-token` prints.
pub fn identity_token(config: &PrintIdentityConfig, env: &Env) -> Result<String> {
    let (source, request) = (&config.source, &config.request);
    let loaded = load_source(source, env)?;
    let email = if request.include_email { "email" } else { "" };
    let slot = cache_slot(source, env, &loaded, "id", &[&request.audience, email]);
    let mint = || async {
        let http = Http::new(RetryPolicy::with_timeout(source.http_timeout))?;
        exchange::id_token(&http, &loaded.source, request).await
    };
    let token = cached_or_mint(slot.as_ref(), MIN_CACHED_LIFETIME, &loaded, mint)?;
    Ok(match config.format {
        OutputFormat::Bare => format!("{}\n", token.value.expose()),
        OutputFormat::Json => {
            format!("{}\n", json!({"id_token": token.value.expose(), "expiry": token.expiry_rfc3339()}))
        }
    })
}
