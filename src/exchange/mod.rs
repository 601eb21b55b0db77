//! Talking to Google: one HTTP client, the OAuth grants, and the metadata server.
//! Credentials go in, [`Token`]s come out.

pub(crate) mod google_error;
mod http;
pub(crate) mod iam;
pub(crate) mod jwt;
pub(crate) mod metadata;
pub(crate) mod oauth;
pub(crate) mod probe;
pub(crate) mod resource_manager;
pub(crate) mod sts;
pub(crate) mod subject;

pub(crate) use http::{Http, RetryPolicy};

use std::{future::Future, pin::Pin};

use crate::{
    credentials::{ExternalAccount, Source},
    error::{Error, Result},
    token::Token,
    validate::Scope,
};

/// The scope gcloud and Google's libraries ask for by default.
pub(crate) const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// What access token to mint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AccessRequest {
    /// Scopes; `None` means the source's default (cloud-platform for service accounts).
    pub scopes: Option<Vec<Scope>>,
    /// Domain-wide delegation: the user a service-account key acts as.
    pub subject: Option<String>,
}

impl AccessRequest {
    /// The scopes to ask for, defaults applied.
    pub(crate) fn scopes_or_default(&self) -> Vec<Scope> {
        self.scopes.clone().unwrap_or_else(|| vec![Scope::as_given(CLOUD_PLATFORM)])
    }
}

/// What ID token to mint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdRequest {
    /// The `aud` the token is for.
    pub audience: String,
    /// Whether to ask for the `email` claims (metadata `format=full`, IAM `includeEmail`).
    pub include_email: bool,
}

/// Mints an access token from any source.
pub(crate) async fn access_token(http: &Http, source: &Source, request: &AccessRequest) -> Result<Token> {
    match source {
        Source::ServiceAccount(key) => {
            let scopes = request.scopes_or_default();
            if key.is_default_universe() {
                oauth::service_account_access(http, key, &scopes, request.subject.as_deref()).await
            } else if request.subject.is_some() {
                Err(Error::usage(
                    "--subject",
                    "domain-wide delegation works only in the googleapis.com universe",
                ))
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
        Source::ExternalAccount(account) => {
            reject_subject(request)?;
            let scopes = request.scopes_or_default();
            match &account.impersonation {
                None => federated(http, account, &scopes).await,
                Some(target) => {
                    // Go's rule: STS grants cloud-platform, IAM narrows to the caller's scopes.
                    let federated = federated(http, account, &[Scope::as_given(CLOUD_PLATFORM)]).await?;
                    iam::generate_access_token(http, target, &federated.value, &scopes).await
                }
            }
        }
        Source::Impersonated(imp) => {
            reject_subject(request)?;
            let caller = caller_token(http, &imp.source).await?;
            iam::generate_access_token(http, &imp.target, &caller.value, &request.scopes_or_default()).await
        }
    }
}

/// Mints an ID token from any source that can.
pub(crate) async fn id_token(http: &Http, source: &Source, request: &IdRequest) -> Result<Token> {
    check_id_token_support(source)?;
    let (audience, email) = (request.audience.as_str(), request.include_email);
    match source {
        Source::ServiceAccount(key) => oauth::service_account_id(http, key, audience).await,
        Source::Metadata(server) => metadata::id_token(http, server, audience, email).await,
        Source::ExternalAccount(account) => {
            let target = account.impersonation.as_ref().ok_or_else(|| federated_id_refusal(account))?;
            let federated = federated(http, account, &[Scope::as_given(CLOUD_PLATFORM)]).await?;
            iam::generate_id_token(http, target, &federated.value, audience, email).await
        }
        Source::Impersonated(imp) => {
            let caller = caller_token(http, &imp.source).await?;
            iam::generate_id_token(http, &imp.target, &caller.value, audience, email).await
        }
        Source::AuthorizedUser(user) => Err(user_id_refusal(user)),
    }
}

/// Whether `source` can mint ID tokens at all, so `run --id-token` fails at start-up (exit 64)
/// rather than retrying forever.
pub(crate) fn check_id_token_support(source: &Source) -> Result<()> {
    match source {
        Source::ServiceAccount(key) if !key.is_default_universe() => Err(Error::Unsupported(format!(
            "ID tokens for keys in universe \"{}\" are not supported; use --impersonate-service-account \
             or the metadata server",
            key.universe_domain
        ))),
        Source::AuthorizedUser(user) => Err(user_id_refusal(user)),
        Source::ExternalAccount(account) if account.impersonation.is_none() => {
            Err(federated_id_refusal(account))
        }
        _ => Ok(()),
    }
}

fn user_id_refusal(user: &crate::credentials::AuthorizedUser) -> Error {
    Error::Unsupported(format!(
        "{}: user credentials cannot mint ID tokens for an audience; add \
         --impersonate-service-account EMAIL or use a service-account key",
        user.origin
    ))
}

fn federated_id_refusal(account: &ExternalAccount) -> Error {
    Error::Unsupported(format!(
        "{}: Google cannot mint ID tokens for a federated identity by itself; configure a \
         service account to impersonate (service_account_impersonation_url, or --service-account)",
        account.origin
    ))
}

/// The token a source presents to IAM Credentials: cloud-platform, as Go's libraries ask.
/// Boxed because an impersonated source may itself be any source.
fn caller_token<'a>(
    http: &'a Http,
    source: &'a Source,
) -> Pin<Box<dyn Future<Output = Result<Token>> + Send + 'a>> {
    let request = AccessRequest { scopes: Some(vec![Scope::as_given(CLOUD_PLATFORM)]), subject: None };
    Box::pin(async move { access_token(http, source, &request).await })
}

/// Reads the subject token and exchanges it at STS.
async fn federated(http: &Http, account: &ExternalAccount, scopes: &[Scope]) -> Result<Token> {
    let subject = subject::read(http, account).await?;
    sts::exchange(http, account, &subject, scopes).await
}

fn reject_subject(request: &AccessRequest) -> Result<()> {
    match request.subject {
        Some(_) => Err(Error::usage("--subject", "works only with service-account key files")),
        None => Ok(()),
    }
}
