//! The GCE metadata-server API on loopback, so unmodified Google SDKs and gcloud get the
//! agent's tokens via `GCE_METADATA_HOST`, `GCE_METADATA_IP` and `GCE_METADATA_ROOT`.
//! Answers come from the owners' published tokens; other scopes and audiences are minted
//! on demand and cached.

use std::{
    collections::BTreeSet,
    net::IpAddr,
    sync::{Arc, OnceLock},
    time::{Duration, Instant, SystemTime},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{MatchedPath, Path, Query, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    HotPath, Site,
    instance::{self, Instance, text},
    kept::published,
    rendered::render,
};
use crate::{
    exchange::{AccessRequest, IdRequest},
    refresh::{Minter, OnDemand, Published},
    telemetry::metrics::{Metrics, RouteMetrics},
};

const V1: &str = "/computeMetadata/v1";

/// The identity facts the API reports.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The service account's email (also accepted in place of `default`).
    pub email: String,
    /// `project/project-id`, if known.
    pub project_id: Option<String>,
    /// `project/numeric-project-id`, once known: at start (a flag, the credential) or later,
    /// set once by the lookup `run` starts in the background.
    pub numeric_project_id: Arc<OnceLock<String>>,
    /// True while that lookup runs: the route waits for it a moment (see
    /// [`NUMBER_LOOKUP_WAIT`]) rather than answer 404, which gcloud would cache.
    pub numeric_lookup: Option<tokio::sync::watch::Receiver<bool>>,
    /// `universe/universe-domain`.
    pub universe_domain: String,
}

/// gcloud decides "not on GCE" from a 404 on `project/numeric-project-id` and caches that for
/// 10 minutes; its check gives up after 3 s. A request during the start-up lookup waits for it
/// this long.
const NUMBER_LOOKUP_WAIT: Duration = Duration::from_millis(2500);

/// A numeric project id cell, set now when the number is known.
pub(crate) fn project_number(known: Option<String>) -> Arc<OnceLock<String>> {
    let cell = OnceLock::new();
    if let Some(number) = known {
        let _ = cell.set(number);
    }
    Arc::new(cell)
}

/// An ID token the agent keeps fresh, served when its audience and format are asked for.
#[derive(Debug, Clone)]
pub(crate) struct KeptIdToken {
    /// Its audience.
    pub audience: String,
    /// Whether it carries the email claims (format=full).
    pub include_email: bool,
    pub published: Published,
}

/// What the routes read.
pub(crate) struct MetadataState {
    /// The access token for the configured scopes.
    pub access: Published,
    /// Those scopes, in the order they were configured (for the listings).
    pub scopes: Vec<String>,
    /// The same as a set, built once: the token route compares requested scopes with it.
    pub scope_set: BTreeSet<String>,
    /// `--subject`: on-demand tokens act as the same delegated user as the published one.
    pub subject: Option<String>,
    /// The ID tokens kept fresh.
    pub id_tokens: Vec<KeptIdToken>,
    /// For other scopes and audiences.
    pub minter: Minter,
    pub on_demand: OnDemand,
    /// Identity facts.
    pub identity: Identity,
    /// Zone, name, attributes and the like.
    pub instance: Instance,
    pub metrics: Metrics,
    /// The address the API listens on, accepted as a `Host`.
    pub listen: Option<IpAddr>,
    /// Kept tokens are served with at least this much left (`--min-remaining`); a token
    /// closer to expiry makes the owners refresh first.
    pub min_remaining: Duration,
    /// Asks the owners for an early refresh; only one whose token is under `min_remaining`
    /// and that is not backing off from a failure heeds it.
    pub nudge: Option<tokio::sync::watch::Sender<u64>>,
    /// When the agent started: requests wait for a first token only during the cold start.
    pub started: Instant,
    /// When the owners were last nudged, so clients cannot make them mint in a loop.
    pub last_nudge: std::sync::Mutex<Option<Instant>>,
    /// The default token answer, rendered once per token and second.
    pub rendered: super::rendered::RenderedToken,
}

/// The default account's token path: answered by [`hot_token`] without routing.
const HOT_TOKEN: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// Its route template, the metric label the router gives it.
const TOKEN_ROUTE: &str = "/computeMetadata/v1/instance/service-accounts/{account}/token";

/// The metadata API: the router, and a hot path for the request SDKs repeat most.
pub(crate) fn site(state: MetadataState) -> Site {
    let state = Arc::new(state);
    let metrics = state.metrics.http_route(TOKEN_ROUTE, 200);
    let hot_state = state.clone();
    let hot: HotPath =
        Arc::new(move |method, uri, headers| hot_token(&hot_state, &metrics, method, uri, headers));
    Site { router: routes(state), hot: Some(hot) }
}

