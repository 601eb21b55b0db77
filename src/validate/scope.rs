//! OAuth scopes.

use std::fmt;

/// Where Google's OAuth scopes live; short names are relative to it, as in gcloud.
const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";
/// OpenID Connect scopes, which are sent as they are.
const OIDC_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// An OAuth scope, as sent to Google.
///
/// Two ways in, by who said it:
/// * [`Scope::parse`] (and [`Scope::parse_list`]), strict, where a person types scopes for a
///   token (`--scopes` of `run`, the print commands, `exec-credential` and the helpers, `run
///   --config`'s `scopes`, the webhook's `scopes` annotation):
///   an `https://` URL, an OpenID scope, or a short name such as `cloud-platform` or
///   `devstorage.read_only`, which becomes `https://www.googleapis.com/auth/NAME`. The caller
///   names the flag or annotation in its exit-64 error.
/// * [`Scope::as_given`], lenient, where a program asks (the metadata API's `?scopes=`, which
///   Google's libraries fill with URLs) and for `login --scopes`, which Google's consent screen
///   judges: sent as is, Google being the judge, as on GCE and as `login` always did.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub(crate) struct Scope(String);

impl Scope {
    /// Checks and expands a scope a person typed (see the type's rule).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("https://") {
            let host = rest.split('/').next().unwrap_or_default();
            let clean = !rest.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',');
            if clean && !host.is_empty() && host.contains('.') {
                return Ok(Self(text.to_owned()));
            }
            return Err(format!("\"{text}\" is not a scope URL"));
        }
        if OIDC_SCOPES.contains(&text) {
            return Ok(Self(text.to_owned()));
        }
        let short = text.starts_with(|c: char| c.is_ascii_lowercase())
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if short {
            return Ok(Self(format!("{SCOPE_PREFIX}{text}")));
        }
        Err(format!(
            "\"{text}\" is not a scope: use a URL (https://www.googleapis.com/auth/cloud-platform) or a short name (cloud-platform)"
        ))
    }

    /// Every scope of a list, expanded; an empty list or an empty scope is an error.
    pub(crate) fn parse_list(list: &[String]) -> Result<Vec<Self>, String> {
        if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
            return Err(format!("{list:?} contains an empty scope"));
        }
        list.iter().map(|s| Self::parse(s)).collect()
    }

    /// A scope a program asked for, unchecked (see the type's rule).
    pub(crate) fn as_given(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The scopes as one space-separated string, as OAuth sends them.
    pub(crate) fn joined(scopes: &[Self], separator: &str) -> String {
        scopes.iter().map(Self::as_str).collect::<Vec<_>>().join(separator)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
