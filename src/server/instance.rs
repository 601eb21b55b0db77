//! The metadata API's instance surface beyond service accounts: zone, region, name, id,
//! hostname and attributes, answered as a GCE or GKE metadata server answers them (leaf
//! values as `application/text`, `?recursive=true` as JSON with GCE's camelCase keys), and
//! 404 for what is not configured.

use std::{collections::BTreeMap, fmt::Write as _, sync::Arc};

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::metadata::{DirQuery, Identity, MetadataState};
use crate::validate::{ProjectId, Zone};

/// What the API says about the instance; `None` (or no attributes) answers 404.
#[derive(Debug, Clone, Default)]
pub(crate) struct Instance {
    /// `instance/zone`: the zone's name; reported as `projects/NUMBER/zones/ZONE`.
    pub zone: Option<Zone>,
    /// `instance/region`: the region's name; reported as `projects/NUMBER/regions/REGION`.
    pub region: Option<String>,
    /// `instance/name`.
    pub name: Option<String>,
    /// `instance/id`: a number, as GCE's ids are.
    pub id: Option<u64>,
    /// `instance/hostname`.
    pub hostname: Option<String>,
    /// `instance/attributes/`, listed in key order as GCE lists them.
    pub attributes: BTreeMap<String, String>,
}

/// A leaf value or listing, labelled as the metadata server labels text.
pub(crate) fn text(body: impl Into<String>) -> Response {
    let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static("application/text"))];
    (content_type, body.into()).into_response()
}

fn undefined(what: &str, flag: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("{what} is not defined; set {flag}\n")).into_response()
}

/// `projects/PROJECT/KIND/NAME`: the numeric project id as GCE reports it; while it is not
/// known (it may be looked up at start), the project id, so clients that take the last path
/// segment (gcloud, Go, Python) still get the zone.
fn qualified(identity: &Identity, kind: &str, name: &str) -> Option<String> {
    let project = identity.numeric_project_id.get().map(String::as_str);
    let project = project.or(identity.project_id.as_ref().map(ProjectId::as_str))?;
    Some(format!("projects/{project}/{kind}/{name}"))
}

fn zone(state: &MetadataState, identity: &Identity) -> Option<String> {
    qualified(identity, "zones", state.instance.zone.as_ref()?.as_str())
}

fn region(state: &MetadataState, identity: &Identity) -> Option<String> {
    qualified(identity, "regions", state.instance.region.as_deref()?)
}

/// `instance/` (and `instance`, which Node probes): the entries that answer, or with
/// `?recursive=true` everything as one JSON object.
pub(super) async fn directory(
    State(state): State<Arc<MetadataState>>,
    Query(query): Query<DirQuery>,
) -> Result<Response, Response> {
    // The zone and region are listed only when the project is known.
    let identity = state.identity.wait().await?;
    if query.is_recursive() {
        return Ok(Json(instance_json(&state, &identity)).into_response());
    }
    let instance = &state.instance;
    let entries = [
        ("attributes/", !instance.attributes.is_empty()),
        ("hostname", instance.hostname.is_some()),
        ("id", instance.id.is_some()),
        ("name", instance.name.is_some()),
        ("region", region(&state, &identity).is_some()),
        ("service-accounts/", true),
        ("zone", zone(&state, &identity).is_some()),
    ];
    let listing = entries.iter().filter(|(_, shown)| *shown).fold(String::new(), |mut out, (entry, _)| {
        let _ = writeln!(out, "{entry}");
        out
    });
    Ok(text(listing))
}

/// Everything under `instance/` as GCE's `?recursive=true` has it: camelCase keys, the id a
/// number, service accounts keyed by alias and email.
fn instance_json(state: &MetadataState, identity: &Identity) -> Value {
    let instance = &state.instance;
    let mut out = Map::new();
    out.insert("attributes".to_owned(), json!(instance.attributes));
    let mut optional = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            out.insert(key.to_owned(), value);
        }
    };
    optional("hostname", instance.hostname.as_ref().map(|h| json!(h)));
    optional("id", instance.id.map(|id| json!(id)));
    optional("name", instance.name.as_ref().map(|n| json!(n)));
    optional("region", region(state, identity).map(Value::String));
    optional("zone", zone(state, identity).map(Value::String));
    out.insert("serviceAccounts".to_owned(), super::metadata::accounts_json(state, identity));
    Value::Object(out)
}

pub(super) async fn zone_route(State(state): State<Arc<MetadataState>>) -> Result<Response, Response> {
    let identity = state.identity.wait().await?;
    Ok(match zone(&state, &identity) {
        Some(zone) => text(zone),
        None if state.instance.zone.is_some() => {
            undefined("the project", "--project-id or --numeric-project-id")
        }
        None => undefined("the zone", "--zone"),
    })
}

