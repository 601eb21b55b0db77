//! Fuzz entry points for the metadata API: its `Host` rule, and whole requests answered in
//! process by the real router over fixed state (the harness, and its own tests).

use std::{
    net::{IpAddr, Ipv6Addr},
    sync::OnceLock,
    time::{Duration, Instant, SystemTime},
};

use axum::{
    Router,
    body::Body,
    http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header},
};

use crate::{
    credentials::{self, Env},
    exchange::CLOUD_PLATFORM,
    secret::Secret,
    server::metadata,
    token::{self, Token},
};

/// The metadata API's `Host` rule (DNS rebinding defence), with and without a listen address.
pub fn metadata_host(data: &[u8]) {
    // The guard reads the header as text; a value that is not turns into U+FFFD.
    let host = String::from_utf8_lossy(data);
    for listen in [None, Some(IpAddr::from([10, 0, 0, 5])), Some(IpAddr::from(Ipv6Addr::LOCALHOST))] {
        metadata::guard::host_allowed(&host, listen);
    }
}

/// One request to the metadata API router, in process: the first line is `[METHOD ]TARGET`
/// (path and query), each further line a `Name: value` header. Asserts the API's rules: no
/// 2xx without `Metadata-Flavor: Google`, with `X-Forwarded-For` or for a foreign `Host`,
/// and every answer flavored.
pub fn metadata_request(data: &[u8]) {
    metadata_answer(data);
}

/// The status [`metadata_request`] got, or `None` when the bytes make no HTTP request.
fn metadata_answer(data: &[u8]) -> Option<StatusCode> {
    let api = MetadataApi::shared()?;
    let request = http_request(data)?;
    let headers = request.headers();
    let flavored =
        headers.get("metadata-flavor").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Google"));
    let forwarded = headers.contains_key("x-forwarded-for");
    // A missing Host is refused like a foreign one.
    let foreign = !headers
        .get(header::HOST)
        .is_some_and(|h| metadata::guard::host_allowed(h.to_str().unwrap_or("\u{fffd}"), api.listen));
    let response = api.send(request)?;
    let status = response.status();
    assert!(
        !status.is_success() || (flavored && !forwarded && !foreign),
        "{status} for a request the API must refuse"
    );
    assert_eq!(response.headers().get("metadata-flavor").map(HeaderValue::as_bytes), Some(&b"Google"[..]));
    Some(status)
}

/// Parses the [`metadata_request`] format; `None` for what no client could send.
fn http_request(data: &[u8]) -> Option<Request<Body>> {
    let mut lines = data.split(|b| *b == b'\n').map(<[u8]>::trim_ascii);
    let first = lines.next()?;
    let (method, target) = match split_once(first, b' ') {
        Some((method, target)) => (Method::from_bytes(method).ok()?, target),
        None => (Method::GET, first),
    };
    let mut request = Request::builder().method(method).uri(Uri::try_from(target).ok()?);
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = split_once(line, b':')?;
        let name = HeaderName::from_bytes(name.trim_ascii()).ok()?;
        let value = HeaderValue::from_bytes(value.trim_ascii()).ok()?;
        request = request.header(name, value);
    }
    request.body(Body::empty()).ok()
}

/// `str::split_once` for bytes.
fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let mut parts = bytes.splitn(2, |b| *b == separator);
    Some((parts.next()?, parts.next()?))
}

/// The metadata router over fixed state: valid published tokens (so no route waits for a
/// cold start) and a minter whose credential file is missing (so on-demand mints fail at
/// once, without the network).
struct MetadataApi {
    runtime: tokio::runtime::Runtime,
    site: crate::server::Site,
    service: hyper_util::service::TowerToHyperService<Router>,
    listen: Option<IpAddr>,
    /// Kept: with its sender gone a channel still holds its token, but nothing would own it.
    _senders: Vec<tokio::sync::watch::Sender<Option<Token>>>,
}

