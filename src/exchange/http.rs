//! The one HTTP client, and the retry policy Google's libraries use.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{
    Client, RequestBuilder, StatusCode, Url,
    header::{AUTHORIZATION, LOCATION, RETRY_AFTER},
};

use super::google_error;
use crate::{
    error::{Endpoint, Error, UpstreamError, UpstreamErrorKind},
    scrub::Scrubbed,
};

/// Google's answers are a few KiB; a bigger one is refused rather than held in memory.
pub(super) const MAX_BODY: usize = 1 << 20;

/// Connect timeout: Google answers fast or not at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often and how patiently to retry a retryable failure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: usize,
    /// Delay before the first retry; it doubles, with up to 100% jitter added.
    pub first_delay: Duration,
    /// Upper bound on a server's `Retry-After` that we honour.
    pub max_retry_after: Duration,
    /// Whole-request deadline for one attempt (`--http-timeout`): a slow drip ends here.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    /// Python google-auth's token-endpoint policy: 3 attempts, about 1 s then 2 s.
    fn default() -> Self {
        Self {
            attempts: 3,
            first_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The default policy with `--http-timeout`.
    pub(crate) fn with_timeout(request_timeout: Duration) -> Self {
        Self { request_timeout, ..Self::default() }
    }
}

/// The crate's HTTP client: rustls, timeouts, a user agent, retries, no redirects (a token
/// request's body must never be replayed to another host), capped bodies, and proxies (the
/// `HTTPS_PROXY` family) for Google's endpoints but never for a metadata server on a
/// loopback or link-local address, as Google's libraries do.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: Client,
    direct: Client,
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
    /// Builds the clients. Costly (TLS roots), so the CLI builds them only on a cache miss.
    pub(crate) fn new(retry: RetryPolicy) -> Result<Self, Error> {
        let builder = || {
            Client::builder()
                .user_agent(concat!("gcp-token-agent/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(retry.request_timeout)
                .redirect(reqwest::redirect::Policy::none())
        };
        let fail = |e: reqwest::Error| Error::Internal(format!("cannot set up the HTTPS client: {e}"));
        Ok(Self {
            client: builder().build().map_err(fail)?,
            direct: builder().no_proxy().build().map_err(fail)?,
            retry,
        })
    }

    /// The client for `url`: without proxies for loopback and link-local hosts.
    pub(crate) fn client_for(&self, url: &str) -> &Client {
        if Url::parse(url).ok().is_some_and(|u| crate::validate::local_host(u.host_str().unwrap_or_default()))
        {
            &self.direct
        } else {
            &self.client
        }
    }

    /// Sends the request `build` makes, retrying as Google's libraries do, and returns the
    /// body of the 2xx answer. `endpoint` names the step in errors and logs.
    pub(crate) async fn send(
        &self,
        endpoint: Endpoint,
        url: &str,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Vec<u8>, UpstreamError> {
        self.send_with(self.retry, endpoint, url, build).await
    }

    /// Like [`Http::send`] with an explicit retry policy.
    pub(crate) async fn send_with(
        &self,
        retry: RetryPolicy,
        endpoint: Endpoint,
        url: &str,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Vec<u8>, UpstreamError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(retry.first_delay)
            .with_max_times(retry.attempts.saturating_sub(1))
            .with_jitter();
        let client = self.client_for(url);
        // Errors and logs never carry userinfo or a query (a signed URL's signature).
        let shown = crate::validate::shown_url(url);
        // The policy's deadline, whatever the client was built with.
        let attempt = || async { self.attempt(build(client).timeout(retry.request_timeout)).await };
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f: &Failure| google_error::is_retryable(&f.kind))
            .adjust(|f, delay| delay.map(|d| f.retry_after().map_or(d, |r| r.min(retry.max_retry_after))))
            .notify(|f, delay| tracing::warn!(%endpoint, url = %shown, "{}; retrying in {delay:.1?}", f.kind))
            .await
            .map_err(|f| UpstreamError::new(endpoint, url, f.kind))
    }

    async fn attempt(&self, request: RequestBuilder) -> Result<Vec<u8>, Failure> {
        let unreachable = |e: &reqwest::Error| Failure { kind: unreachable_kind(e) };
        let (client, request) = request.build_split();
        let request = request.map_err(|e| unreachable(&e))?;
        let sent = sent_secrets(&request);
        let url = request.url().clone();
        let mut response = client.execute(request).await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(Failure {
                kind: UpstreamErrorKind::BadResponse(Scrubbed::ours(&redirected(&url, &response))),
            });
        }
        let retry_after = retry_after(&response);
        let body = read_capped(&mut response).await?;
        if status.is_success() {
            return match google_error::refusal_in_success(status.as_u16(), &body, &sent) {
                Some(kind) => Err(Failure { kind }),
                None => Ok(body),
            };
        }
        Err(Failure { kind: google_error::parse(status.as_u16(), &body, retry_after, &sent) })
    }
}

/// The body, refused past [`MAX_BODY`] (checked as it arrives, not only by Content-Length).
async fn read_capped(response: &mut reqwest::Response) -> Result<Vec<u8>, Failure> {
    let too_big = || Failure {
        kind: UpstreamErrorKind::BadResponse(Scrubbed::ours(&format!(
            "the answer is larger than {} KiB",
            MAX_BODY / 1024
        ))),
    };
    if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Failure { kind: unreachable_kind(&e) })? {
        if body.len().saturating_add(chunk.len()) > MAX_BODY {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A 3xx names where it pointed (the host only: a query may carry anything).
fn redirected(url: &Url, response: &reqwest::Response) -> String {
    let target =
        response.headers().get(LOCATION).and_then(|l| l.to_str().ok()).and_then(|l| url.join(l).ok());
    let host = target.as_ref().and_then(Url::host_str).unwrap_or("an unnamed host");
    format!(
        "answered HTTP {} redirecting to {host}; token requests are never redirected",
        response.status().as_u16(),
    )
}

/// Form fields and JSON keys whose values are credentials: whatever their length, an error
/// answer that echoes them is redacted.
const SECRET_FIELDS: [&str; 11] = [
    "assertion",
    "client_assertion",
    "client_secret",
    "code",
    "code_verifier",
    "refresh_token",
    "subject_token",
    "actor_token",
    "subjectToken",
    "password",
    "access_token",
];

/// What this request carries that an error answer must never echo: the secret form fields
/// and JSON values, and the Authorization credentials (a `Basic` one decoded too).
fn sent_secrets(request: &reqwest::Request) -> Vec<String> {
    let mut sent = Vec::new();
    let authorization = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some((scheme, credentials)) = authorization.and_then(|v| v.split_once(' ')) {
        sent.push(credentials.to_owned());
        if scheme.eq_ignore_ascii_case("basic") {
            sent.extend(basic_parts(credentials));
        }
    }
    // Headers marked sensitive: a `credential_source.url`'s `headers`, which often hold tokens.
    let sensitive = request.headers().values().filter(|v| v.is_sensitive());
    sent.extend(sensitive.filter_map(|v| v.to_str().ok()).map(str::to_owned));
    let body = request.body().and_then(reqwest::Body::as_bytes).unwrap_or_default();
    if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
        sent.extend(
            pairs.into_iter().filter(|(name, _)| SECRET_FIELDS.contains(&name.as_str())).map(|(_, v)| v),
        );
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        collect_secrets(&json, &mut sent);
    }
    sent.retain(|s| !s.is_empty());
    sent
}

/// `id:secret` from a `Basic` credential, and the secret alone.
fn basic_parts(credentials: &str) -> Vec<String> {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD.decode(credentials.trim()).unwrap_or_default();
    let text = String::from_utf8_lossy(&decoded).into_owned();
    let secret = text.split_once(':').map(|(_, secret)| secret.to_owned());
    [Some(text), secret].into_iter().flatten().collect()
}

fn collect_secrets(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_secrets(v, out)),
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(s) if SECRET_FIELDS.contains(&key.as_str()) => {
                        out.push(s.clone())
                    }
                    other => collect_secrets(other, out),
                }
            }
        }
        _ => {}
    }
}

