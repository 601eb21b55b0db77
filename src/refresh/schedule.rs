//! When to refresh: pure functions of times and a random draw, so they are tested with
//! fixed values and the loop stays simple.

use std::time::{Duration, SystemTime};

/// Refresh between these fractions of a token's lifetime: around half, so an outage of up to
/// half a token's life goes unnoticed, jittered so replicas do not refresh in lockstep.
const REFRESH_FRACTION: (f64, f64) = (0.45, 0.55);
/// Never refresh sooner than this after a success, however short-lived the token.
pub(crate) const MIN_REFRESH_DELAY: Duration = Duration::from_secs(1);
/// First retry delay after a failure.
pub(crate) const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Retry delays double up to this cap.
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// When to refresh a token obtained at `obtained` that expires at `expires`.
/// `draw` is uniform in [0, 1) and picks the point inside the jitter window.
pub(crate) fn refresh_at(obtained: SystemTime, expires: SystemTime, draw: f64) -> SystemTime {
    let lifetime = expires.duration_since(obtained).unwrap_or_default();
    let (low, high) = REFRESH_FRACTION;
    let fraction = low + (high - low) * draw.clamp(0.0, 1.0);
    obtained + lifetime.mul_f64(fraction).max(MIN_REFRESH_DELAY)
}

/// How long to wait after the `failures`-th consecutive failure (1-based): about 1 s doubling
/// to 60 s, with `draw` adding up to 20% jitter. A failure that will not heal by retrying
/// (`invalid_grant`, a broken file) goes straight to the cap: no point hammering Google.
pub(crate) fn backoff(failures: u32, retryable: bool, draw: f64) -> Duration {
    let base = if retryable {
        let doublings = failures.saturating_sub(1).min(16);
        BACKOFF_FIRST.saturating_mul(1 << doublings).min(BACKOFF_CAP)
    } else {
        BACKOFF_CAP
    };
    base.mul_f64(1.0 + 0.2 * draw.clamp(0.0, 1.0)).min(BACKOFF_CAP.mul_f64(1.2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn an_hour_token_is_refreshed_around_half_its_life() {
        let obtained = at(1000);
        let expires = at(1000 + 3600);
        assert_eq!(refresh_at(obtained, expires, 0.0), at(1000 + 1620));
        assert_eq!(refresh_at(obtained, expires, 0.5), at(1000 + 1800));
        assert!(refresh_at(obtained, expires, 0.999) < at(1000 + 1981));
    }

    #[test]
    fn very_short_or_already_expired_tokens_wait_at_least_a_second() {
        assert_eq!(refresh_at(at(10), at(11), 0.5), at(11));
        assert_eq!(refresh_at(at(10), at(5), 0.5), at(11));
    }

    #[test]
    fn backoff_doubles_from_one_second_to_the_cap() {
        let delays: Vec<u64> = (1..=8).map(|n| backoff(n, true, 0.0).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(1000, true, 0.0), BACKOFF_CAP);
    }

    #[test]
    fn jitter_adds_at_most_a_fifth() {
        assert_eq!(backoff(3, true, 1.0), Duration::from_millis(4800));
        assert_eq!(backoff(10, true, 1.0), Duration::from_secs(72));
    }

    #[test]
    fn permanent_failures_back_off_to_the_cap_at_once() {
        assert_eq!(backoff(1, false, 0.0), BACKOFF_CAP);
    }
}
