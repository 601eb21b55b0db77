//! Minting tokens and recording them in the ledger tests query with `issued`.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::state::{Issued, Shared, now, random_alnum};

/// Mints an access token, records it, and returns the JSON body.
pub fn issue_access_token(
    shared: &Shared,
    principal: &str,
    scopes: Vec<String>,
    subject: Option<String>,
) -> Value {
    let token = format!("ya29.emu-{}", random_alnum(48));
    let (lifetime, expires_at) = {
        let state = shared.lock();
        (state.lifetime, state.expiry(now()))
    };
    let body = json!({ "access_token": token, "expires_in": lifetime, "token_type": "Bearer" });
    let principal_email = principal.to_string();
    let issued = Issued { principal_email, scopes, audience: None, expires_at, subject };
    shared.remember(&token, issued);
    body
}

/// Mints a bare access token `{prefix}<random>` valid for `lifetime`,
/// records it for `principal`, and returns it with its expiry. STS and IAM
/// use this: their answers are not the token endpoint's shape.
pub fn issue_bare_token(
    shared: &Shared,
    prefix: &str,
    principal: &str,
    scopes: Vec<String>,
    lifetime: Duration,
) -> (String, SystemTime) {
    let token = format!("{prefix}{}", random_alnum(48));
    let expires_at = SystemTime::now() + lifetime;
    let principal_email = principal.to_string();
    let issued = Issued { principal_email, scopes, audience: None, expires_at, subject: None };
    shared.remember(&token, issued);
    (token, expires_at)
}

/// Signs an ID token with the emulator key and records it.
pub fn sign_id_token(shared: &Shared, principal: &str, subject: Option<String>, mut claims: Value) -> String {
    let iat = now();
    let (lifetime, expires_at) = {
        let state = shared.lock();
        (state.lifetime, state.expiry(iat))
    };
    claims["iss"] = json!("https://accounts.google.com");
    claims["iat"] = json!(iat);
    claims["exp"] = json!(iat + lifetime);
    let jwt = shared.signer().sign(&claims);
    let audience = claims["aud"].as_str().map(str::to_string);
    let principal_email = principal.to_string();
    let issued = Issued { principal_email, scopes: vec![], audience, expires_at, subject };
    shared.remember(&jwt, issued);
    jwt
}
