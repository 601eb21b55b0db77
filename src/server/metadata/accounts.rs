//! The `instance/service-accounts/` family: the directory, the one account the agent serves
//! (as `default` and by its email), and its `email`, `scopes` and `aliases`.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{DirQuery, Identity, MetadataState};
use crate::{server::instance::text, validate::Scope};

pub(super) async fn accounts(
    State(state): State<Arc<MetadataState>>,
    Query(query): Query<DirQuery>,
) -> Result<Response, Response> {
    let identity = state.identity.wait().await?;
    if query.is_recursive() {
        return Ok(Json(accounts_json(&state, &identity)).into_response());
    }
    Ok(text(format!("default/\n{}/\n", identity.email)))
}

/// One account as `service-accounts/ACCOUNT/?recursive=true` describes it.
fn account_json(state: &MetadataState, identity: &Identity) -> Value {
    json!({ "aliases": ["default"], "email": identity.email, "scopes": state.scopes })
}

/// `service-accounts/?recursive=true`: the account under its alias and its email, as GCE.
pub(in crate::server) fn accounts_json(state: &MetadataState, identity: &Identity) -> Value {
    let account = account_json(state, identity);
    json!({ "default": account.clone(), identity.email.as_str(): account })
}

pub(super) async fn account_dir(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
    Query(query): Query<DirQuery>,
) -> Result<Response, Response> {
    known(&state, &account).await?;
    if query.is_recursive() {
        let identity = state.identity.wait().await?;
        return Ok(Json(account_json(&state, &identity)).into_response());
    }
    Ok(text("aliases\nemail\nidentity\nscopes\ntoken\n"))
}

pub(super) async fn email(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
) -> Result<Response, Response> {
    known(&state, &account).await?;
    Ok(text(state.identity.wait().await?.email.clone()))
}

pub(super) async fn scopes(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
) -> Result<Response, Response> {
    known(&state, &account).await?;
    Ok(text(format!("{}\n", Scope::joined(&state.scopes, "\n"))))
}

pub(super) async fn aliases(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
) -> Result<Response, Response> {
    known(&state, &account).await?;
    Ok(text("default\n"))
}

/// `default` and the account's email name the one account the agent serves. `default` is
/// known at once (the token routes never wait for the identity); an email is checked once the
/// identity is (see [`IdentityCell::wait`](super::IdentityCell::wait)).
pub(super) async fn known(state: &MetadataState, account: &str) -> Result<(), Response> {
    if account == "default" {
        return Ok(());
    }
    let identity = state.identity.wait().await?;
    if account == identity.email { Ok(()) } else { Err(undefined(account)) }
}

fn undefined(account: &str) -> Response {
    let account = crate::scrub::escape(account);
    (StatusCode::NOT_FOUND, format!("service account \"{account}\" is not defined\n")).into_response()
}
