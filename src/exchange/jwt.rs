//! Signing JWTs with a service-account key.

use std::time::SystemTime;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::{
    credentials::ServiceAccountKey,
    error::{Error, Result},
    token::unix_seconds,
};

/// Assertions live one hour, the most Google accepts.
pub(crate) const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// The claims of a JWT-bearer assertion or self-signed access token.
#[derive(Debug, Serialize)]
pub(crate) struct Claims<'a> {
    /// The service account.
    pub iss: &'a str,
    /// Space-joined scopes (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The token endpoint (grants); omitted for self-signed scope tokens, as Python does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<&'a str>,
    /// The audience an ID token is wanted for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_audience: Option<&'a str>,
    /// Domain-wide delegation: the user to act as (or the account itself, self-signed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<&'a str>,
    /// Issued at.
    pub iat: u64,
    /// Expires at.
    pub exp: u64,
}

impl<'a> Claims<'a> {
    /// Claims issued by `key` now, valid for an hour; the caller fills in the rest.
    pub(crate) fn new(key: &'a ServiceAccountKey, now: SystemTime) -> Self {
        let iat = unix_seconds(now);
        Self {
            iss: &key.client_email,
            scope: None,
            aud: None,
            target_audience: None,
            sub: None,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECS,
        }
    }
}

/// Signs `claims` with RS256 and the key's `kid`.
pub(crate) fn sign(key: &ServiceAccountKey, claims: &Claims<'_>) -> Result<String> {
    let fail = |reason: String| Error::SignAssertion { origin: key.origin.clone(), reason };
    let encoding_key =
        EncodingKey::from_rsa_pem(key.private_key.expose().as_bytes()).map_err(|e| fail(e.to_string()))?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    jsonwebtoken::encode(&header, claims, &encoding_key).map_err(|e| fail(e.to_string()))
}
