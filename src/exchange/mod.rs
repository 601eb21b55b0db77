//! Talking to Google: one HTTP client, the OAuth grants, and the metadata server.
//! Credentials go in, [`Token`]s come out.

mod google_error;
mod http;
pub mod jwt;
pub mod metadata;
pub mod oauth;

pub use http::{Http, RetryPolicy};

use crate::{
    credentials::Source,
    error::{Error, Result},
    token::Token,
};

/// The scope gcloud and Google's libraries ask for by default.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// What access token to mint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRequest {
    /// Scopes; `None` means the source's default (cloud-platform for service accounts).
    pub scopes: Option<Vec<String>>,
    /// Domain-wide delegation: the user a service-account key acts as.
    pub subject: Option<String>,
}

impl AccessRequest {
    /// The scopes to ask for, defaults applied.
    pub fn scopes_or_default(&self) -> Vec<String> {
        self.scopes.clone().unwrap_or_else(|| vec![CLOUD_PLATFORM.to_owned()])
    }
}

/// What ID token to mint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdRequest {
    /// The `aud` the token is for.
    pub audience: String,
    /// Whether to ask for the `email` claims (metadata `format=full`, IAM `includeEmail`).
    pub include_email: bool,
}

/// Mints an access token from any source.
pub async fn access_token(http: &Http, source: &Source, request: &AccessRequest) -> Result<Token> {
    match source {
        Source::ServiceAccount(key) => {
            let scopes = request.scopes_or_default();
            if key.is_default_universe() {
                oauth::service_account_access(http, key, &scopes, request.subject.as_deref()).await
            } else if request.subject.is_some() {
                Err(Error::usage("--subject", "domain-wide delegation works only in the googleapis.com universe"))
            } else {
                oauth::self_signed_access(key, &scopes)
            }
        }
        Source::AuthorizedUser(user) => {
            reject_subject(request)?;
            oauth::refresh_grant(http, user, request.scopes.as_deref()).await
        }
        Source::Metadata(server) => {
            reject_subject(request)?;
            metadata::access_token(http, server, request.scopes.as_deref()).await
        }
    }
}

/// Mints an ID token from any source that can.
pub async fn id_token(http: &Http, source: &Source, request: &IdRequest) -> Result<Token> {
    match source {
        Source::ServiceAccount(key) if key.is_default_universe() => {
            oauth::service_account_id(http, key, &request.audience).await
        }
        Source::ServiceAccount(key) => Err(Error::Unsupported(format!(
            "ID tokens for keys in universe \"{}\" need IAM Credentials, which this build does not call; \
             use a googleapis.com key or the metadata server",
            key.universe_domain
        ))),
        Source::AuthorizedUser(user) => Err(Error::Unsupported(format!(
            "{}: user credentials cannot mint ID tokens for an audience; use a service-account key \
             or the metadata server",
            user.origin
        ))),
        Source::Metadata(server) => {
            metadata::id_token(http, server, &request.audience, request.include_email).await
        }
    }
}

fn reject_subject(request: &AccessRequest) -> Result<()> {
    match request.subject {
        Some(_) => Err(Error::usage("--subject", "works only with service-account key files")),
        None => Ok(()),
    }
}
