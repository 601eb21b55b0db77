//! Secrets that must never reach a log, an error message or `Debug` output, and that are
//! zeroed when dropped.

use std::fmt;

/// A secret string: an access token, ID token, refresh token, client secret or private key.
///
/// It has no `Display`, and `Debug` prints only a mask, so `{:?}` on any struct holding one
/// is safe. The only way to read it is [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send or print it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string (a missing value in a credential file).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

/// The value is overwritten with zeros when the secret goes away, so a freed token or key
/// does not linger in memory for a later core dump or a reused allocation to show.
impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_value() {
        let secret = Secret::new("ya29.very-secret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "ya29.very-secret");
    }
}