/// `GET` of the default token with no query, a good `Host` and `Metadata-Flavor`, and a
/// fresh token: the same answer the router would give (headers included), from the
/// rendered bytes. Anything else (a refusal, a wait, another route) goes to the router.
fn hot_token(
    state: &MetadataState,
    metrics: &RouteMetrics,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response> {
    let started = Instant::now();
    if method != Method::GET || uri.path() != HOT_TOKEN || uri.query().is_some() {
        return None;
    }
    if forbidden(uri, headers, state.listen).is_some() {
        return None;
    }
    let (body, length) = fresh_default(state)?;
    let mut response = json_body(body);
    mark(&mut response);
    // Last, where the router puts it: the same header order on the wire.
    response.headers_mut().insert(header::CONTENT_LENGTH, length);
    metrics.observe(started);
    Some(response)
}

fn routes(state: Arc<MetadataState>) -> Router {
    let account = format!("{V1}/instance/service-accounts/{{account}}");
    Router::new()
        .route("/", get(|| async { text("computeMetadata/\n") }))
        .route(V1, get(|| async { text("instance/\nproject/\nuniverse/\n") }))
        .route(&format!("{V1}/"), get(|| async { text("instance/\nproject/\nuniverse/\n") }))
        // Node's detection asks for `instance` without a slash and takes a 404 as "not on GCE".
        .route(&format!("{V1}/instance"), get(instance::directory))
        .route(&format!("{V1}/instance/"), get(instance::directory))
        .route(&format!("{V1}/instance/zone"), get(instance::zone_route))
        .route(&format!("{V1}/instance/region"), get(instance::region_route))
        .route(&format!("{V1}/instance/name"), get(instance::name))
        .route(&format!("{V1}/instance/id"), get(instance::id))
        .route(&format!("{V1}/instance/hostname"), get(instance::hostname))
        .route(&format!("{V1}/instance/attributes"), get(instance::attributes))
        .route(&format!("{V1}/instance/attributes/"), get(instance::attributes))
        .route(&format!("{V1}/instance/attributes/{{key}}"), get(instance::attribute))
        .route(&format!("{V1}/instance/service-accounts"), get(accounts))
        .route(&format!("{V1}/instance/service-accounts/"), get(accounts))
        .route(&account, get(account_dir))
        .route(&format!("{account}/"), get(account_dir))
        .route(&format!("{account}/email"), get(email))
        .route(&format!("{account}/scopes"), get(scopes))
        .route(&format!("{account}/aliases"), get(aliases))
        .route(&format!("{account}/token"), get(token))
        .route(&format!("{account}/identity"), get(identity))
        .route(&format!("{V1}/project/project-id"), get(project_id))
        .route(&format!("{V1}/project/numeric-project-id"), get(numeric_project_id))
        .route(&format!("{V1}/universe/universe-domain"), get(universe))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The metadata server's rules: `Metadata-Flavor: Google` required, no proxied requests
/// (`X-Forwarded-For`), the flavor header on every answer; plus metrics by route template.
async fn guard(State(state): State<Arc<MetadataState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The template is shared (an Arc), so naming the route for metrics copies nothing.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = match forbidden(request.uri(), request.headers(), state.listen) {
        Some(why) => (StatusCode::FORBIDDEN, why).into_response(),
        None => next.run(request).await,
    };
    mark(&mut response);
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.http_request(route, response.status().as_u16(), started);
    response
}

/// Why a request is refused (403), if it is.
fn forbidden(uri: &Uri, headers: &HeaderMap, listen: Option<IpAddr>) -> Option<&'static str> {
    let flavored =
        headers.get("metadata-flavor").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Google"));
    // Exactly one Host, and a target in origin form (`/path`): an absolute-form target
    // (`GET http://evil.example/...`) names another authority than the Host checked here,
    // and two Host headers let a proxy and this server read different ones.
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => Some(host.to_str().unwrap_or("\u{fffd}")),
        _ => None,
    };
    if uri.authority().is_some() || uri.scheme().is_some() {
        Some("requests with an absolute-form target are refused\n")
    } else if !host.is_some_and(|h| host_allowed(h, listen)) {
        // A page on a name that re-resolves to 127.0.0.1 (DNS rebinding) is same-origin with
        // this API, so Metadata-Flavor alone would not stop it; its Host header does.
        Some("requests without a metadata or loopback Host are refused\n")
    } else if headers.contains_key("x-forwarded-for") {
        Some("requests with X-Forwarded-For are refused\n")
    } else if !flavored {
        Some("Missing required header \"Metadata-Flavor\": \"Google\"\n")
    } else {
        None
    }
}

