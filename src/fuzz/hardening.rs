//! Fuzz entry points for issue 22's paths: the login redirect, a disk-cache entry, and a 2xx
//! answer that carries an `error`. Each asserts the guarantee that no input may break.

use std::time::SystemTime;

use crate::{
    commands::login::{Redirect, judge},
    exchange::google_error,
    scrub,
    sinks::token_cache::{TokenCache, parse_entry},
    token::MAX_LIFETIME,
};

/// This login's state, as the fuzzed redirects must match it.
const STATE: &str = "fuzz-state-0123456789";

/// A request to `login`'s loopback redirect port: the bytes are its query string, parsed as
/// the handler's `Query` does. Only a redirect with this login's `state` may end the login,
/// and a failure's text holds no control character.
pub fn login_redirect(data: &[u8]) {
    let Ok(query) = serde_urlencoded::from_bytes::<Redirect>(data) else { return };
    let carried = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data).unwrap_or_default();
    let Some(verdict) = judge(query, STATE) else { return };
    let states: Vec<&str> = carried.iter().filter(|(k, _)| k == "state").map(|(_, v)| v.as_str()).collect();
    assert_eq!(states.last().copied(), Some(STATE), "a redirect without this state ended the login");
    if let Err(why) = verdict {
        assert!(!why.chars().any(char::is_control), "a control character in {why:?}");
    }
}

/// A disk-cache entry's bytes: whatever they hold, a token that comes out is non-empty visible
/// ASCII with at least a second and at most the longest lifetime Google issues left.
pub fn cache_entry(data: &[u8]) {
    let key = TokenCache::key(&["fuzz"]);
    // Entries name their key: the fuzzer's bytes may, via the seed corpus's placeholder.
    let data = String::from_utf8_lossy(data).replace("KEY", &key);
    let now = SystemTime::now();
    if let Ok(Some(token)) = parse_entry(data.as_bytes(), &key, now) {
        let value = token.value.expose();
        assert!(!value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic()), "{value:?}");
        let left = token.remaining(now);
        assert!(left >= crate::token::MIN_LIFETIME && left <= MAX_LIFETIME, "{left:?} left");
    }
}

/// What the requests carried, of every length (a short client secret too).
const SENT: [&str; 3] = ["1//0gFuzzRefreshToken-abc/def+ghi", "GOCSPX-fuzz", "s3c"];

/// A 2xx answer's body: one with an `error` is a refusal whose text holds no form of what the
/// request sent (raw, URL-encoded, base64 at any alignment), no control character, and is
/// bounded whatever the body's size.
pub fn success_answer(data: &[u8]) {
    let sent = SENT.map(str::to_owned);
    let Some(kind) = google_error::refusal_in_success(200, data, &sent) else { return };
    let message = kind.to_string();
    for secret in &sent {
        for form in scrub::forms(secret) {
            assert!(!message.contains(form.as_str()), "{form:?} came back: {message:?}");
        }
    }
    assert!(!message.chars().any(char::is_control), "a control character came back: {message:?}");
    assert!(message.chars().count() <= 2 * 303 + 20, "unbounded: {} characters", message.chars().count());
}
