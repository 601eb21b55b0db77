//! `print-access-token` and `print-identity-token`.

use serde_json::json;

use super::{MIN_CACHED_LIFETIME, cache_slot, cached_or_mint, load_source};
use crate::{
    cli::{OutputFormat, PrintAccessArgs, PrintIdentityArgs, SourceArgs},
    credentials::Env,
    error::{Error, Result},
    exchange::{self, AccessRequest, Http, IdRequest, RetryPolicy},
    token::Token,
};

/// Returns what `print-access-token` prints.
pub fn access_token(args: &PrintAccessArgs, env: &Env) -> Result<String> {
    let source = args.source.with_provider_alias(args.audience.as_ref());
    let request = AccessRequest { scopes: args.scopes.clone(), subject: args.subject.clone() };
    let token = cached_access_token(&source, &request, env)?;
    Ok(match args.format {
        OutputFormat::Bare => format!("{}\n", token.value.expose()),
        OutputFormat::Json => format!("{}\n", crate::token::TokenJson::render(&token)),
    })
}

/// The access token `print-access-token` prints for `source` and `request`: from the disk
/// cache, or minted and cached. The credential helpers call this too, so they share the
/// cache entry of the same flags.
pub(crate) fn cached_access_token(source: &SourceArgs, request: &AccessRequest, env: &Env) -> Result<Token> {
    // The scopes as `run` checks and expands them: `--scopes 'a b'` is exit 64, not a mint.
    let scopes = request.scopes.as_deref().map(crate::validate::scopes).transpose();
    let scopes = scopes.map_err(|why| Error::usage("--scopes", why))?;
    let request = &AccessRequest { scopes, subject: request.subject.clone() };
    let loaded = load_source(source, env)?;
    let scopes = request.scopes.as_ref().map(|s| s.join(" ")).unwrap_or_default();
    let subject = request.subject.as_deref().unwrap_or("");
    let slot = cache_slot(source, env, &loaded, "access", &[&scopes, subject]);
    let mint = || async {
        let http = Http::new(RetryPolicy::with_timeout(source.http_timeout))?;
        exchange::access_token(&http, &loaded.source, request).await
    };
    cached_or_mint(slot.as_ref(), MIN_CACHED_LIFETIME, &loaded, mint)
}

/// Returns what `print-identity-token` prints.
pub fn identity_token(args: &PrintIdentityArgs, env: &Env) -> Result<String> {
    if args.audience.trim().is_empty() {
        return Err(Error::usage(
            "--audience",
            "is required (or GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE); it must not be empty",
        ));
    }
    let loaded = load_source(&args.source, env)?;
    let request = IdRequest { audience: args.audience.clone(), include_email: args.include_email };
    let email = if request.include_email { "email" } else { "" };
    let slot = cache_slot(&args.source, env, &loaded, "id", &[&request.audience, email]);
    let mint = || async {
        let http = Http::new(RetryPolicy::with_timeout(args.source.http_timeout))?;
        exchange::id_token(&http, &loaded.source, &request).await
    };
    let token = cached_or_mint(slot.as_ref(), MIN_CACHED_LIFETIME, &loaded, mint)?;
    Ok(match args.format {
        OutputFormat::Bare => format!("{}\n", token.value.expose()),
        OutputFormat::Json => {
            format!("{}\n", json!({"id_token": token.value.expose(), "expiry": token.expiry_rfc3339()}))
        }
    })
}
