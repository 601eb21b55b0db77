//! Google's error bodies, and which failures are worth another try.

use std::time::Duration;

use serde::Deserialize;

use crate::{error::UpstreamErrorKind, scrub::Scrubbed};

/// Parses an error body in either of Google's shapes into a refusal.
///
/// * OAuth/STS (RFC 6749 §5.2): `{"error": "invalid_grant", "error_description": "..."}`
/// * Google APIs (IAM, metadata): `{"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}`
pub(crate) fn parse(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    sent: &[String],
) -> UpstreamErrorKind {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Code(String),
        Api { message: Option<String>, status: Option<String> },
    }
    #[derive(Deserialize)]
    struct Body {
        error: ErrorField,
        error_description: Option<String>,
    }
    let (code, description) = match serde_json::from_slice::<Body>(body) {
        Ok(Body { error: ErrorField::Code(code), error_description }) => (Some(code), error_description),
        Ok(Body { error: ErrorField::Api { message, status }, .. }) => (status, message),
        Err(_) => (None, plain_text(body)),
    };
    let scrub = |text: String| Scrubbed::new(&text, sent);
    UpstreamErrorKind::Refused {
        status,
        code: code.map(scrub),
        description: description.map(scrub),
        retry_after,
    }
}

/// A 2xx answer whose JSON carries a non-empty `error` is a refusal (golang/oauth2 reads it
/// so), and its text goes through the same scrubbing as any other refusal; `None` for an
/// answer to use.
pub(crate) fn refusal_in_success(status: u16, body: &[u8], sent: &[String]) -> Option<UpstreamErrorKind> {
    #[derive(Deserialize)]
    struct Probe {
        error: Option<serde_json::Value>,
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let error = serde_json::from_slice::<Probe>(body).ok()?.error?;
    let refused = match &error {
        serde_json::Value::Null => false,
        serde_json::Value::String(s) => !s.is_empty(),
        _ => true,
    };
    refused.then(|| parse(status, body, None, sent))
}

/// Whether Google's libraries would try this refusal again (the rule lives with the error
/// type, which the layers below the HTTP client also ask).
pub(crate) fn is_retryable(kind: &UpstreamErrorKind) -> bool {
    kind.is_retryable()
}

/// Short plain-text bodies are shown (a proxy's "Bad Gateway"); HTML and long bodies are not.
fn plain_text(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let looks_plain = !text.is_empty() && !text.starts_with('<') && !text.starts_with('{');
    looks_plain.then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, body: &str) -> UpstreamErrorKind {
        parse(status, body.as_bytes(), None, &[])
    }

    #[test]
    fn what_the_agent_sent_and_control_characters_never_come_back() {
        let secret = "eyJhbGciOiJSUzI1NiJ9.assertion.signature".to_owned();
        let body =
            format!(r#"{{"error":"invalid_grant","error_description":"bad assertion {secret}\u001b[31m"}}"#);
        let text = parse(400, body.as_bytes(), None, std::slice::from_ref(&secret)).to_string();
        assert!(!text.contains(&secret) && !text.contains('\u{1b}'), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn oauth_errors_keep_code_and_description() {
        let kind = refused(400, r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#);
        assert_eq!(kind.to_string(), "HTTP 400 invalid_grant: Invalid JWT Signature.");
        assert!(!is_retryable(&kind));
    }

    #[test]
    fn api_errors_use_status_and_message() {
        let body = r#"{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(refused(403, body).to_string(), "HTTP 403 PERMISSION_DENIED: Permission denied");
    }

    #[test]
    fn server_errors_and_retryable_codes_are_retried() {
        assert!(is_retryable(&refused(503, "oops")));
        assert!(is_retryable(&refused(429, "")));
        assert!(is_retryable(&refused(408, "")));
        assert!(is_retryable(&refused(400, r#"{"error":"temporarily_unavailable"}"#)));
        assert!(!is_retryable(&refused(401, r#"{"error":"unauthorized_client"}"#)));
        assert!(!is_retryable(&refused(403, "")));
    }

    #[test]
    fn a_2xx_with_an_error_is_a_scrubbed_refusal_whatever_the_secret_s_length() {
        let sent = ["1//0gRefresh".to_owned(), "cs-1".to_owned()];
        let body = r#"{"error":"invalid_grant\nFORGED","error_description":"rt=1%2F%2F0gRefresh"}"#;
        let text = refusal_in_success(200, body.as_bytes(), &sent).expect("a refusal").to_string();
        assert!(!text.contains("0gRefresh") && !text.contains('\n'), "{text}");
        assert!(text.starts_with("HTTP 200 invalid_grant\\nFORGED"), "{text}");
        let short = r#"{"error":"invalid_client","error_description":"secret cs-1 is wrong"}"#;
        let text = refusal_in_success(200, short.as_bytes(), &sent).expect("a refusal").to_string();
        assert!(!text.contains("cs-1"), "{text}");
        let huge = format!(r#"{{"error":"{}"}}"#, "x".repeat(1 << 20));
        assert!(refusal_in_success(200, huge.as_bytes(), &[]).expect("refusal").to_string().len() < 400);
        for usable in
            [r#"{"access_token":"t","expires_in":5}"#, r#"{"error":null}"#, r#"{"error":""}"#, "text"]
        {
            assert!(refusal_in_success(200, usable.as_bytes(), &sent).is_none(), "{usable}");
        }
    }

    #[test]
    fn html_bodies_are_not_echoed() {
        assert_eq!(refused(502, "<html>bad</html>").to_string(), "HTTP 502");
    }
}
