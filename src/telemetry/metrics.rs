//! Prometheus metrics: one registry, built in one place; the pipeline calls small hooks.
//! Labels are bounded: token names come from configuration, reasons from a fixed set.

use std::time::{Instant, SystemTime};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::token::{Token, unix_seconds};

/// Every metric family docs/metadata-api.md lists, registered under the `gcp_token_agent_` prefix.
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    refresh_total: IntCounterVec,
    refresh_errors_total: IntCounterVec,
    refresh_duration_seconds: HistogramVec,
    token_expiry_timestamp_seconds: GaugeVec,
    last_refresh_success_timestamp_seconds: GaugeVec,
    source_reloads_total: IntCounterVec,
    file_writes_total: IntCounterVec,
    http_requests_total: IntCounterVec,
    http_request_duration_seconds: HistogramVec,
    ready: IntGauge,
    admissions_total: IntCounterVec,
    on_demand_total: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

// The definitions below are constants of this file, never input: an `expect` here can only
// fire on a programming error, caught by every test that builds the registry.
#[allow(clippy::expect_used)]
fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter definition");
    registry.register(Box::new(metric.clone())).expect("unique metric name");
    metric
}

#[allow(clippy::expect_used)]
fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let metric = GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge definition");
    registry.register(Box::new(metric.clone())).expect("unique metric name");
    metric
}

#[allow(clippy::expect_used)]
fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid histogram definition");
    registry.register(Box::new(metric.clone())).expect("unique metric name");
    metric
}

impl Metrics {
    /// A fresh registry with every family (tests make their own; the process makes one).
    #[allow(clippy::expect_used)] // definitions are constants: a failure is a bug caught by any test
    pub(crate) fn new() -> Self {
        let r = Registry::new_custom(Some("gcp_token_agent".to_owned()), None).expect("valid prefix");
        let build_info = gauge(&r, "build_info", "Build information; always 1.", &["version"]);
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1.0);
        let ready = IntGauge::new("ready", "1 while every configured token is valid for --min-remaining.")
            .expect("valid gauge");
        r.register(Box::new(ready.clone())).expect("unique metric name");
        Self {
            refresh_total: counter(
                &r,
                "refresh_total",
                "Token refresh attempts by result.",
                &["token", "result"],
            ),
            refresh_errors_total: counter(
                &r,
                "refresh_errors_total",
                "Failed refreshes by the stage that failed and a low-cardinality reason.",
                &["token", "stage", "reason"],
            ),
            refresh_duration_seconds: histogram(
                &r,
                "refresh_duration_seconds",
                "Time to obtain a token, successful or not.",
                &["token"],
                vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            ),
            token_expiry_timestamp_seconds: gauge(
                &r,
                "token_expiry_timestamp_seconds",
                "Unix time at which the token in service expires.",
                &["token"],
            ),
            last_refresh_success_timestamp_seconds: gauge(
                &r,
                "last_refresh_success_timestamp_seconds",
                "Unix time of the last successful refresh.",
                &["token"],
            ),
            source_reloads_total: counter(
                &r,
                "source_reloads_total",
                "Credential source changes seen on disk, by whether the new content was usable.",
                &["result"],
            ),
            file_writes_total: counter(
                &r,
                "file_writes_total",
                "Token file writes by file and result.",
                &["file", "result"],
            ),
            http_requests_total: counter(
                &r,
                "http_requests_total",
                "HTTP requests by route template and status.",
                &["route", "code"],
            ),
            http_request_duration_seconds: histogram(
                &r,
                "http_request_duration_seconds",
                "HTTP request latency by route template and status.",
                &["route", "code"],
                vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0],
            ),
            admissions_total: counter(
                &r,
                "admissions_total",
                "Webhook admission reviews by result.",
                &["result"],
            ),
            on_demand_total: counter(
                &r,
                "on_demand_total",
                "Metadata API requests for other scopes or audiences, by outcome.",
                &["result"],
            ),
            ready,
            registry: r,
        }
    }

    /// Starts timing a refresh of `token`; the guard records the duration when dropped.
    pub(crate) fn refresh_timer(&self, token: &str) -> prometheus::HistogramTimer {
        self.refresh_duration_seconds.with_label_values(&[token]).start_timer()
    }

    /// A refresh of `token` succeeded with `value`.
    pub(crate) fn refresh_succeeded(&self, token: &str, value: &Token) {
        self.refresh_total.with_label_values(&[token, "success"]).inc();
        let expiry = unix_seconds(value.expires_at) as f64;
        self.token_expiry_timestamp_seconds.with_label_values(&[token]).set(expiry);
        let now = unix_seconds(SystemTime::now()) as f64;
        self.last_refresh_success_timestamp_seconds.with_label_values(&[token]).set(now);
    }

    /// A refresh of `token` failed at `stage` for `reason`.
    pub(crate) fn refresh_failed(&self, token: &str, stage: &str, reason: &str) {
        self.refresh_total.with_label_values(&[token, "failure"]).inc();
        self.refresh_errors_total.with_label_values(&[token, stage, reason]).inc();
    }

    /// The token `token` expired without a replacement: it is no longer in service.
    pub(crate) fn token_withdrawn(&self, token: &str) {
        self.token_expiry_timestamp_seconds.with_label_values(&[token]).set(0.0);
    }

    /// A change to the credential source was seen; `ok` says whether the reload worked.
    pub(crate) fn source_reloaded(&self, ok: bool) {
        self.source_reloads_total.with_label_values(&[if ok { "success" } else { "failure" }]).inc();
    }

    /// A token file write finished.
    pub(crate) fn file_written(&self, file: &str, ok: bool) {
        self.file_writes_total.with_label_values(&[file, if ok { "success" } else { "failure" }]).inc();
    }

    /// An HTTP request on `route` (a template, never a raw path) finished with `code`.
    pub(crate) fn http_request(&self, route: &str, code: u16, started: Instant) {
        // The codes the servers answer, without formatting one per request.
        let code = match code {
            200 => "200",
            403 => "403",
            404 => "404",
            503 => "503",
            other => &other.to_string(),
        };
        self.http_requests_total.with_label_values(&[route, code]).inc();
        self.http_request_duration_seconds
            .with_label_values(&[route, code])
            .observe(started.elapsed().as_secs_f64());
    }

    /// The request metrics of one route and status, resolved once: the metadata API's hot
    /// path counts without formatting or hashing labels.
    pub(crate) fn http_route(&self, route: &str, code: u16) -> RouteMetrics {
        let code = code.to_string();
        RouteMetrics {
            count: self.http_requests_total.with_label_values(&[route, &code]),
            duration: self.http_request_duration_seconds.with_label_values(&[route, &code]),
        }
    }

    /// The webhook answered a review: mutated, unchanged, skipped, denied, invalid or error.
    pub(crate) fn admission(&self, result: &str) {
        self.admissions_total.with_label_values(&[result]).inc();
    }

    /// An on-demand token request ended: cached, minted, failed, failure_cached,
    /// rate_limited or full.
    pub(crate) fn on_demand(&self, result: &str) {
        self.on_demand_total.with_label_values(&[result]).inc();
    }

    /// Sets the readiness gauge.
    pub(crate) fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// The Prometheus text exposition of every family.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// One route and status's request counter and latency histogram.