pub(super) async fn region_route(State(state): State<Arc<MetadataState>>) -> Result<Response, Response> {
    let identity = state.identity.wait().await?;
    Ok(match region(&state, &identity) {
        Some(region) => text(region),
        None if state.instance.region.is_some() => {
            undefined("the project", "--project-id or --numeric-project-id")
        }
        None => undefined("the region", "--region or --zone"),
    })
}

pub(super) async fn name(State(state): State<Arc<MetadataState>>) -> Response {
    state
        .instance
        .name
        .as_ref()
        .map_or_else(|| undefined("the instance name", "--instance-name"), |n| text(n.clone()))
}

pub(super) async fn id(State(state): State<Arc<MetadataState>>) -> Response {
    state.instance.id.map_or_else(|| undefined("the instance id", "--instance-id"), |id| text(id.to_string()))
}

pub(super) async fn hostname(State(state): State<Arc<MetadataState>>) -> Response {
    state
        .instance
        .hostname
        .as_ref()
        .map_or_else(|| undefined("the host name", "--hostname"), |h| text(h.clone()))
}

/// `instance/attributes/`: the keys, one a line, or `?recursive=true` the map as JSON.
pub(super) async fn attributes(
    State(state): State<Arc<MetadataState>>,
    Query(query): Query<DirQuery>,
) -> Response {
    let attributes = &state.instance.attributes;
    if query.is_recursive() {
        return Json(json!(attributes)).into_response();
    }
    text(attributes.keys().fold(String::new(), |mut out, key| {
        let _ = writeln!(out, "{key}");
        out
    }))
}

