//! Errors, named by the step that failed, and the exit codes they map to.
//!
//! Every message names the file, flag or field to fix. None carries a secret: upstream
//! errors keep only Google's `error` code and description, never a request or response body.
//! Those upstream errors (endpoint, URL, what it answered) are in `upstream`.

use std::{fmt, io, path::PathBuf};

use crate::scrub::ShownUrl;

mod upstream;
pub(crate) use upstream::Endpoint;
pub use upstream::{UpstreamError, UpstreamErrorKind};

/// Exit code for bad usage or configuration (BSD `EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;
/// Exit code when Google is unreachable or refuses (BSD `EX_UNAVAILABLE`).
pub(crate) const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code for anything else.
pub(crate) const EXIT_OTHER: u8 = 1;

/// What a credential input is: a file, a URL, a program, or a service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A file on disk.
    File(PathBuf),
    /// A URL (shown without user:password@ or query).
    Url(ShownUrl),
    /// A program (its name only, never its arguments).
    Command(String),
    /// A service account, by email.
    Account(String),
}

/// Where a credential input came from, so the message can say which setting to change.
#[derive(Debug, Clone)]
pub struct Origin {
    /// What it is.
    pub what: Named,
    /// The flag, variable, field or convention that named it.
    pub via: &'static str,
}

impl Origin {
    /// A file named by `via`.
    pub(crate) fn file(path: impl Into<PathBuf>, via: &'static str) -> Self {
        Self { what: Named::File(path.into()), via }
    }

    /// The file, when this origin is one.
    pub(crate) fn path(&self) -> Option<&std::path::Path> {
        match &self.what {
            Named::File(path) => Some(path),
            _ => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            Named::File(path) => write!(f, "{}", path.display())?,
            Named::Url(url) => write!(f, "{url}")?,
            Named::Command(program) => write!(f, "program {program}")?,
            Named::Account(email) => write!(f, "service account {email}")?,
        }
        write!(f, " (from {})", self.via)
    }
}

