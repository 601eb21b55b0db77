//! Fuzz entry points for what Google's endpoints answer: a 2xx token answer of any of them,
//! and a non-2xx error body, with the scrubbing guarantee.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::{
    exchange::{google_error, oauth},
    secret::Secret,
    token::{self, Token},
};

/// A 2xx answer of the token endpoint, STS, IAM Credentials or the metadata server, read
/// field by field with the helpers those exchanges use (their serde structs are private to
/// async functions that need a server, so the fields are picked out here by the same names).
pub fn token_answer(data: &[u8]) {
    const URL: &str = "https://oauth2.googleapis.com/token";
    let now = SystemTime::now();
    // Plain-text answers: the metadata server's ID token.
    let text = String::from_utf8_lossy(data);
    let _ = oauth::id_token_with_expiry(URL, Secret::new(text.trim()));
    let Ok(json) = serde_json::from_slice::<Value>(data) else { return };
    let secret = |field: &str| Secret::new(json.get(field).and_then(Value::as_str).unwrap_or_default());
    // Token endpoint, STS and metadata: `access_token` with `expires_in`.
    if let Some(seconds) = oauth::expires_in(json.get("expires_in")) {
        let _ = Token::from_lifetime(secret("access_token"), now, seconds);
    }
    // IAM generateAccessToken: `accessToken` with an RFC 3339 `expireTime`.
    if let Some(at) = json.get("expireTime").and_then(Value::as_str).and_then(token::parse_rfc3339) {
        let _ = Token::from_upstream(secret("accessToken"), now, at);
    }
    // ID tokens (token endpoint's `id_token`, IAM's `token`) expire at their own `exp`; STS
    // without `expires_in` falls back to the subject JWT's.
    for field in ["id_token", "token"] {
        let _ = oauth::id_token_with_expiry(URL, secret(field));
    }
}

/// Secrets a request carried, which an error answer must never echo back (see below).
const SENT: [&str; 2] =
    ["eyJhbGciOiJSUzI1NiJ9.c2VudC1hc3NlcnRpb24.c2lnbmF0dXJl", "1//0gFuzzRefreshToken-abcdef"];

/// A non-2xx answer's body in either of Google's error shapes; the first two bytes are the
/// HTTP status. Asserts the scrubbing guarantee: what the agent sent, and control characters
/// (terminal escapes), never reach the message.
pub fn google_error(data: &[u8]) {
    let (status, body) = match data {
        [high, low, body @ ..] => (u16::from_be_bytes([*high, *low]), body),
        _ => (400, data),
    };
    let sent = SENT.map(str::to_owned);
    let kind = google_error::parse(status, body, Some(Duration::from_secs(1)), &sent);
    google_error::is_retryable(&kind);
    let message = kind.to_string();
    assert!(!SENT.iter().any(|s| message.contains(s)), "a sent secret came back: {message:?}");
    assert!(!message.chars().any(char::is_control), "a control character came back: {message:?}");
}
