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

use super::{DirQuery, MetadataState};
use crate::{server::instance::text, validate::Scope};

pub(super) async fn accounts(
    State(state): State<Arc<MetadataState>>,
    Query(query): Query<DirQuery>,
) -> Response {
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
pub(in crate::server) fn accounts_json(state: &MetadataState) -> Value {
    json!({ "default": account_json(state), state.identity.email.as_str(): account_json(state) })
}

pub(super) async fn account_dir(
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

pub(super) async fn email(State(state): State<Arc<MetadataState>>, Path(account): Path<String>) -> Response {
    if !known(&state, &account) {
        return undefined(&account);
    }
    text(state.identity.email.clone())
}

pub(super) async fn scopes(State(state): State<Arc<MetadataState>>, Path(account): Path<String>) -> Response {
    if !known(&state, &account) {
        return undefined(&account);
    }
    text(format!("{}\n", Scope::joined(&state.scopes, "\n")))
}

pub(super) async fn aliases(
    State(state): State<Arc<MetadataState>>,
    Path(account): Path<String>,
) -> Response {
    if !known(&state, &account) {
        return undefined(&account);
    }
    text("default\n")
}

/// `default` and the account's email name the one account the agent serves.
pub(super) fn known(state: &MetadataState, account: &str) -> bool {
    account == "default" || account == state.identity.email
}

pub(super) fn undefined(account: &str) -> Response {
    let account = crate::scrub::escape(account);
    (StatusCode::NOT_FOUND, format!("service account \"{account}\" is not defined\n")).into_response()
}
