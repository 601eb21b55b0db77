//! The `project/` and `universe/` routes: project id, numeric project id (waiting briefly for
//! the start-up lookup) and universe domain (known from the start: it never waits).

use std::{sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::MetadataState;
use crate::{server::instance::text, validate::ProjectId};

/// gcloud decides "not on GCE" from a 404 on `project/numeric-project-id` and caches that for
/// 10 minutes; its check gives up after 3 s. A request during the start-up lookup waits for it
/// this long.
pub(super) const NUMBER_LOOKUP_WAIT: Duration = Duration::from_millis(2500);

pub(super) async fn project_id(State(state): State<Arc<MetadataState>>) -> Result<Response, Response> {
    let identity = state.identity.wait().await?;
    Ok(optional(identity.project_id.as_ref().map(ProjectId::as_str)))
}

pub(super) async fn numeric_project_id(
    State(state): State<Arc<MetadataState>>,
) -> Result<Response, Response> {
    let identity = state.identity.wait().await?;
    if let (None, Some(pending)) = (identity.numeric_project_id.get(), &identity.numeric_lookup) {
        let mut pending = pending.clone();
        let _ = tokio::time::timeout(NUMBER_LOOKUP_WAIT, pending.wait_for(|running| !*running)).await;
    }
    Ok(optional(identity.numeric_project_id.get().map(String::as_str)))
}

pub(super) async fn universe(State(state): State<Arc<MetadataState>>) -> Response {
    text(state.universe_domain.clone())
}

fn optional(value: Option<&str>) -> Response {
    match value {
        Some(v) => text(v),
        None => {
            (StatusCode::NOT_FOUND, "not defined; set --project-id / --numeric-project-id\n").into_response()
        }
    }
}