/// Everything that can go wrong, one variant per step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or combination of flags is wrong.
    #[error("{flag}: {reason}")]
    Usage {
        /// The flag (or variable) to fix.
        flag: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The credentials file could not be read.
    #[error("cannot read credentials file {origin}: {source}")]
    ReadCredentials {
        /// The file and who named it.
        origin: Origin,
        /// The I/O error.
        source: io::Error,
    },
    /// The credentials file was read but is not a usable credential.
    #[error("credentials file {origin}: {reason}")]
    ParseCredentials {
        /// The file and who named it.
        origin: Origin,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// Application Default Credentials found nothing.
    #[error(
        "no credentials found: pass --credentials FILE, set GOOGLE_APPLICATION_CREDENTIALS, \
         create gcloud's application_default_credentials.json, or run where a metadata server \
         answers (GCE_METADATA_HOST); looked for {looked}"
    )]
    NoCredentials {
        /// What was tried, for the message.
        looked: String,
    },
    /// A credential cannot do what was asked (e.g. an ID token from user credentials).
    #[error("{0}")]
    Unsupported(String),
    /// Signing the JWT assertion failed.
    #[error("cannot sign with the private key of {origin}: {reason}; check field \"private_key\"")]
    SignAssertion {
        /// The key file.
        origin: Origin,
        /// Why.
        reason: String,
    },
    /// An upstream endpoint failed or refused.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// A credential source ran but did not deliver: an executable that failed, timed out or
    /// flooded its output. Not the configuration's fault, and it may work next time.
    #[error("credential source {origin}: {reason}")]
    SourceFailed {
        /// The source (for an executable, only the program, never its arguments).
        origin: Origin,
        /// What happened.
        reason: String,
    },
    /// Something the user was to do did not happen in time (`login --timeout`).
    #[error("{0}")]
    TimedOut(String),
    /// The user or Google said no in the browser (`login`: consent denied, a forged redirect).
    #[error("{0}")]
    Refused(String),
    /// Something in this process failed (runtime, signals, randomness): not the user's doing.
    #[error("{0}")]
    Internal(String),
    /// A credential helper was asked for a host it does not answer (git's `--allow-host`,
    /// Docker's `credHelpers`): no token, and `answer` on stdout in the helper's protocol.
    #[error("{reason}")]
    HostNotAllowed {
        /// Which host, and how to opt in.
        reason: String,
        /// What the helper protocol expects on stdout for "no credential".
        answer: &'static str,
    },
    /// `doctor` found something wrong: `report` goes to stdout, the summary to stderr.
    #[error("{summary}")]
    Unhealthy {
        /// How many findings failed.
        summary: String,
        /// Every finding, as asked (`--format`).
        report: String,
    },
    /// Writing an output file failed.
    #[error("cannot write {path}: {source}")]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage { .. }
            | Error::ReadCredentials { .. }
            | Error::ParseCredentials { .. }
            | Error::NoCredentials { .. }
            | Error::Unsupported(_)
            | Error::SignAssertion { .. } => EXIT_USAGE,
            Error::Upstream(_) | Error::SourceFailed { .. } | Error::Refused(_) => EXIT_UNAVAILABLE,
            Error::WriteFile { .. }
            | Error::Internal(_)
            | Error::TimedOut(_)
            | Error::HostNotAllowed { .. }
            | Error::Unhealthy { .. } => EXIT_OTHER,
        }
    }

    /// The pipeline stage that failed, for the `stage` metric label.
    pub fn stage(&self) -> &'static str {
        match self {
            Error::SignAssertion { .. } => "sign",
            Error::WriteFile { .. } => "file_write",
            Error::Upstream(e) => e.endpoint.stage(),
            _ => "source",
        }
    }

    /// A low-cardinality reason for the `reason` metric label: Google's error code when it is
    /// one of the known few, else the HTTP status class or the kind of local failure.
    pub fn reason(&self) -> &'static str {
        const KNOWN: [&str; 12] = [
            "invalid_grant",
            "invalid_request",
            "invalid_scope",
            "invalid_client",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_target",
            "temporarily_unavailable",
            "server_error",
            "PERMISSION_DENIED",
            "UNAUTHENTICATED",
            "NOT_FOUND",
        ];
        match self {
            Error::ReadCredentials { .. } => "unreadable",
            Error::ParseCredentials { .. } | Error::Usage { .. } => "invalid",
            Error::NoCredentials { .. } => "not_found",
            Error::Unsupported(_) => "unsupported",
            Error::SignAssertion { .. } => "bad_key",
            Error::WriteFile { .. } => "io",
            Error::Internal(_) => "internal",
            Error::SourceFailed { .. } => "source_failed",
            Error::TimedOut(_) => "timeout",
            Error::Refused(_) => "refused",
            Error::HostNotAllowed { .. } => "host_not_allowed",
            Error::Unhealthy { .. } => "unhealthy",
            Error::Upstream(e) => match &e.kind {
                UpstreamErrorKind::Unreachable(_) => "unreachable",
                UpstreamErrorKind::BadResponse(_) => "bad_response",
                UpstreamErrorKind::Refused { status, code, .. } => {
                    match code.as_ref().and_then(|c| KNOWN.iter().find(|k| **k == c.as_str())) {
                        Some(known) => known,
                        None if *status == 429 => "rate_limited",
                        None if *status >= 500 => "server_error",
                        None => "refused",
                    }
                }
            },
        }
    }

    /// Whether trying again soon may help. Refusals Google's libraries do not retry
    /// (`invalid_grant`, 403, ...) and bad configuration will not heal by hammering.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Upstream(e) => e.kind.is_retryable(),
            // A broken or half-written file is usually mid-rotation; the watcher also re-kicks.
            Error::ReadCredentials { .. }
            | Error::ParseCredentials { .. }
            | Error::WriteFile { .. }
            | Error::SourceFailed { .. } => true,
            _ => false,
        }
    }

    /// What goes to stdout despite the failure (a helper protocol's "not found"), if anything.
    pub fn answer(&self) -> Option<&str> {
        match self {
            Error::HostNotAllowed { answer, .. } if !answer.is_empty() => Some(answer),
            Error::Unhealthy { report, .. } => Some(report),
            _ => None,
        }
    }

    /// A usage error for `flag`.
    pub fn usage(flag: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Usage { flag: flag.into(), reason: reason.into() }
    }

    /// `origin` does not have the shape of `what`: serde's message, without the string values
    /// it quotes (one may be a secret in the wrong place).
    pub(crate) fn malformed(origin: &Origin, what: &str, error: &impl fmt::Display) -> Self {
        let why = crate::validate::without_quoted(&error.to_string());
        Error::parse(origin, format!("{what} ({why})"))
    }

    /// A parse error for the credentials file at `origin`.
    pub fn parse(origin: &Origin, reason: impl Into<String>) -> Self {
        Error::ParseCredentials { origin: origin.clone(), reason: reason.into() }
    }
}

