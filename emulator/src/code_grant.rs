//! `grant_type=authorization_code` at `/token`: redeems a code from the
//! consent page, checking client, code, redirect URI and PKCE verifier in
//! the order Google does.

use std::time::SystemTime;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::consent::new_refresh_token;
use super::form::Form;
use super::server::OAuthError;
use super::state::{Shared, UserGrant};
use super::token::{bad_grant, required, user_token_body};

/// Exactly what a correct client sends; anything else is a client bug.
pub const PARAMETERS: [&str; 6] =
    ["grant_type", "code", "client_id", "client_secret", "redirect_uri", "code_verifier"];

/// Redeems the code; on success the refresh token (for offline access) is
/// registered like [`super::Emulator::add_authorized_user`]'s.
pub fn exchange(shared: &Shared, form: &Form) -> Result<Value, OAuthError> {
    let client_id = required(form, "client_id")?;
    let secret = required(form, "client_secret")?;
    let code = required(form, "code")?;
    let redirect_uri = required(form, "redirect_uri")?;
    let mut state = shared.lock();
    let not_found = || OAuthError::new(401, "invalid_client", "The OAuth client was not found.");
    let client = state.clients.get(client_id).ok_or_else(not_found)?;
    if client.secret != secret {
        return Err(OAuthError::new(401, "invalid_client", "Unauthorized"));
    }
    // Another client cannot burn someone else's code, so only a code of this
    // client is consumed; from then on it is gone whatever the outcome.
    let ours = state.consent.codes.get(code).is_some_and(|c| c.request.client_id == client_id);
    let issued = if ours { state.consent.codes.remove(code) } else { None };
    let issued = issued.ok_or_else(|| bad_grant("Bad Request"))?;
    if issued.expires_at <= SystemTime::now() {
        return Err(bad_grant("Bad Request"));
    }
    let request = issued.request;
    if redirect_uri != request.redirect_uri {
        return Err(OAuthError::new(400, "redirect_uri_mismatch", "Bad Request"));
    }
    let verifier = form.get("code_verifier").filter(|v| !v.is_empty());
    let verifier = verifier.ok_or_else(|| bad_grant("Missing code verifier."))?;
    if URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes())) != request.challenge {
        return Err(bad_grant("Invalid code verifier."));
    }
    let user_id = state.user_id(&issued.email);
    let refresh_token = request.offline.then(new_refresh_token);
    if let Some(token) = &refresh_token {
        let grant = UserGrant {
            client_id: client_id.to_string(),
            email: issued.email.clone(),
            user_id: user_id.clone(),
            scopes: request.scopes.clone(),
        };
        state.grants.insert(token.clone(), grant);
    }
    // Minting takes the lock again.
    drop(state);
    let mut body = user_token_body(shared, client_id, &issued.email, &user_id, request.scopes);
    if let Some(token) = refresh_token {
        body["refresh_token"] = Value::from(token);
    }
    Ok(body)
}
