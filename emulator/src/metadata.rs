//! The GCE metadata server (`/computeMetadata/v1/...`), answering the exact
//! requests Python, Node, Go and gcloud were observed to send.

use axum::extract::Query;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::issue::{issue_access_token, sign_id_token};
use super::server::{json_body, text};
use super::state::Shared;

const SA_PREFIX: &str = "/computeMetadata/v1/instance/service-accounts/";
const ZONE: &str = "us-central1-a";
const INSTANCE_ID: &str = "4519681524354166001";
const INSTANCE_NAME: &str = "emulator-vm";

/// For `.../service-accounts/{account}/{leaf}`, the leaf (e.g. "token").
pub fn service_account_leaf(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(SA_PREFIX)?;
    rest.split_once('/').map(|(_, leaf)| leaf)
}

/// Adds what every metadata-server answer carries; clients such as Node's
/// gcp-metadata throw when `Metadata-Flavor: Google` is missing.
pub fn decorate(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert("metadata-flavor", HeaderValue::from_static("Google"));
    let is_plain = headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if is_plain {
        // The real server labels text values this way; JSON stays JSON.
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/text"));
    }
}

/// Answers any request classified as a metadata route.
pub fn respond(shared: &Shared, parts: &Parts) -> Response {
    let path = parts.uri.path();
    if parts.method != "GET" {
        return text(405, "Method not allowed");
    }
    if path == "/" {
        // Detection ping; Go sends it without Metadata-Flavor, so no check.
        return text(200, "computeMetadata/\n");
    }
    if parts.headers.contains_key("x-forwarded-for") {
        return text(403, "Request had an X-Forwarded-For header and was rejected");
    }
    let flavor = parts.headers.get("metadata-flavor");
    if flavor.is_none_or(|v| v != "Google") {
        return text(403, "Missing required header \"Metadata-Flavor\"");
    }
    let Ok(Query(query)) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) else {
        return text(400, "malformed query string");
    };
    let rest = path.strip_prefix("/computeMetadata/v1/").unwrap_or_default();
    match rest.strip_prefix("instance/service-accounts/") {
        Some(sa_path) => service_accounts(shared, sa_path, &query),
        None => plain_value(shared, rest),
    }
}

fn plain_value(shared: &Shared, rest: &str) -> Response {
    let state = shared.lock();
    let meta = &state.metadata;
    match rest {
        "project/project-id" => text(200, meta.project_id.clone()),
        "project/numeric-project-id" => text(200, meta.numeric_project_id.to_string()),
        "universe/universe-domain" => text(200, "googleapis.com"),
        // Node asks for `instance` first and follows the redirect.
        "instance" => {
            let location = [(header::LOCATION, "/computeMetadata/v1/instance/")];
            (axum::http::StatusCode::MOVED_PERMANENTLY, location).into_response()
        }
        "instance/" => text(200, "hostname\nid\nname\nservice-accounts/\nzone\n"),
        "instance/id" => text(200, INSTANCE_ID),
        "instance/name" => text(200, INSTANCE_NAME),
        "instance/zone" => text(200, format!("projects/{}/zones/{ZONE}", meta.numeric_project_id)),
        "instance/hostname" => text(200, format!("{INSTANCE_NAME}.{ZONE}.c.{}.internal", meta.project_id)),
        _ => not_found(),
    }
}

fn service_accounts(shared: &Shared, sa_path: &str, query: &[(String, String)]) -> Response {
    let (email, scopes) = {
        let state = shared.lock();
        (state.metadata.email.clone(), state.metadata.scopes.clone())
    };
    if sa_path.is_empty() {
        return text(200, format!("default/\n{email}/\n"));
    }
    let Some((account, leaf)) = sa_path.split_once('/') else {
        return not_found();
    };
    if account != "default" && account != email {
        return not_found();
    }
    let lines = |items: &[String]| items.iter().map(|s| format!("{s}\n")).collect::<String>();
    match leaf {
        "" if param(query, "recursive") == Some("true") => {
            json_body(200, json!({ "aliases": ["default"], "email": email, "scopes": scopes }))
        }
        "" => text(200, "aliases\nemail\nidentity\nscopes\ntoken\n"),
        "email" => text(200, email),
        "scopes" => text(200, lines(&scopes)),
        "aliases" => text(200, "default\n"),
        "token" => token(shared, &email, scopes, query),
        "identity" => identity(shared, &email, query),
        _ => not_found(),
    }
}

/// Access token for the VM account; `?scopes=a,b` is comma-separated.
fn token(shared: &Shared, email: &str, scopes: Vec<String>, query: &[(String, String)]) -> Response {
    let asked: Vec<String> = param(query, "scopes")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let scopes = if asked.is_empty() { scopes } else { asked };
    json_body(200, issue_access_token(shared, email, scopes, None))
}

/// ID token for the VM account, returned as bare JWT text.
fn identity(shared: &Shared, email: &str, query: &[(String, String)]) -> Response {
    let Some(audience) = param(query, "audience").filter(|a| !a.is_empty()) else {
        return text(400, "non-empty audience parameter required");
    };
    let full = match param(query, "format") {
        None | Some("standard") => false,
        Some("full") => true,
        Some(other) => return text(400, format!("invalid format parameter: {other}")),
    };
    let licenses = match param(query, "licenses") {
        None | Some("FALSE") => false,
        Some("TRUE") => true,
        Some(other) => return text(400, format!("invalid licenses parameter: {other}")),
    };
    let (client_id, project_id, number) = {
        let state = shared.lock();
        let meta = &state.metadata;
        (meta.client_id.clone(), meta.project_id.clone(), meta.numeric_project_id)
    };
    let mut claims = json!({ "aud": audience, "azp": client_id, "sub": client_id });
    if full {
        claims["email"] = json!(email);
        claims["email_verified"] = json!(true);
        claims["google"] = json!({ "compute_engine": {
            "instance_creation_timestamp": 1_700_000_000,
            "instance_id": INSTANCE_ID,
            "instance_name": INSTANCE_NAME,
            "project_id": project_id,
            "project_number": number,
            "zone": ZONE,
        }});
        if licenses {
            claims["google"]["compute_engine"]["license_id"] = json!([]);
        }
    }
    text(200, sign_id_token(shared, email, None, claims))
}

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn not_found() -> Response {
    text(404, "Not Found")
}
