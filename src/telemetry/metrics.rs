//! Prometheus metrics: one registry, built in one place; the pipeline calls small hooks.
//! Labels are bounded: token names come from configuration, reasons from a fixed set,
//! namespaces by the cluster and [`MAX_NAMESPACES`].

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Instant, SystemTime},
};

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::token::{Token, unix_seconds};

/// Every metric family docs/metadata-api.md lists, registered under the `gcp_token_agent_` prefix.
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    refresh_total: IntCounterVec,
    refresh_consecutive_failures: GaugeVec,
    refresh_duration_seconds: HistogramVec,
    token_expiry_timestamp_seconds: GaugeVec,
    last_refresh_success_timestamp_seconds: GaugeVec,
    source_reloads_total: IntCounterVec,
    file_writes_total: IntCounterVec,
    http_requests_total: IntCounterVec,
    http_request_duration_seconds: HistogramVec,
    ready: IntGauge,
    admissions_total: IntCounterVec,
    admission_review_duration_seconds: HistogramVec,
    webhook_certificate_expiry: Gauge,
    /// The namespaces that have their own admissions series (at most [`MAX_NAMESPACES`]).
    namespaces: Arc<Mutex<HashSet<String>>>,
    on_demand_total: IntCounterVec,
}

/// Namespaces with their own `admissions_total` series. A cluster bounds its namespaces (as
/// kube-state-metrics counts on), but anything that reaches the webhook's port can send a
/// review naming any namespace: past this many, reviews count under [`OTHER_NAMESPACE`].
pub(crate) const MAX_NAMESPACES: usize = 1000;
/// The `namespace` label of reviews past [`MAX_NAMESPACES`], or naming a namespace no API
/// server accepts; no namespace can be called this (`_` is not allowed in one).
pub(crate) const OTHER_NAMESPACE: &str = "_other";

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
                "Token refresh attempts by result; failures also by the stage that failed and a \
                 low-cardinality reason (both empty for successes).",
                &["token", "result", "stage", "reason"],
            ),
            refresh_consecutive_failures: gauge(
                &r,
                "refresh_consecutive_failures",
                "Failed attempts to obtain the token since its last success; 0 while refreshes work.",
                &["token"],
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
                "Webhook admission reviews by the pod's namespace and result.",
                &["namespace", "result"],
            ),
            admission_review_duration_seconds: histogram(
                &r,
                "admission_review_duration_seconds",
                "Time from a review's arrival to its answer, by result.",
                &["result"],
                // A review answered from memory takes well under a millisecond; one that
                // reads a ServiceAccount a few; --review-deadline (at most 10 s) ends the rest.
                vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            ),
            webhook_certificate_expiry: {
                let help = "Unix time at which the webhook's serving certificate in service expires.";
                let g =
                    Gauge::new("webhook_certificate_expiry_timestamp_seconds", help).expect("valid gauge");
                r.register(Box::new(g.clone())).expect("unique metric name");
                g
            },
            namespaces: Arc::default(),
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
        self.refresh_total.with_label_values(&[token, "success", "", ""]).inc();
        self.refresh_consecutive_failures.with_label_values(&[token]).set(0.0);
        let expiry = unix_seconds(value.expires_at) as f64;
        self.token_expiry_timestamp_seconds.with_label_values(&[token]).set(expiry);
        let now = unix_seconds(SystemTime::now()) as f64;
        self.last_refresh_success_timestamp_seconds.with_label_values(&[token]).set(now);
    }

    /// A refresh of `token` failed at `stage` for `reason`.
    pub(crate) fn refresh_failed(&self, token: &str, stage: &str, reason: &str) {
        self.refresh_total.with_label_values(&[token, "failure", stage, reason]).inc();
    }

    /// The owner of `token` failed to obtain it `failures` times in a row (a success resets
    /// the count): what an alert on refreshes failing reads, whatever its window.
    pub(crate) fn refresh_failing(&self, token: &str, failures: u32) {
        self.refresh_consecutive_failures.with_label_values(&[token]).set(f64::from(failures));
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

    /// The webhook answered a review that arrived at `started`, for a pod in `namespace` (as
    /// the review names it): mutated, unchanged, skipped, denied, invalid or error.
    pub(crate) fn admission(&self, namespace: Option<&str>, result: &str, started: Instant) {
        self.admission_review_duration_seconds
            .with_label_values(&[result])
            .observe(started.elapsed().as_secs_f64());
        let namespace = namespace.map_or("", |n| self.namespace_label(n));
        self.admissions_total.with_label_values(&[namespace, result]).inc();
    }

    /// `namespace` itself while it is a name Kubernetes accepts and one of the first
    /// [`MAX_NAMESPACES`] seen, else [`OTHER_NAMESPACE`].
    fn namespace_label<'a>(&self, namespace: &'a str) -> &'a str {
        let valid = !namespace.contains('.') && crate::validate::dns_subdomain(namespace);
        if !valid {
            return OTHER_NAMESPACE;
        }
        let mut seen = self.namespaces.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(namespace) || (seen.len() < MAX_NAMESPACES && seen.insert(namespace.to_owned())) {
            namespace
        } else {
            OTHER_NAMESPACE
        }
    }

    /// The webhook put a serving certificate that expires at `not_after` (Unix seconds) in
    /// service: loaded from files, re-read after a rotation, or issued by automatic TLS.
    /// A certificate went into service; `None` when its expiry could not be read (the gauge
    /// keeps its value).
    pub(crate) fn certificate_in_service(&self, not_after: Option<u64>) {
        if let Some(not_after) = not_after {
            self.webhook_certificate_expiry.set(not_after as f64);
        }
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

    /// The Prometheus text exposition of every family, and the standard `process_*` ones
    /// (unprefixed, as every exporter names them, so they are not in the prefixed registry).
    pub(crate) fn render(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(super::process::families());
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&families, &mut out);
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
mod tests;
