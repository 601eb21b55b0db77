//! Fuzz entry points for credentials: a credentials file of any type, what a
//! `credential_source` returns (a subject token, an executable's answer) and `login`'s OAuth
//! client secrets file.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::{Scratch, origin};
use crate::{
    commands::login::OAuthClient,
    credentials::{
        self, Env,
        external_account::{Format, JWT_TOKEN_TYPE},
    },
    exchange::subject,
};

/// A credentials JSON file of any `type` (service_account, authorized_user, external_account
/// with each `credential_source`, impersonated_service_account with a nested source), parsed
/// as `load_file` does once the file is read, private keys decoded as before a mint.
pub fn credentials_file(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<Value>(data) else { return };
    // Executables allowed, so `credential_source.executable` is parsed rather than refused.
    let env = Env { allow_executables: true, ..Env::default() };
    if let Ok(source) = credentials::parse_json(&origin(), json, &env) {
        source.watched_files();
        let _ = source.check_private_keys();
    }
}

/// A subject token as a `credential_source` file or URL returns it: text or a JSON field,
/// then the JWT shape check for JWT-typed and other subject tokens.
pub fn subject_token(data: &[u8]) {
    // URL bodies are read lossily; files must be UTF-8, a subset of what this covers.
    let content = String::from_utf8_lossy(data).into_owned();
    let formats =
        [Format::Text, Format::Json("id_token".to_owned()), Format::Json("access_token".to_owned())];
    for format in &formats {
        let Ok(token) = subject::extract(&origin(), content.clone(), format) else { continue };
        for kind in [
            JWT_TOKEN_TYPE,
            "urn:ietf:params:oauth:token-type:id_token",
            "urn:ietf:params:aws:token-type:saml2",
        ] {
            let _ = subject::check_shape(&origin(), kind, &token);
        }
    }
}

/// What an executable `credential_source` prints (Google's executable-response JSON).
pub fn executable_response(data: &[u8]) {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let _ = subject::parse_response(data, now);
}

/// An OAuth client secrets file, as `login --client-secrets` reads it.
pub fn client_secrets(data: &[u8]) {
    let Some(file) = Scratch::new("json", data) else { return };
    let _ = OAuthClient::load(&file.0);
}