/// Result alias for the crate.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::Scrubbed;

    fn upstream(endpoint: Endpoint, kind: UpstreamErrorKind) -> Error {
        Error::Upstream(UpstreamError::new(endpoint, "https://x", kind))
    }

    fn refused(status: u16, code: Option<&str>) -> UpstreamErrorKind {
        UpstreamErrorKind::Refused {
            status,
            code: code.map(Scrubbed::ours),
            description: None,
            retry_after: None,
        }
    }

    /// Every variant's exit code, metric stage and reason, and whether the owner retries it:
    /// the contract scripts and dashboards rely on.
    #[test]
    fn every_error_maps_to_its_exit_code_stage_reason_and_retry() {
        let origin = Origin::file("f.json", "--credentials");
        let io = || io::Error::other("x");
        let table: Vec<(Error, u8, &str, &str, bool)> = vec![
            (Error::usage("--x", "y"), 64, "source", "invalid", false),
            (
                Error::ReadCredentials { origin: origin.clone(), source: io() },
                64,
                "source",
                "unreadable",
                true,
            ),
            (Error::parse(&origin, "bad"), 64, "source", "invalid", true),
            (Error::NoCredentials { looked: "x".into() }, 64, "source", "not_found", false),
            (Error::Unsupported("x".into()), 64, "source", "unsupported", false),
            (
                Error::SignAssertion { origin: origin.clone(), reason: "x".into() },
                64,
                "sign",
                "bad_key",
                false,
            ),
            (Error::SourceFailed { origin, reason: "x".into() }, 69, "source", "source_failed", true),
            (Error::TimedOut("x".into()), 1, "source", "timeout", false),
            (Error::Refused("x".into()), 69, "source", "refused", false),
            (Error::Internal("x".into()), 1, "source", "internal", false),
            (
                Error::HostNotAllowed { reason: "x".into(), answer: "" },
                1,
                "source",
                "host_not_allowed",
                false,
            ),
            (Error::WriteFile { path: "t".into(), source: io() }, 1, "file_write", "io", true),
            (
                upstream(Endpoint::Token, refused(400, Some("invalid_grant"))),
                69,
                "token_endpoint",
                "invalid_grant",
                false,
            ),
            (upstream(Endpoint::Sts, refused(503, None)), 69, "sts", "server_error", true),
            (
                upstream(Endpoint::IamCredentials, refused(429, None)),
                69,
                "impersonation",
                "rate_limited",
                true,
            ),
            (
                upstream(Endpoint::Metadata, UpstreamErrorKind::Unreachable(Scrubbed::ours("x"))),
                69,
                "metadata",
                "unreachable",
                true,
            ),
            (
                upstream(Endpoint::SubjectTokenUrl, UpstreamErrorKind::BadResponse(Scrubbed::ours("x"))),
                69,
                "source",
                "bad_response",
                false,
            ),
            (
                upstream(Endpoint::ResourceManager, refused(403, Some("PERMISSION_DENIED"))),
                69,
                "resource_manager",
                "PERMISSION_DENIED",
                false,
            ),
            (
                upstream(Endpoint::Sts, refused(403, Some("PERMISSION_DENIED"))),
                69,
                "sts",
                "PERMISSION_DENIED",
                false,
            ),
        ];
        for (error, code, stage, reason, retry) in table {
            let got = (error.exit_code(), error.stage(), error.reason(), error.is_retryable());
            assert_eq!(got, (code, stage, reason, retry), "{error}");
        }
    }
}
