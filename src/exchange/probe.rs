//! One plain request to an endpoint, for `doctor`: does it answer over HTTP(S), with what
//! status, and what time its `Date` header says. Never retried, never carries a credential.

use std::time::{Duration, SystemTime};

use super::Http;
use crate::error::{Endpoint, UpstreamError, UpstreamErrorKind};

/// What an endpoint answered.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// The HTTP status (any status proves the endpoint answers and TLS, if used, works).
    pub status: u16,
    /// The server's clock, from its `Date` header, when it sent a valid one.
    pub date: Option<SystemTime>,
    /// Whether it sent `Metadata-Flavor: Google` (a metadata server, or the agent, does).
    pub metadata_flavor: bool,
}

/// Sends one `GET url` (with `Metadata-Flavor: Google`, which other endpoints ignore), within
/// `deadline` when given, else the client's `--http-timeout`.
pub(crate) async fn probe(
    http: &Http,
    endpoint: Endpoint,
    url: &str,
    deadline: Option<Duration>,
) -> Result<Probe, UpstreamError> {
    let mut request = http.client_for(url).get(url).header("Metadata-Flavor", "Google");
    if let Some(deadline) = deadline {
        request = request.timeout(deadline);
    }
    let answer = request.send().await;
    let response =
        answer.map_err(|e| UpstreamError::new(endpoint, url, super::http::unreachable_kind(&e)))?;
    let headers = response.headers();
    let date = headers.get(reqwest::header::DATE).and_then(|v| v.to_str().ok()).and_then(parse_http_date);
    let metadata_flavor = headers.get("metadata-flavor").is_some_and(|v| v == "Google");
    Ok(Probe { status: response.status().as_u16(), date, metadata_flavor })
}

/// An HTTP `Date` (RFC 9110's IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn parse_http_date(text: &str) -> Option<SystemTime> {
    let parsed = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(text.trim()).ok()?;
    Some(SystemTime::from(parsed))
}

/// The kind of an unreachable endpoint's failure, for a message: TLS or not.
pub(crate) fn is_tls_failure(kind: &UpstreamErrorKind) -> bool {
    let UpstreamErrorKind::Unreachable(why) = kind else { return false };
    let text = why.as_str().to_ascii_lowercase();
    ["certificate", "tls", "handshake", "ssl"].iter().any(|word| text.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imf_fixdate_parses_to_its_instant() {
        let at = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("parses");
        let secs = at.duration_since(SystemTime::UNIX_EPOCH).expect("after the epoch").as_secs();
        assert_eq!(secs, 784_111_777);
    }

    #[test]
    fn a_date_that_is_not_one_is_none() {
        assert!(parse_http_date("yesterday").is_none());
    }
}
