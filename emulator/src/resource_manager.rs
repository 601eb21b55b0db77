//! Cloud Resource Manager v1 `projects.get`: a project's number for a caller holding a live
//! access token this emulator issued. Unknown projects get Google's 403, which it answers
//! alike for projects that do not exist and those the caller may not see.

use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::iam::authenticate;
use super::server::{ApiError, json_body};
use super::state::Shared;

/// Scopes that reach Resource Manager.
const CALLER_SCOPES: [&str; 4] = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/cloud-platform.read-only",
    "https://www.googleapis.com/auth/cloudplatformprojects",
    "https://www.googleapis.com/auth/cloudplatformprojects.readonly",
];

/// Whether the path after `/v1/projects/` names a project (no sub-resource or method).
pub fn is_project(rest: &str) -> bool {
    !rest.is_empty() && !rest.contains(['/', ':'])
}

/// Answers `GET /v1/projects/{id}`.
pub fn respond(shared: &Shared, parts: &Parts) -> Response {
    if parts.method != "GET" {
        return ApiError::new(404, "NOT_FOUND", "Method not found.").into_response();
    }
    if let Err(rejection) = authenticate(shared, parts, &CALLER_SCOPES) {
        return rejection.into_response();
    }
    let id = parts.uri.path().strip_prefix("/v1/projects/").unwrap_or_default();
    let number = shared.lock().projects.get(id).copied();
    match number {
        Some(number) => json_body(
            200,
            json!({
                "projectNumber": number.to_string(),
                "projectId": id,
                "lifecycleState": "ACTIVE",
                "name": id,
                "createTime": "2024-01-01T00:00:00.000Z",
            }),
        ),
        None => ApiError::new(
            403,
            "PERMISSION_DENIED",
            format!(
                "Permission 'resourcemanager.projects.get' denied on resource \
                 '//cloudresourcemanager.googleapis.com/projects/{id}' (or it may not exist)."
            ),
        )
        .into_response(),
    }
}