pub(crate) struct RouteMetrics {
    count: prometheus::IntCounter,
    duration: prometheus::Histogram,
}

impl RouteMetrics {
    /// A request that began at `started` was answered.
    pub(crate) fn observe(&self, started: Instant) {
        self.count.inc();
        self.duration.observe(started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::Duration;

    #[test]
    fn every_family_is_exposed_with_the_prefix_and_no_secret() {
        let metrics = Metrics::new();
        let token = Token::new(Secret::new("ya29.secret-value"), SystemTime::now(), Duration::from_secs(60));
        metrics.refresh_succeeded("access", &token);
        metrics.refresh_failed("id:run", "sts", "invalid_grant");
        metrics.source_reloaded(true);
        metrics.file_written("token", true);
        metrics.http_request(
            "/computeMetadata/v1/instance/service-accounts/{account}/token",
            200,
            Instant::now(),
        );
        drop(metrics.refresh_timer("access"));
        let text = metrics.render();
        for family in [
            "refresh_total",
            "refresh_errors_total",
            "refresh_duration_seconds",
            "token_expiry_timestamp_seconds",
            "last_refresh_success_timestamp_seconds",
            "source_reloads_total",
            "file_writes_total",
            "http_requests_total",
            "http_request_duration_seconds",
            "ready",
            "build_info",
        ] {
            assert!(text.contains(&format!("# TYPE gcp_token_agent_{family} ")), "{family} missing:\n{text}");
        }
        assert!(!text.contains("ya29"));
    }
}