pub(super) fn unreachable_kind(error: &reqwest::Error) -> UpstreamErrorKind {
    UpstreamErrorKind::Unreachable(Scrubbed::ours(&describe(error)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_request_carries_is_collected_for_scrubbing() {
        let mut secret = reqwest::header::HeaderValue::from_static("Bearer-a-long-subject-token-value");
        secret.set_sensitive(true);
        let request = Client::new()
            .post("https://sts.googleapis.com/v1/token")
            .bearer_auth("ya29.a-long-enough-bearer-token")
            .header("x-custom-token", secret)
            .form(&[
                ("subject_token", "eyJhbGciOiJSUzI1NiJ9.a-subject-token"),
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("client_secret", "short"),
            ])
            .build()
            .expect("request");
        let sent = sent_secrets(&request);
        for expected in [
            "ya29.a-long-enough-bearer-token",
            "Bearer-a-long-subject-token-value",
            "eyJhbGciOiJSUzI1NiJ9.a-subject-token",
            "short",
        ] {
            assert!(sent.iter().any(|s| s == expected), "{expected} missing from {sent:?}");
        }
        assert!(!sent.iter().any(|s| s.contains("token-exchange")), "a grant type is not a secret");
    }

    #[test]
    fn only_loopback_link_local_and_metadata_hosts_bypass_the_proxy() {
        for local in [
            "http://127.0.0.1:8989/x",
            "http://169.254.169.254/x",
            "http://[::1]/",
            "http://metadata.google.internal/",
        ] {
            assert!(
                crate::validate::local_host(Url::parse(local).expect("url").host_str().unwrap_or_default()),
                "{local}"
            );
        }
        for remote in ["https://sts.googleapis.com/", "http://10.0.0.1/", "http://metadata.evil.example/"] {
            assert!(
                !crate::validate::local_host(Url::parse(remote).expect("url").host_str().unwrap_or_default()),
                "{remote}"
            );
        }
    }
}