impl MetadataApi {
    /// Built once per process: a runtime and the TLS roots are too costly per input.
    fn shared() -> Option<&'static Self> {
        static API: OnceLock<Option<MetadataApi>> = OnceLock::new();
        API.get_or_init(Self::new).as_ref()
    }

    fn new() -> Option<Self> {
        use crate::{
            exchange::{Http, RetryPolicy},
            refresh::{Minter, OnDemand, Published},
            telemetry::metrics::Metrics,
        };
        let selection = crate::credentials::Selection {
            choice: crate::credentials::Choice::File("/nonexistent/key.json".into()),
            ..Default::default()
        };
        let minter = Minter::new(selection, Env::default(), Http::new(RetryPolicy::default()).ok()?);
        let mut senders = Vec::new();
        let mut publish = |name: &str| {
            let token = Token::new(Secret::new("ya29.fuzz"), SystemTime::now(), token::MAX_LIFETIME);
            let (sender, tokens) = tokio::sync::watch::channel(Some(token));
            senders.push(sender);
            Published {
                name: name.to_owned(),
                tokens,
                progress: tokio::sync::watch::channel(Default::default()).1,
            }
        };
        let listen = Some(IpAddr::from([127, 0, 0, 1]));
        let metrics = Metrics::new();
        let state = metadata::MetadataState {
            access: publish("access"),
            scopes: vec![crate::validate::Scope::as_given(CLOUD_PLATFORM)],
            scope_set: [crate::validate::Scope::as_given(CLOUD_PLATFORM)].into(),
            subject: None,
            id_tokens: vec![metadata::KeptIdToken {
                audience: "https://svc.example.com".to_owned(),
                include_email: false,
                published: publish("id:svc"),
            }],
            minter,
            on_demand: OnDemand::new(metrics.clone()),
            identity: metadata::Identity {
                email: "fuzz@my-project.iam.gserviceaccount.com".to_owned(),
                project_id: Some(crate::validate::ProjectId::as_given("my-project")),
                numeric_project_id: metadata::project_number(None),
                numeric_lookup: None,
            }
            .into(),
            universe_domain: credentials::service_account::DEFAULT_UNIVERSE.to_owned(),
            instance: crate::server::instance::Instance {
                zone: crate::validate::Zone::parse("us-central1-a").ok(),
                region: Some("us-central1".to_owned()),
                name: Some("fuzz-vm".to_owned()),
                id: Some(4_519_681_524_354_166_001),
                hostname: Some("fuzz-vm.internal".to_owned()),
                attributes: [("cluster-name".to_owned(), "fuzz".to_owned())].into(),
            },
            metrics,
            listen,
            min_remaining: Duration::from_secs(60),
            nudge: None,
            started: Instant::now(),
            last_nudge: std::sync::Mutex::new(None),
            rendered: Default::default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        let site = metadata::site(state);
        let service = hyper_util::service::TowerToHyperService::new(site.router.clone());
        Some(Self { runtime, site, service, listen, _senders: senders })
    }

    /// Runs one request as the server would: the hot path first, then the router (through
    /// hyper-util's adaptor, as hyper calls it).
    fn send(&self, request: Request<Body>) -> Option<axum::http::Response<Body>> {
        use hyper::service::Service;
        let hot =
            self.site.hot.as_ref().and_then(|hot| hot(request.method(), request.uri(), request.headers()));
        match hot {
            Some(response) => Some(response),
            None => self.runtime.block_on(self.service.call(request)).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Without this the metadata target could silently test nothing: the harness must answer.
    #[test]
    fn the_metadata_harness_serves_and_guards() {
        let token = "GET /computeMetadata/v1/instance/service-accounts/default/token\nMetadata-Flavor: Google\nHost: 127.0.0.1:8989";
        assert_eq!(super::metadata_answer(token.as_bytes()), Some(super::StatusCode::OK));
        let bare = "/computeMetadata/v1/project/project-id\nHost: evil.example";
        assert_eq!(super::metadata_answer(bare.as_bytes()), Some(super::StatusCode::FORBIDDEN));
        let other = "/computeMetadata/v1/instance/service-accounts/default/token?scopes=x\nMetadata-Flavor: Google\nHost: metadata";
        assert_eq!(super::metadata_answer(other.as_bytes()), Some(super::StatusCode::SERVICE_UNAVAILABLE));
    }

    #[test]
    fn the_hot_path_answers_exactly_what_the_router_does() {
        use super::{Body, MetadataApi, Request};
        use hyper::service::Service;
        let api = MetadataApi::shared().expect("metadata API");
        let request = || {
            Request::get("/computeMetadata/v1/instance/service-accounts/default/token")
                .header("host", "169.254.169.254")
                .header("metadata-flavor", "Google")
                .body(Body::empty())
                .expect("request")
        };
        let first = request();
        let hot = api.site.hot.as_ref().expect("a hot path");
        let fast = hot(first.method(), first.uri(), first.headers()).expect("answered without routing");
        let routed = api.runtime.block_on(api.service.call(request())).expect("routed");
        assert_eq!(fast.status(), routed.status());
        assert_eq!(fast.headers(), routed.headers(), "the same headers, in the same order");
        let body = |response: axum::http::Response<Body>| {
            let bytes =
                api.runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).expect("body");
            let mut json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            // The countdown may tick between the two answers.
            json["expires_in"].take();
            json
        };
        assert_eq!(body(fast), body(routed));
        for refused in [("host", "evil.example"), ("metadata-flavor", "nope")] {
            let mut other = request();
            other.headers_mut().insert(refused.0, refused.1.parse().expect("value"));
            assert!(
                hot(other.method(), other.uri(), other.headers()).is_none(),
                "{refused:?} goes to the router"
            );
        }
        let with_query = Request::get("/computeMetadata/v1/instance/service-accounts/default/token?scopes=x")
            .header("host", "localhost")
            .header("metadata-flavor", "Google")
            .body(Body::empty())
            .expect("request");
        assert!(hot(with_query.method(), with_query.uri(), with_query.headers()).is_none());
    }
}
