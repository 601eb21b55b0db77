//! git's credential-helper protocol (gitcredentials(7)): `get` reads `key=value` lines up to
//! a blank line or the end, and answers `username=`, `password=` and `password_expiry_utc=`.

use std::io::{BufRead, Read};

use super::OAUTH2_USERNAME;
use crate::token::Token;

/// The longest line accepted: git's lines are a URL part or an auth challenge at most.
pub(crate) const MAX_LINE: usize = 64 * 1024;
/// At most this many lines (git sends fewer than a dozen).
const MAX_LINES: usize = 256;

/// What git asks about. Only the fields worth a debug log are kept: a request may also carry
/// a `password`, which is never held.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Request {
    /// `protocol`: https, http, ...
    pub(crate) protocol: Option<String>,
    /// `host`, with its port.
    pub(crate) host: Option<String>,
}

/// Reads one request: `key=value` lines until a blank line or the end of input. A line that is
/// not UTF-8, has no `=` or an empty key, or is overlong is refused, named by its number only
/// (its value may be a password).
pub(crate) fn read_request(mut input: impl BufRead) -> Result<Request, String> {
    let mut request = Request::default();
    let mut line = Vec::new();
    for number in 1..=MAX_LINES {
        line.clear();
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX).saturating_add(1);
        input
            .by_ref()
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot be read: {e}"))?;
        let ended = line.last() != Some(&b'\n');
        if line.ends_with(b"\n") {
            line.pop();
        }
        if line.len() > MAX_LINE {
            return Err(format!("line {number} is longer than {} KiB", MAX_LINE / 1024));
        }
        if line.is_empty() {
            return Ok(request);
        }
        let text = std::str::from_utf8(&line).map_err(|_| format!("line {number} is not UTF-8"))?;
        let (key, value) = text
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| format!("line {number} is not key=value"))?;
        match key {
            "protocol" => request.protocol = Some(value.to_owned()),
            "host" => request.host = Some(value.to_owned()),
            _ => {}
        }
        if ended {
            return Ok(request);
        }
    }
    Err(format!("has more than {MAX_LINES} lines"))
}

/// The answer to `get`. Any user name works with an access token on Google's git hosts;
/// `password_expiry_utc` (git 2.41+; older versions ignore it) stops `credential-cache` from
/// handing out the token after it expires.
pub(crate) fn render(token: &Token) -> String {
    format!(
        "username={OAUTH2_USERNAME}\npassword={}\npassword_expiry_utc={}\n",
        token.value.expose(),
        token.expires_at_unix()
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::secret::Secret;

    fn request(input: &[u8]) -> Result<Request, String> {
        read_request(input)
    }

    #[test]
    fn key_value_lines_are_read_up_to_a_blank_line_or_the_end() {
        let want = Request { protocol: Some("https".into()), host: Some("example.com:8443".into()) };
        let full =
            b"protocol=https\nhost=example.com:8443\npath=a/b.git\nwwwauth[]=Basic realm=\"x\"\n\nignored\n";
        assert_eq!(request(full), Ok(want));
        let unterminated = request(b"protocol=https\nhost=h").expect("EOF ends it");
        assert_eq!(unterminated.host.as_deref(), Some("h"));
        assert_eq!(request(b""), Ok(Request::default()));
        assert_eq!(request(b"url=https://h/x?a=b\n").expect("= in value").protocol, None);
    }

    #[test]
    fn malformed_lines_are_refused_by_number_without_their_value() {
        let missing = request(b"protocol=https\nsecret-without-equals\n").expect_err("no =");
        assert_eq!(missing, "line 2 is not key=value");
        assert_eq!(request(b"=value\n").expect_err("empty key"), "line 1 is not key=value");
        assert_eq!(request(b"password=\xff\xfe\n").expect_err("bytes"), "line 1 is not UTF-8");
        let long = [b"path=".as_slice(), &vec![b'a'; MAX_LINE]].concat();
        assert!(request(&long).expect_err("long").contains("longer than 64 KiB"));
        let many = b"k=v\n".repeat(MAX_LINES + 1);
        assert!(request(&many).expect_err("many").contains("more than"));
    }

    #[test]
    fn the_answer_has_username_password_and_expiry() {
        let token = Token {
            value: Secret::new("ya29.t"),
            expires_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        };
        assert_eq!(
            render(&token),
            "username=oauth2accesstoken\npassword=ya29.t\npassword_expiry_utc=1800000000\n"
        );
    }
}
