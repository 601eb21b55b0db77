//! The one way text from outside reaches an error, a log line or an HTTP answer: upstream
//! answers through [`Scrubbed`], URLs through [`url`]. A leaf: it imports nothing from the crate.
//!
//! An upstream may echo what it was sent (a refresh token, a client secret, a signed
//! assertion), raw or encoded, and may send terminal escapes or newlines that forge log lines.
//! [`Scrubbed::new`] redacts every form of what was sent, escapes control characters and
//! bounds the length; the type can be built no other way, so an error that holds upstream
//! text holds scrubbed text.

use std::fmt;

use base64::Engine as _;

/// Longest upstream text kept in a message: one readable line.
const MAX_TEXT: usize = 300;
/// Longest URL kept in a message.
const MAX_URL: usize = 200;
/// An encoded form shorter than this is not replaced inside the text (a short needle would
/// mangle ordinary words); its presence withholds the whole text instead.
const SHORT_FORM: usize = 8;
/// A base64 fragment shorter than this says too little to be worth matching.
const MIN_BASE64: usize = 4;
/// What replaces a secret.
pub(crate) const REDACTED: &str = "[redacted]";
/// What replaces a text that holds a short secret.
const WITHHELD: &str = "[withheld: the answer repeats a credential]";

/// Upstream text made safe to show: known secrets redacted in raw, URL-encoded, JSON-escaped
/// and base64 forms, control characters escaped, at most [`MAX_TEXT`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed(String);

impl Scrubbed {
    /// Scrubs `text`, redacting each of `secrets` (what the request carried) whatever its length.
    pub(crate) fn new(text: &str, secrets: &[String]) -> Self {
        // Redacted again after escaping: an escape (`\n`) must not spell a secret either.
        Self(bounded(&redact(&escape(&redact(text, secrets)), secrets), MAX_TEXT))
    }

    /// Text this crate wrote around an upstream's words: escaped and bounded like the rest.
    pub(crate) fn ours(text: &str) -> Self {
        Self::new(text, &[])
    }

    /// The scrubbed text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A URL as an error shows it: built only by [`url`]'s rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownUrl(String);

impl ShownUrl {
    /// `raw` masked by [`url`].
    pub(crate) fn new(raw: &str) -> Self {
        Self(url(raw))
    }
}

impl fmt::Display for ShownUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A URL as errors and logs show it: everything up to the last `@` of the authority masked as
/// `***@`, no query or fragment (a signed URL's signature), control characters escaped, bounded.
///
/// The authority of a malformed URL is unclear (a password holding `/`, `?`, `#`, a tab or a
/// newline ends it early for a parser), so a text that does not parse as a URL is masked up
/// to its last `@` wherever it stands.
pub(crate) fn url(text: &str) -> String {
    let text = text.trim();
    let parsed = reqwest::Url::parse(text).ok().filter(|u| u.has_host() && !looks_like_a_port(u));
    let shown = match parsed {
        Some(parsed) => {
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            let host = parsed.host_str().unwrap_or_default();
            let masked =
                if parsed.username().is_empty() && parsed.password().is_none() { "" } else { "***@" };
            format!("{}://{masked}{host}{port}{}", parsed.scheme(), parsed.path())
        }
        None => mask_malformed(text),
    };
    bounded(&escape(&shown), MAX_URL)
}

/// `https://user:1234/rest@host` parses as host `user`, port 1234: a password that starts with
/// digits and holds a `/`. Such a URL is treated as malformed, so its `@` masks it.
fn looks_like_a_port(url: &reqwest::Url) -> bool {
    url.port().is_some() && url.path().contains('@') && !url.host_str().unwrap_or_default().contains('.')
}

fn mask_malformed(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(at) => text.split_at(at + 3),
        None => ("", text),
    };
    let (masked, rest) = match rest.rfind('@') {
        Some(at) => ("***", &rest[at..]),
        None => ("", rest),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    format!("{scheme}{masked}{rest}")
}

/// Control characters (newlines, terminal escapes) and invisible reordering marks shown as
/// escapes, so one message stays one line and reads as it is.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || invisible(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Zero-width and bidirectional formatting characters and the Unicode line separators.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// At most `max` characters, cut on a character boundary, with `...` when cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// `text` with every form of every secret replaced; when a short form appears, the whole
/// text is withheld.
fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        for form in forms(secret) {
            if !out.contains(form.as_str()) {
                continue;
            }
            if form.chars().count() < SHORT_FORM {
                return WITHHELD.to_owned();
            }
            out = out.replace(form.as_str(), REDACTED);
        }
    }
    out
}

