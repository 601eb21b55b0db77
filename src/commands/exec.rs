//! `exec-credential`: a kubectl credential plugin, cached on disk across kubectl runs.

use std::{path::Path, time::SystemTime};

use super::{MIN_CACHED_LIFETIME, cache_slot, cached_or_mint, load_source};
use crate::{
    config::{ExecConfig, ExecToken, SourceConfig},
    credentials::Env,
    error::{Endpoint, Error, Origin, Result, UpstreamError},
    exchange::{self, AccessRequest, Http, RetryPolicy},
    sinks::exec_credential::{EXPIRY_MARGIN, ExecInfo, render},
    token::{Token, parse_rfc3339},
    validate::Scope,
};

/// Returns the ExecCredential JSON `exec-credential` prints.
pub fn exec_credential(config: &ExecConfig, env: &Env) -> Result<String> {
    let token = match &config.token {
        ExecToken::FromFile(path) => from_agent_file(path)?,
        ExecToken::Mint { source, scopes } => mint_cached(source, scopes, env, &config.info)?,
    };
    Ok(render(&config.info, &token))
}

fn mint_cached(source: &SourceConfig, scopes: &[Scope], env: &Env, info: &ExecInfo) -> Result<Token> {
    let loaded = load_source(source, env)?;
    let request = AccessRequest { scopes: Some(scopes.to_vec()), subject: None };
    let server = info.cluster_server.as_deref().unwrap_or("");
    let slot = cache_slot(source, env, &loaded, "exec", &[&Scope::joined(scopes, " "), server]);
    let mint = || async {
        let http = Http::new(RetryPolicy::with_timeout(source.http_timeout))?;
        exchange::access_token(&http, &loaded.source, &request).await
    };
    // A cached token must outlive the early expiry we report by a comfortable margin.
    cached_or_mint(slot.as_ref(), MIN_CACHED_LIFETIME + EXPIRY_MARGIN, &loaded, mint)
}

/// Reads a running agent's `token.json`: no network, no credentials.
fn from_agent_file(path: &Path) -> Result<Token> {
    let origin = Origin::file(path, "--from-file");
    let bytes = crate::input::read_file(path)
        .map_err(|source| Error::ReadCredentials { origin: origin.clone(), source })?;
    let file: crate::token::TokenJson = serde_json::from_slice(&bytes).map_err(|e| {
        Error::parse(
            &origin,
            format!(
                "is not an agent token.json with \"access_token\" and \"expiry\" ({})",
                crate::validate::without_quoted(&e.to_string())
            ),
        )
    })?;
    let expires_at = parse_rfc3339(&file.expiry)
        .ok_or_else(|| Error::parse(&origin, "field \"expiry\" is not RFC 3339"))?;
    // The same checks as a token from Google: not empty, no stray characters, not expired.
    Token::from_upstream(file.access_token, SystemTime::now(), expires_at).map_err(|why| {
        Error::Upstream(UpstreamError::bad_response(
            Endpoint::AgentTokenFile,
            &path.display().to_string(),
            &format!("{why}; is the agent running?"),
        ))
    })
}