/// The headers a metadata server puts on every answer.
fn mark(response: &mut Response) {
    response.headers_mut().insert("metadata-flavor", HeaderValue::from_static("Google"));
    response.headers_mut().insert(header::SERVER, HeaderValue::from_static("Metadata Server for VM"));
}

/// Loopback addresses, the listen address, and the names and address clients use for a
/// metadata server, with or without a port.
pub(crate) fn host_allowed(host: &str, listen: Option<IpAddr>) -> bool {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        // `[ip]` or `[ip]:port`, nothing else after the bracket.
        Some(rest) => match rest.split_once(']') {
            Some((ip, "")) => ip,
            Some((ip, port))
                if port.strip_prefix(':').is_some_and(|p| p.chars().all(|c| c.is_ascii_digit())) =>
            {
                ip
            }
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        },
    };
    // Checked on every request: compared without allocating.
    let name = name.trim_end_matches('.');
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || Some(ip) == listen || ip == IpAddr::from([169, 254, 169, 254]),
        Err(_) => {
            ["localhost", "metadata", "metadata.google.internal"].iter().any(|n| n.eq_ignore_ascii_case(name))
        }
    }
}

/// `?recursive=true` on a directory.
#[derive(Deserialize)]
pub(super) struct DirQuery {
    pub(super) recursive: Option<String>,
}

async fn accounts(State(state): State<Arc<MetadataState>>, Query(query): Query<DirQuery>) -> Response {
    if query.recursive.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("true")) {
        return Json(accounts_json(&state)).into_response();
    }
    text(format!("default/\n{}/\n", state.identity.email))
}

/// One account as `service-accounts/ACCOUNT/?recursive=true` describes it.
fn account_json(state: &MetadataState) -> Value {
    json!({ "aliases": ["default"], "email": state.identity.email, "scopes": state.scopes })
}

/// `service-accounts/?recursive=true`: the account under its alias and its email, as GCE.
pub(super) fn accounts_json(state: &MetadataState) -> Value {
    json!({ "default": account_json(state), state.identity.email.as_str(): account_json(state) })
}

async fn account_dir(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
    Query(query): Query<DirQuery>,
) -> Response {
    if !known(&state, &account) {
        return undefined(&account);
    }
    if query.recursive.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("true")) {
        return Json(account_json(&state)).into_response();
    }
    text("aliases\nemail\nidentity\nscopes\ntoken\n")
}

async fn email(State(state): State<Arc<MetadataState>>, Path(account): Path<String>) -> Response {
    if !known(&state, &account) {
        return undefined(&account);
    }
    text(state.identity.email.clone())
}

async fn scopes(State(state): State<Arc<MetadataState>>, Path(account): Path<String>) -> Response {
    if !known(&state, &account) {
        return undefined(&account);
    }
    text(format!("{}\n", state.scopes.join("\n")))
}

async fn aliases(State(state): State<Arc<MetadataState>>, Path(account): Path<String>) -> Response {
    if !known(&state, &account) {
        return undefined(&account);
    }
    text("default\n")
}

/// `default` and the account's email name the one account the agent serves.
fn known(state: &MetadataState, account: &str) -> bool {
    account == "default" || account == state.identity.email
}

fn undefined(account: &str) -> Response {
    let account = crate::scrub::escape(account);
    (StatusCode::NOT_FOUND, format!("service account \"{account}\" is not defined\n")).into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    scopes: Option<String>,
}

async fn token(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
    Query(query): Query<TokenQuery>,
) -> Response {
    if !known(&state, &account) {
        return undefined(&account);
    }
    let wanted: BTreeSet<String> = query
        .scopes
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let default = wanted.is_empty() || wanted == state.scope_set;
    if default && let Some((body, _)) = fresh_default(&state) {
        return json_body(body);
    }
    let token = if default {
        published(&state, &state.access).await
    } else {
        let key = format!("access|{}", wanted.iter().cloned().collect::<Vec<_>>().join(" "));
        let request =
            AccessRequest { scopes: Some(wanted.into_iter().collect()), subject: state.subject.clone() };
        state.on_demand.get(&key, state.minter.access(&request)).await.map_err(refusal)
    };
    let now = SystemTime::now();
    match token {
        Ok(token) if default => json_body(state.rendered.body(&token, now).0),
        Ok(token) => json_body(render(&token, token.remaining(now).as_secs()).into()),
        Err((status, why)) => (status, format!("{why}\n")).into_response(),
    }
}

