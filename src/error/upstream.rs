//! Errors of the upstreams the agent talks to: which endpoint, its URL as shown, and what it
//! answered (Google's `error` code and description only, never a body).

use std::fmt;

use crate::scrub::{Scrubbed, ShownUrl};

/// The upstreams the agent talks to: named in messages, and the `stage` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// An OAuth 2.0 token endpoint (`token_uri`).
    Token,
    /// Google STS (`token_url`, `--sts-endpoint`).
    Sts,
    /// IAM Credentials (`generateAccessToken`, `generateIdToken`).
    IamCredentials,
    /// A GCE/GKE metadata server.
    Metadata,
    /// An `external_account`'s `credential_source.url`.
    SubjectTokenUrl,
    /// A running agent's `token.json` (`exec-credential --from-file`).
    AgentTokenFile,
    /// Cloud Resource Manager (`run`'s numeric project id lookup).
    ResourceManager,
}

impl Endpoint {
    /// The `stage` metric label of a failure here.
    pub fn stage(self) -> &'static str {
        match self {
            Self::Token => "token_endpoint",
            Self::Sts => "sts",
            Self::IamCredentials => "impersonation",
            Self::Metadata => "metadata",
            Self::SubjectTokenUrl | Self::AgentTokenFile => "source",
            Self::ResourceManager => "resource_manager",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Token => "token endpoint",
            Self::Sts => "STS",
            Self::IamCredentials => "IAM Credentials",
            Self::Metadata => "metadata server",
            Self::SubjectTokenUrl => "subject token URL",
            Self::AgentTokenFile => "agent token file",
            Self::ResourceManager => "Resource Manager",
        })
    }
}

/// An upstream endpoint (token endpoint, STS, IAM, metadata server) failed.
#[derive(Debug, thiserror::Error)]
#[error("{endpoint} {url}: {kind}")]
pub struct UpstreamError {
    /// Which upstream.
    pub endpoint: Endpoint,
    /// The URL called, masked by `scrub::url`: no userinfo, no query.
    pub url: ShownUrl,
    /// What happened.
    pub kind: UpstreamErrorKind,
}

/// How an upstream call failed.
#[derive(Debug)]
pub enum UpstreamErrorKind {
    /// No HTTP answer: DNS, connect, TLS, timeout, reset.
    Unreachable(Scrubbed),
    /// An HTTP answer that says no, with Google's error code when it sent one.
    Refused {
        /// HTTP status.
        status: u16,
        /// Google's `error` code (`invalid_grant`, `PERMISSION_DENIED`, ...).
        code: Option<Scrubbed>,
        /// Google's description.
        description: Option<Scrubbed>,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<std::time::Duration>,
    },
    /// A 2xx answer we cannot use.
    BadResponse(Scrubbed),
}

impl fmt::Display for UpstreamErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(why) => write!(f, "unreachable: {why}"),
            Self::BadResponse(why) => write!(f, "unusable response: {why}"),
            Self::Refused { status, code, description, .. } => {
                write!(f, "HTTP {status}")?;
                if let Some(code) = code {
                    write!(f, " {code}")?;
                }
                if let Some(text) = description {
                    write!(f, ": {text}")?;
                }
                Ok(())
            }
        }
    }
}

/// OAuth `error` codes that Google's libraries retry at any HTTP status.
const RETRYABLE_CODES: [&str; 3] = ["internal_failure", "server_error", "temporarily_unavailable"];

impl UpstreamErrorKind {
    /// Whether Google's libraries would try this again: no answer, 5xx, 408, 429, or a
    /// retryable `error` code at any status. Never `invalid_grant` and friends, and never an
    /// unusable 2xx (asking again gets the same answer).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::BadResponse(_) => false,
            Self::Refused { status, code, description, .. } => {
                let retryable_code = |text: &Option<Scrubbed>| {
                    text.as_ref().is_some_and(|t| RETRYABLE_CODES.contains(&t.as_str()))
                };
                matches!(status, 500..=599 | 408 | 429) || retryable_code(code) || retryable_code(description)
            }
        }
    }
}

impl UpstreamError {
    /// A failure at `endpoint` when calling `url` (masked here).
    pub(crate) fn new(endpoint: Endpoint, url: &str, kind: UpstreamErrorKind) -> Self {
        Self { endpoint, url: ShownUrl::new(url), kind }
    }

    /// A 2xx answer from `endpoint` at `url` that cannot be used, and why (scrubbed here).
    pub(crate) fn bad_response(endpoint: Endpoint, url: &str, why: &str) -> Self {
        Self::new(endpoint, url, UpstreamErrorKind::BadResponse(Scrubbed::ours(why)))
    }

    /// How long the server asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match &self.kind {
            UpstreamErrorKind::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Google's `error` code, if it sent one.
    pub fn code(&self) -> Option<&str> {
        match &self.kind {
            UpstreamErrorKind::Refused { code, .. } => code.as_ref().map(Scrubbed::as_str),
            _ => None,
        }
    }
}