pub(super) async fn attribute(State(state): State<Arc<MetadataState>>, Path(key): Path<String>) -> Response {
    match state.instance.attributes.get(&key) {
        Some(value) => text(value.clone()),
        None => (StatusCode::NOT_FOUND, format!("attribute \"{}\" is not defined\n", key.escape_debug()))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant, SystemTime};

    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt;

    use super::*;
    use crate::{
        credentials::{Choice, Env, Selection},
        exchange::{CLOUD_PLATFORM, Http, RetryPolicy},
        refresh::{Minter, OnDemand, Published},
        secret::Secret,
        server::metadata::{self, Identity},
        telemetry::metrics::Metrics,
        token::Token,
    };

    const EMAIL: &str = "app@my-project.iam.gserviceaccount.com";

    fn router(instance: Instance, project_id: Option<&str>, number: Option<&str>) -> axum::Router {
        router_with(instance, project_id, metadata::project_number(number.map(str::to_owned)))
    }

    /// The metadata router over `instance` and the identity facts, as `run` builds it, the
    /// numeric project id in `number` (shared, as with `run`'s lookup).
    fn router_with(
        instance: Instance,
        project_id: Option<&str>,
        number: std::sync::Arc<std::sync::OnceLock<String>>,
    ) -> axum::Router {
        let token = Token::new(Secret::new("ya29.test"), SystemTime::now(), Duration::from_secs(3600));
        let selection =
            Selection { choice: Choice::File("/nonexistent/key.json".into()), ..Default::default() };
        let http = Http::new(RetryPolicy::default()).expect("client");
        let metrics = Metrics::new();
        let state = MetadataState {
            access: Published {
                name: "access".to_owned(),
                tokens: tokio::sync::watch::channel(Some(token)).1,
                progress: tokio::sync::watch::channel(Default::default()).1,
            },
            scopes: vec![crate::validate::Scope::as_given(CLOUD_PLATFORM)],
            scope_set: [crate::validate::Scope::as_given(CLOUD_PLATFORM)].into(),
            subject: None,
            id_tokens: Vec::new(),
            minter: Minter::new(selection, Env::default(), http),
            on_demand: OnDemand::new(metrics.clone()),
            identity: Identity {
                email: EMAIL.to_owned(),
                project_id: project_id.map(crate::validate::ProjectId::as_given),
                numeric_project_id: number,
                numeric_lookup: None,
            }
            .into(),
            universe_domain: "googleapis.com".to_owned(),
            instance,
            metrics,
            listen: None,
            min_remaining: Duration::from_secs(60),
            nudge: None,
            started: Instant::now(),
            last_nudge: std::sync::Mutex::new(None),
            rendered: Default::default(),
        };
        metadata::site(state).router
    }

    fn configured() -> Instance {
        Instance {
            zone: crate::validate::Zone::parse("us-central1-a").ok(),
            region: Some("us-central1".to_owned()),
            name: Some("web-1".to_owned()),
            id: Some(4_519_681_524_354_166_001),
            hostname: Some("web-1.internal".to_owned()),
            attributes: [("cluster-name", "prod"), ("cluster-location", "us-central1"), ("team", "a")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
        }
    }

    /// Status, content type and body of a flavored GET.
    async fn get(router: &axum::Router, path: &str) -> (u16, String, String) {
        let request = Request::get(format!("/computeMetadata/v1/{path}"))
            .header("host", "metadata.google.internal")
            .header("metadata-flavor", "Google")
            .body(Body::empty())
            .expect("request");
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let response = hyper::service::Service::call(&service, request).await.expect("answer");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        (status, content_type, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn configured_instance_facts_answer_as_gce_does() {
        let router = router(configured(), Some("my-project"), Some("123456789012"));
        let text = |body: &str| (200, "application/text".to_owned(), body.to_owned());
        assert_eq!(get(&router, "instance/zone").await, text("projects/123456789012/zones/us-central1-a"));
        assert_eq!(get(&router, "instance/region").await, text("projects/123456789012/regions/us-central1"));
        assert_eq!(get(&router, "instance/name").await, text("web-1"));
        assert_eq!(get(&router, "instance/id").await, text("4519681524354166001"));
        assert_eq!(get(&router, "instance/hostname").await, text("web-1.internal"));
        assert_eq!(
            get(&router, "instance/attributes/").await,
            text("cluster-location\ncluster-name\nteam\n")
        );
        assert_eq!(get(&router, "instance/attributes/cluster-name").await, text("prod"));
        assert_eq!(get(&router, "instance/attributes/nope").await.0, 404);
        assert_eq!(
            get(&router, "instance/").await,
            text("attributes/\nhostname\nid\nname\nregion\nservice-accounts/\nzone\n")
        );
        assert_eq!(get(&router, "project/numeric-project-id").await, text("123456789012"));
    }

    #[tokio::test]
    async fn recursive_answers_are_json_with_gces_keys() {
        let router = router(configured(), Some("my-project"), Some("123456789012"));
        for path in ["instance/?recursive=true", "instance?recursive=true"] {
            let (status, content_type, body) = get(&router, path).await;
            assert_eq!((status, content_type.as_str()), (200, "application/json"), "{path}");
            let json: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(json["zone"], "projects/123456789012/zones/us-central1-a");
            assert_eq!(json["id"], json!(4_519_681_524_354_166_001_u64), "a number, as GCE sends it");
            assert!(body.contains("\"id\":4519681524354166001"), "{body}");
            assert_eq!(json["attributes"]["cluster-name"], "prod");
            assert_eq!(json["serviceAccounts"]["default"]["email"], EMAIL);
            assert_eq!(json["serviceAccounts"][EMAIL]["aliases"][0], "default");
        }
        let (_, _, body) = get(&router, "instance/attributes/?recursive=true").await;
        assert_eq!(
            serde_json::from_str::<Value>(&body).expect("json"),
            json!({"cluster-location": "us-central1", "cluster-name": "prod", "team": "a"})
        );
        let (_, _, body) = get(&router, "instance/service-accounts/?recursive=true").await;
        let accounts: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(accounts["default"]["scopes"][0], CLOUD_PLATFORM);
    }

    #[tokio::test]
    async fn what_is_not_configured_is_404_and_not_listed() {
        let router = router(Instance::default(), Some("my-project"), None);
        for path in ["instance/zone", "instance/region", "instance/name", "instance/id", "instance/hostname"]
        {
            assert_eq!(get(&router, path).await.0, 404, "{path}");
        }
        assert_eq!(get(&router, "instance/").await.2, "service-accounts/\n");
        assert_eq!(get(&router, "instance").await.2, "service-accounts/\n", "Node's probe still answers");
        assert_eq!(get(&router, "instance/attributes/").await.2, "");
        assert_eq!(get(&router, "project/numeric-project-id").await.0, 404);
        let (_, _, body) = get(&router, "instance/?recursive=true").await;
        assert_eq!(serde_json::from_str::<Value>(&body).expect("json")["attributes"], json!({}));
    }

    #[tokio::test]
    async fn the_zone_names_the_project_id_until_the_number_is_known() {
        let instance = configured();
        let router = router(instance.clone(), Some("my-project"), None);
        assert_eq!(get(&router, "instance/zone").await.2, "projects/my-project/zones/us-central1-a");
        let unknown = self::router(instance, None, None);
        let (status, _, body) = get(&unknown, "instance/zone").await;
        assert_eq!(status, 404);
        assert!(body.contains("--project-id"), "{body}");
    }

    #[tokio::test]
    async fn a_number_learned_later_is_answered_from_then_on() {
        let cell = metadata::project_number(None);
        let router = router_with(configured(), Some("my-project"), cell.clone());
        assert_eq!(get(&router, "project/numeric-project-id").await.0, 404);
        cell.set("42".to_owned()).expect("set once");
        assert_eq!(get(&router, "project/numeric-project-id").await.2, "42");
        assert_eq!(get(&router, "instance/zone").await.2, "projects/42/zones/us-central1-a");
    }
}
