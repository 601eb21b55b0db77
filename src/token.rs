//! Tokens as the rest of the crate sees them: a secret value and when it stops working.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::secret::Secret;

/// The longest lifetime Google issues (impersonated tokens under the org policy that allows it).
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// A token with less than this left counts as expired: never printed, written or served.
pub(crate) const MIN_LIFETIME: Duration = Duration::from_secs(1);

/// An access token or ID token with its expiry.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// The bearer value.
    pub value: Secret,
    /// When Google stops accepting it.
    pub expires_at: SystemTime,
}

impl Token {
    /// A token worth `lifetime` from `now`. An absurd lifetime from a server counts as none
    /// (expired), rather than overflowing the clock.
    pub(crate) fn new(value: Secret, now: SystemTime, lifetime: Duration) -> Self {
        Self { value, expires_at: now.checked_add(lifetime).unwrap_or(now) }
    }

    /// A token an upstream answered, checked: a value of visible ASCII (no whitespace or
    /// control characters, which would corrupt headers and files), at least [`MIN_LIFETIME`]
    /// left at `now`, and an expiry capped at [`MAX_LIFETIME`] from `now` (refreshing early
    /// is harmless; trusting a far-off expiry from a wrong clock or server is not).
    pub(crate) fn from_upstream(
        value: Secret,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Self, String> {
        if value.is_empty() || !value.expose().bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token is empty or holds whitespace or control characters".to_owned());
        }
        let left = expires_at.duration_since(now).unwrap_or_default();
        if left < MIN_LIFETIME {
            return Err(format!("the token is already expired (at {})", rfc3339(expires_at)));
        }
        Ok(Self { value, expires_at: now.checked_add(left.min(MAX_LIFETIME)).unwrap_or(expires_at) })
    }

    /// Like [`Token::from_upstream`] for a lifetime in seconds (`expires_in`), without overflow.
    pub(crate) fn from_lifetime(value: Secret, now: SystemTime, seconds: u64) -> Result<Self, String> {
        if seconds < MIN_LIFETIME.as_secs() {
            return Err(format!("\"expires_in\" is {seconds}; the token is already expired"));
        }
        let lifetime = Duration::from_secs(seconds).min(MAX_LIFETIME);
        let expires_at = now.checked_add(lifetime).ok_or("the clock is beyond what can be represented")?;
        Self::from_upstream(value, now, expires_at)
    }

    /// How long the token stays valid after `now` (zero once expired).
    pub(crate) fn remaining(&self, now: SystemTime) -> Duration {
        self.expires_at.duration_since(now).unwrap_or_default()
    }

    /// Expiry as whole seconds since the Unix epoch.
    pub(crate) fn expires_at_unix(&self) -> u64 {
        unix_seconds(self.expires_at)
    }

    /// Expiry in RFC 3339, UTC, whole seconds (what `token.json` and ExecCredential carry).
    pub(crate) fn expiry_rfc3339(&self) -> String {
        rfc3339(self.expires_at)
    }
}

/// An access token as JSON, `{"access_token","token_type":"Bearer","expiry"}`: the one shape
/// `token.json` and `print-access-token --format json` write and `--from-file` reads.
#[derive(serde::Deserialize)]
pub(crate) struct TokenJson {
    pub(crate) access_token: Secret,
    pub(crate) expiry: String,
}

impl TokenJson {
    /// The JSON text for `token`.
    pub(crate) fn render(token: &Token) -> String {
        serde_json::json!({
            "access_token": token.value.expose(),
            "token_type": "Bearer",
            "expiry": token.expiry_rfc3339(),
        })
        .to_string()
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// RFC 3339 in UTC with whole seconds, e.g. `2026-11-25T22:20:02Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let seconds = i64::try_from(unix_seconds(t)).unwrap_or(i64::MAX);
    match jiff::Timestamp::from_second(seconds) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => "9999-12-31T23:59:59Z".to_owned(),
    }
}

/// Parses RFC 3339 with or without fractional seconds (IAM's `expireTime` uses both).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let ts: jiff::Timestamp = text.trim().parse().ok()?;
    let seconds = u64::try_from(ts.as_second()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// The `exp` claim of a JWT, read without verifying it: an ID token's expiry is its own `exp`.
pub(crate) fn jwt_expiry(jwt: &str) -> Option<SystemTime> {
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: u64,
    }
    let claims: Exp = jsonwebtoken::dangerous::insecure_decode_claims(jwt).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(claims.exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_whole_seconds() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let text = rfc3339(t);
        assert_eq!(text, "2026-11-18T11:06:40Z");
        assert_eq!(parse_rfc3339(&text), Some(t));
    }

    #[test]
    fn fractional_seconds_are_accepted_and_truncated() {
        let t = parse_rfc3339("2026-11-18T11:06:40.123456Z").expect("parses");
        assert_eq!(unix_seconds(t), 1_795_000_000);
    }

    #[test]
    fn remaining_is_zero_after_expiry() {
        let now = UNIX_EPOCH + Duration::from_secs(100);
        let token = Token::new(Secret::new("t"), now, Duration::from_secs(10));
        assert_eq!(token.remaining(now), Duration::from_secs(10));
        assert_eq!(token.remaining(now + Duration::from_secs(11)), Duration::ZERO);
    }
}
