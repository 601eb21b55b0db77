//! The one HTTP client, and the retry policy Google's libraries use.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Client, RequestBuilder, StatusCode, header::RETRY_AFTER};

use super::google_error;
use crate::error::{UpstreamError, UpstreamErrorKind};

/// Connect timeout: Google answers fast or not at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout for one attempt.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How often and how patiently to retry a retryable failure.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: usize,
    /// Delay before the first retry; it doubles, with up to 100% jitter added.
    pub first_delay: Duration,
    /// Upper bound on a server's `Retry-After` that we honour.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Python google-auth's token-endpoint policy: 3 attempts, about 1 s then 2 s.
    fn default() -> Self {
        Self { attempts: 3, first_delay: Duration::from_secs(1), max_retry_after: Duration::from_secs(30) }
    }
}

/// The crate's HTTP client: rustls, timeouts, a user agent, and retries.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client,
    retry: RetryPolicy,
}

/// One failed attempt.
struct Failure {
    kind: UpstreamErrorKind,
}

impl Failure {
    fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            UpstreamErrorKind::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Http {
    /// Builds the client. Costly (TLS roots), so the CLI builds it only on a cache miss.
    pub fn new(retry: RetryPolicy) -> Self {
        let client = Client::builder()
            .user_agent(concat!("gcp-token-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self { client, retry }
    }

    /// The underlying client, for building requests.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends the request `build` makes, retrying as Google's libraries do, and returns the
    /// body of the 2xx answer. `endpoint` names the step in errors and logs.
    pub async fn send(
        &self,
        endpoint: &'static str,
        url: &str,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Vec<u8>, UpstreamError> {
        self.send_with(self.retry, endpoint, url, build).await
    }

    /// Like [`Http::send`] with an explicit retry policy.
    pub async fn send_with(
        &self,
        retry: RetryPolicy,
        endpoint: &'static str,
        url: &str,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Vec<u8>, UpstreamError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(retry.first_delay)
            .with_max_times(retry.attempts.saturating_sub(1))
            .with_jitter();
        let attempt = || async { self.attempt(build(&self.client)).await };
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f: &Failure| google_error::is_retryable(&f.kind))
            .adjust(|f, delay| delay.map(|d| f.retry_after().map_or(d, |r| r.min(retry.max_retry_after))))
            .notify(|f, delay| tracing::warn!(endpoint, url, "{}; retrying in {delay:.1?}", f.kind))
            .await
            .map_err(|f| UpstreamError { endpoint, url: url.to_owned(), kind: f.kind })
    }

    async fn attempt(&self, request: RequestBuilder) -> Result<Vec<u8>, Failure> {
        let response = request
            .send()
            .await
            .map_err(|e| Failure { kind: UpstreamErrorKind::Unreachable(describe(&e)) })?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure { kind: UpstreamErrorKind::Unreachable(describe(&e)) })?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(Failure { kind: google_error::parse(status.as_u16(), &body, retry_after) })
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from Google and ignored).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    if response.status() != StatusCode::TOO_MANY_REQUESTS && !response.status().is_server_error() {
        return None;
    }
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_secs)
}

/// A transport error without the URL (the caller adds it) and with its cause chain.
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = what.to_owned();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
