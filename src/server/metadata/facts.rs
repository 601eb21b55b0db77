//! Who the agent says it is: the identity facts, and the cell the routes read them from. With
//! `--source metadata` they come from the upstream metadata server, which may be slow at start;
//! the API serves meanwhile, and only the routes that answer with a fact wait for it, briefly.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use tokio::sync::watch;

use crate::validate::ProjectId;

/// How long a request for an identity fact waits for it at start before answering 503. Clients'
/// metadata checks give up after about 3 s (gcloud's, Go's), and they retry a 503: an answer
/// inside that is better than a hang.
pub(super) const IDENTITY_WAIT: Duration = Duration::from_millis(2500);

/// The identity facts the API reports.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The service account's email (also accepted in place of `default`).
    pub email: String,
    /// `project/project-id`, if known.
    pub project_id: Option<ProjectId>,
    /// `project/numeric-project-id`, once known: at start (a flag, the credential) or later,
    /// set once by the lookup `run` starts in the background.
    pub numeric_project_id: Arc<OnceLock<String>>,
    /// True while that lookup runs: the route waits for it a moment (see
    /// [`NUMBER_LOOKUP_WAIT`](super::project::NUMBER_LOOKUP_WAIT)) rather than answer 404, which
    /// gcloud would cache.
    pub numeric_lookup: Option<watch::Receiver<bool>>,
}

/// A numeric project id cell, set now when the number is known.
pub(crate) fn project_number(known: Option<String>) -> Arc<OnceLock<String>> {
    let cell = OnceLock::new();
    if let Some(number) = known {
        let _ = cell.set(number);
    }
    Arc::new(cell)
}

/// The identity facts, known from the start (a key, a flag) or once `run` has worked them out.
#[derive(Debug, Clone)]
pub(crate) struct IdentityCell(watch::Receiver<Option<Arc<Identity>>>);

impl From<Identity> for IdentityCell {
    fn from(identity: Identity) -> Self {
        Self(watch::channel(Some(Arc::new(identity))).1)
    }
}

impl IdentityCell {
    /// A cell filled later through the sender. Dropping the sender unfilled leaves every
    /// request for a fact answered 503.
    pub(crate) fn later() -> (watch::Sender<Option<Arc<Identity>>>, Self) {
        let (sender, cell) = watch::channel(None);
        (sender, Self(cell))
    }

    /// The facts if known now.
    pub(in crate::server) fn now(&self) -> Option<Arc<Identity>> {
        self.0.borrow().clone()
    }

    /// The facts, waiting for them at most [`IDENTITY_WAIT`]; else the 503 to answer.
    pub(in crate::server) async fn wait(&self) -> Result<Arc<Identity>, Response> {
        if let Some(known) = self.now() {
            return Ok(known);
        }
        let mut cell = self.0.clone();
        let known = match tokio::time::timeout(IDENTITY_WAIT, cell.wait_for(Option::is_some)).await {
            Ok(Ok(known)) => known.clone(),
            _ => None,
        };
        known.ok_or_else(not_yet)
    }
}

/// As a metadata server that cannot answer yet: 503 (clients retry it), saying why.
fn not_yet() -> Response {
    let why = "the service account's email and project are not known yet: the agent is still \
               asking the upstream metadata server (--source metadata); ask again\n";
    (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(email: &str) -> Identity {
        Identity {
            email: email.to_owned(),
            project_id: None,
            numeric_project_id: project_number(None),
            numeric_lookup: None,
        }
    }

    #[tokio::test]
    async fn a_request_gets_the_identity_that_arrives_while_it_waits() {
        let (sender, cell) = IdentityCell::later();
        assert!(cell.now().is_none());
        let waiting = tokio::spawn(async move { cell.wait().await.map(|i| i.email.clone()) });
        // One thread: the request runs until it waits for the identity.
        tokio::task::yield_now().await;
        sender.send_replace(Some(Arc::new(facts("vm@p.iam.gserviceaccount.com"))));
        let email = waiting.await.expect("joined").map_err(|r| r.status());
        assert_eq!(email, Ok("vm@p.iam.gserviceaccount.com".to_owned()));
    }

    #[tokio::test]
    async fn an_identity_that_can_no_longer_arrive_is_a_503_at_once() {
        let (sender, cell) = IdentityCell::later();
        drop(sender);
        let refused = cell.wait().await.map(|i| i.email.clone()).map_err(|r| r.status());
        assert_eq!(refused, Err(StatusCode::SERVICE_UNAVAILABLE));
    }

    #[tokio::test]
    async fn a_known_identity_is_answered_at_once() {
        let cell = IdentityCell::from(facts("key@p.iam.gserviceaccount.com"));
        assert_eq!(
            cell.wait().await.map(|i| i.email.clone()).ok().as_deref(),
            Some("key@p.iam.gserviceaccount.com")
        );
    }
}