/// The hot route: the configured token, with `--min-remaining` left, answered from the
/// rendered bytes without copying the token or building JSON.
fn fresh_default(state: &MetadataState) -> Option<(Bytes, HeaderValue)> {
    let tokens = state.access.tokens.borrow();
    let token = tokens.as_ref()?;
    let now = SystemTime::now();
    (token.remaining(now) >= state.serve_floor()).then(|| state.rendered.body(token, now))
}

impl MetadataState {
    /// The least a served token may have left: `--min-remaining`, and never under
    /// [`MIN_LIFETIME`](crate::token::MIN_LIFETIME) even with `--min-remaining 0` (an expired
    /// token the owner has not withdrawn yet is never served).
    pub(super) fn serve_floor(&self) -> Duration {
        self.min_remaining.max(crate::token::MIN_LIFETIME)
    }
}

fn json_body(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

#[derive(Deserialize)]
struct IdentityQuery {
    audience: Option<String>,
    format: Option<String>,
}

async fn identity(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
    Query(query): Query<IdentityQuery>,
) -> Response {
    if !known(&state, &account) {
        return undefined(&account);
    }
    let Some(audience) = query.audience.filter(|a| !a.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "non-empty audience parameter required\n").into_response();
    };
    let include_email = match query.format.as_deref() {
        None | Some("standard") => false,
        Some("full") => true,
        Some(other) => {
            let other = crate::scrub::escape(other);
            return (StatusCode::BAD_REQUEST, format!("format \"{other}\" is not standard or full\n"))
                .into_response();
        }
    };
    let kept = state.id_tokens.iter().find(|k| k.audience == audience && k.include_email == include_email);
    let token = match kept {
        Some(kept) => published(&state, &kept.published).await,
        None => {
            let key = format!("id|{include_email}|{audience}");
            let request = IdRequest { audience, include_email };
            state.on_demand.get(&key, state.minter.id(&request)).await.map_err(refusal)
        }
    };
    match token {
        Ok(token) => token.value.expose().to_owned().into_response(),
        Err((status, why)) => (status, format!("{why}\n")).into_response(),
    }
}

/// How a failed on-demand mint is answered: 404 for what this credential can never do (as GKE
/// answers identity requests without a service account), else 503, which clients retry. The
/// text names the failed step, never a secret.
fn refusal(refusal: crate::refresh::minter::Refusal) -> (StatusCode, String) {
    let status = if refusal.unsupported { StatusCode::NOT_FOUND } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, refusal.message)
}

async fn project_id(State(state): State<Arc<MetadataState>>) -> Response {
    optional(state.identity.project_id.as_deref())
}

async fn numeric_project_id(State(state): State<Arc<MetadataState>>) -> Response {
    let identity = &state.identity;
    if let (None, Some(pending)) = (identity.numeric_project_id.get(), &identity.numeric_lookup) {
        let mut pending = pending.clone();
        let _ = tokio::time::timeout(NUMBER_LOOKUP_WAIT, pending.wait_for(|running| !*running)).await;
    }
    optional(identity.numeric_project_id.get().map(String::as_str))
}

async fn universe(State(state): State<Arc<MetadataState>>) -> Response {
    text(state.identity.universe_domain.clone())
}

fn optional(value: Option<&str>) -> Response {
    match value {
        Some(v) => text(v),
        None => {
            (StatusCode::NOT_FOUND, "not defined; set --project-id / --numeric-project-id\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_metadata_and_loopback_hosts_are_served() {
        let listen = Some(IpAddr::from([10, 0, 0, 5]));
        for good in [
            "127.0.0.1:8989",
            "127.0.0.2",
            "localhost:8989",
            "LOCALHOST",
            "[::1]:8989",
            "metadata.google.internal",
            "metadata.google.internal.",
            "metadata",
            "169.254.169.254",
            "169.254.169.254:80",
            "10.0.0.5:8989",
        ] {
            assert!(host_allowed(good, listen), "{good} refused");
        }
        for bad in [
            "evil.example:8989",
            "127.0.0.1.nip.io",
            "10.0.0.6",
            "[::1]evil",
            "[::1",
            "[::ffff:127.0.0.1]x",
            "[::2]:80",
            "",
            "metadata.google.internal.evil",
        ] {
            assert!(!host_allowed(bad, listen), "{bad} accepted");
        }
    }
}
