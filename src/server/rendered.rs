//! The metadata API's default token answer as bytes, rendered once per token and second: the
//! only thing that changes between requests is the `expires_in` countdown, so the hot route
//! hands out a shared buffer instead of building JSON each time.

use std::{sync::Mutex, time::SystemTime};

use axum::{body::Bytes, http::HeaderValue};
use serde_json::json;

use crate::{secret::Secret, token::Token};

/// The last answer rendered, and what it was rendered for.
#[derive(Default)]
pub(crate) struct RenderedToken(Mutex<Option<Rendered>>);

struct Rendered {
    /// The token it was rendered for (two tokens minted in the same second can share an
    /// expiry, so the value itself is compared).
    value: Secret,
    expires_in: u64,
    body: Bytes,
    /// Its `Content-Length`, formatted once too.
    length: HeaderValue,
}

impl RenderedToken {
    /// `{"access_token","expires_in","token_type"}` for `token` at `now` and its length, from
    /// the cache when the same token was rendered in the same second.
    pub(crate) fn body(&self, token: &Token, now: SystemTime) -> (Bytes, HeaderValue) {
        let expires_in = token.remaining(now).as_secs();
        let mut cached = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let same = |r: &&Rendered| r.expires_in == expires_in && r.value.expose() == token.value.expose();
        if let Some(rendered) = cached.as_ref().filter(same) {
            return (rendered.body.clone(), rendered.length.clone());
        }
        let body = Bytes::from(render(token, expires_in));
        let length = HeaderValue::from(body.len());
        let rendered = Rendered { value: token.value.clone(), expires_in, body, length };
        let answer = (rendered.body.clone(), rendered.length.clone());
        *cached = Some(rendered);
        answer
    }
}

/// The access-token answer, as Google's metadata server words it.
pub(crate) fn render(token: &Token, expires_in: u64) -> String {
    json!({
        "access_token": token.value.expose(),
        "expires_in": expires_in,
        "token_type": "Bearer",
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_cache_renders_what_the_json_would_and_follows_the_countdown_and_new_tokens() {
        let now = SystemTime::now();
        let cache = RenderedToken::default();
        let first = Token::new(Secret::new("ya29.a"), now, Duration::from_millis(100_900));
        let (body, length) = cache.body(&first, now);
        assert_eq!(length, body.len().to_string().as_str());
        assert_eq!(body, render(&first, 100).as_bytes());
        assert_eq!(body, r#"{"access_token":"ya29.a","expires_in":100,"token_type":"Bearer"}"#);
        assert_eq!(cache.body(&first, now + Duration::from_millis(500)).0, body, "same second");
        assert_eq!(cache.body(&first, now + Duration::from_secs(1)).0, render(&first, 99).as_bytes());
        let second = Token::new(Secret::new("ya29.b\"\\"), now, Duration::from_secs(200));
        assert_eq!(cache.body(&second, now).0, render(&second, 200).as_bytes(), "a new token, escaped");
        let twin = Token::new(Secret::new("ya29.c\"\\"), now, Duration::from_secs(200));
        assert_eq!(cache.body(&twin, now).0, render(&twin, 200).as_bytes(), "same expiry and length");
    }
}
