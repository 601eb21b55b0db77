//! The GCE metadata-server API on loopback, so unmodified Google SDKs and gcloud get the
//! agent's tokens via `GCE_METADATA_HOST`, `GCE_METADATA_IP` and `GCE_METADATA_ROOT`.
//! Answers come from the owners' published tokens; other scopes and audiences are minted
//! on demand and cached.
//!
//! This file holds the state and the router; `guard` the rules every request passes,
//! `facts` the identity facts (which may arrive after the API serves), `accounts` and `tokens`
//! the service-account routes, `project` the project and universe routes (the `instance/`
//! routes are in `server::instance`).

use std::{
    collections::BTreeSet,
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, http::StatusCode, middleware, routing::get};
use serde::Deserialize;

use super::{
    HotPath, Site,
    instance::{self, Instance, text},
};
use crate::{
    refresh::{Minter, OnDemand, Published},
    telemetry::metrics::Metrics,
    validate::Scope,
};

mod accounts;
mod facts;
pub(crate) mod guard;
mod project;
mod tokens;

pub(super) use accounts::accounts_json;
pub(crate) use facts::{Identity, IdentityCell, project_number};
use {
    accounts::{account_dir, accounts, aliases, email, scopes},
    guard::guard,
    project::{numeric_project_id, project_id, universe},
    tokens::{TOKEN_ROUTE, hot_token, identity, token},
};

const V1: &str = "/computeMetadata/v1";

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
    pub scopes: Vec<Scope>,
    /// The same as a set, built once: the token route compares requested scopes with it.
    pub scope_set: BTreeSet<Scope>,
    /// `--subject`: on-demand tokens act as the same delegated user as the published one.
    pub subject: Option<String>,
    /// The ID tokens kept fresh.
    pub id_tokens: Vec<KeptIdToken>,
    /// For other scopes and audiences.
    pub minter: Minter,
    pub on_demand: OnDemand,
    /// Identity facts, maybe still being worked out (only routes answering with them wait).
    pub identity: IdentityCell,
    /// `universe/universe-domain`: from the credential, known at start.
    pub universe_domain: String,
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

/// The metadata API: the router, and a hot path for the request SDKs repeat most.
pub(crate) fn site(state: MetadataState) -> Site {
    let state = Arc::new(state);
    let metrics = state.metrics.http_route(TOKEN_ROUTE, 200);
    let hot_state = state.clone();
    let hot: HotPath =
        Arc::new(move |method, uri, headers| hot_token(&hot_state, &metrics, method, uri, headers));
    Site { router: routes(state), hot: Some(hot) }
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

/// `?recursive=true` on a directory.
#[derive(Deserialize)]
pub(super) struct DirQuery {
    recursive: Option<String>,
}

impl DirQuery {
    /// Whether the whole directory is asked for, as one JSON object.
    pub(super) fn is_recursive(&self) -> bool {
        self.recursive.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("true"))
    }
}
