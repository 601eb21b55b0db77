//! Google's error bodies, and which failures are worth another try.

use std::time::Duration;

use serde::Deserialize;

use crate::error::UpstreamErrorKind;

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
    let scrub = |text: String| {
        let text = sent.iter().fold(text, |text, secret| text.replace(secret.as_str(), "[redacted]"));
        truncate(&clean(&text))
    };
    UpstreamErrorKind::Refused {
        status,
        code: code.map(scrub),
        description: description.map(scrub),
        retry_after,
    }
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

/// Text from upstream with control characters (terminal escapes, newlines) made spaces.
pub(crate) fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Keeps messages to one readable line.
fn truncate(text: &str) -> String {
    const MAX: usize = 300;
    let line = text.replace(['\n', '\r'], " ");
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
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
    fn html_bodies_are_not_echoed() {
        assert_eq!(refused(502, "<html>bad</html>").to_string(), "HTTP 502");
    }
}