/// The ways a secret shows up in an echo: raw, percent- and form-encoded (upper and lower
/// case hex), JSON-escaped, and base64 (standard and URL-safe, at each of the three byte
/// alignments it can have inside a longer encoded string). Longest first, so a long form is
/// replaced before a shorter one inside it.
pub(crate) fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    for encoded in [percent(secret, false), percent(secret, true)] {
        forms.push(lowercase_hex(&encoded));
        forms.push(encoded);
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.get(1..json.len().saturating_sub(1)).unwrap_or_default().to_owned();
    forms.push(json.replace('/', "\\/"));
    forms.push(json);
    forms.extend(base64_forms(secret.as_bytes()));
    forms.retain(|f| !f.is_empty());
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    forms.dedup();
    forms
}

/// Percent-encoding of everything but RFC 3986's unreserved characters; `form` uses HTML
/// forms' rules instead (`+` for a space, `*` kept, `~` encoded), as form bodies do.
fn percent(text: &str, form: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b' ' if form => out.push('+'),
            b'*' if form => out.push('*'),
            b'~' if !form => out.push('~'),
            b if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The same percent-encoding with lowercase hex digits (`%2f`).
fn lowercase_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            hex_left = if c == '%' { 2 } else { 0 };
            out.push(c);
        }
    }
    out
}

/// The characters of `bytes`' base64 encoding that depend on `bytes` alone, for each of the
/// three offsets it can start at inside a longer encoded string (`Basic` credentials are
/// `base64(id:secret)`), in both alphabets.
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut forms = Vec::new();
    for offset in 0..3usize {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(bytes);
        let first = (8 * offset).div_ceil(6);
        let end = 8 * (offset + bytes.len()) / 6;
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&shifted);
            if let Some(core) = encoded.get(first..end).filter(|c| c.len() >= MIN_BASE64) {
                forms.push(core.to_owned());
            }
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn scrub(text: &str, secret: &str) -> String {
        Scrubbed::new(text, &[secret.to_owned()]).0
    }

    #[test]
    fn a_secret_is_redacted_raw_encoded_escaped_and_in_base64() {
        let secret = "1//0gAbC+dEf/gh~ij kl";
        let b64 = base64::engine::general_purpose::STANDARD;
        let echoes = [
            secret.to_owned(),
            "1%2F%2F0gAbC%2BdEf%2Fgh~ij%20kl".to_owned(),
            "1%2f%2f0gAbC%2bdEf%2fgh%7eij+kl".to_owned(),
            "1%2F%2F0gAbC%2BdEf%2Fgh%7Eij+kl".to_owned(),
            r"1\/\/0gAbC+dEf\/gh~ij kl".to_owned(),
            b64.encode(secret),
            b64.encode(format!("client-id:{secret}")),
            b64.encode(format!("x:{secret}")),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("ab{secret}")),
        ];
        for echo in echoes {
            let text = scrub(&format!("refused: {echo} end"), secret);
            assert!(text.contains(REDACTED) && !text.contains("0gAbC"), "{echo} -> {text}");
        }
    }

    #[test]
    fn a_short_secret_withholds_the_whole_text() {
        assert_eq!(scrub("bad client secret abc", "abc"), WITHHELD);
        assert_eq!(scrub("bad client secret a%2Fb", "a/b"), WITHHELD);
        assert_eq!(scrub("nothing here", "xyz"), "nothing here");
    }

    #[test]
    fn control_characters_and_newlines_are_escaped_and_length_is_bounded() {
        let text = Scrubbed::ours("a\nFORGED line\u{1b}[31m\t\u{202e}x").0;
        assert_eq!(text, "a\\nFORGED line\\u{1b}[31m\\t\\u{202e}x");
        let long = Scrubbed::ours(&"x".repeat(5000)).0;
        assert_eq!(long.len(), MAX_TEXT + 3);
    }

    #[test]
    fn urls_are_masked_up_to_the_last_at_sign_of_the_authority() {
        let cases = [
            ("https://u:p@host/x?sig=1", "https://***@host/x"),
            ("https://u:p/x@host.example/t", "https://***@host.example/t"),
            ("https://u:p?x@host/t", "https://***@host/t"),
            ("https://u:p#x@host/t", "https://***@host/t"),
            ("https://u:p\tx@host/t", "https://***@host/t"),
            ("https://u:p\nx@host/t", "https://***@host/t"),
            ("https://u:1234/x@evil.example/t", "https://***@evil.example/t"),
            ("u:p/x@169.254.169.254", "***@169.254.169.254"),
            ("https://a@b:c@host/t", "https://***@host/t"),
            ("http://127.0.0.1:8080/token", "http://127.0.0.1:8080/token"),
        ];
        for (raw, want) in cases {
            assert_eq!(url(raw), want, "{raw:?}");
        }
        let iam = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken";
        assert_eq!(url(iam), iam, "an email in the path stays");
        assert!(!url("ftp://u:pa ss\n@host").contains("pa"));
    }
}
