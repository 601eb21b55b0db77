//! Who `run` says it is and where it runs: the identity facts and instance facts its metadata
//! API answers with, and the project-number lookup.

use std::sync::Arc;

use tokio::sync::watch;

use crate::{
    config::RunConfig,
    credentials::{Loaded, Source},
    exchange::{self, Http},
    refresh::Published,
    server::{instance::Instance, metadata},
    validate::ProjectId,
};

/// The identity the metadata API answers with, and the numeric-project-id lookup when it is
/// needed. With `--source metadata` the facts come from the upstream metadata server, which
/// may be slow at start (up to its timeouts): they are asked in the background, so the API
/// serves at once and only the routes that answer with a fact wait for them, briefly. From a
/// credential they are known at once.
pub(super) async fn start(
    loaded: &Loaded,
    config: &RunConfig,
    http: &Http,
    access: &Published,
) -> metadata::IdentityCell {
    let (sender, cell) = metadata::IdentityCell::later();
    let upstream = matches!(loaded.source, Source::Metadata(_));
    let (loaded, config, http, access) = (loaded.clone(), config.clone(), http.clone(), access.clone());
    let resolve = async move {
        let mut identity = identity(&loaded, &config, &http).await;
        if identity.numeric_project_id.get().is_none() && config.listen.is_some() {
            let universe = universe(&loaded);
            identity.numeric_lookup = look_up_project_number(&config, &identity, &universe, &access, &http);
        }
        let _ = sender.send(Some(Arc::new(identity)));
    };
    if upstream {
        tokio::spawn(resolve);
    } else {
        resolve.await;
    }
    cell
}

/// `universe/universe-domain`: the credential's.
pub(super) fn universe(loaded: &Loaded) -> String {
    match &loaded.source {
        Source::ServiceAccount(key) => key.universe_domain.clone(),
        Source::ExternalAccount(account) => account.universe_domain.clone(),
        _ => crate::credentials::service_account::DEFAULT_UNIVERSE.to_owned(),
    }
}

/// What the metadata API says about who we are.
async fn identity(loaded: &Loaded, config: &RunConfig, http: &Http) -> metadata::Identity {
    let mut facts = Facts {
        email: "default".to_owned(),
        project_id: config.project_id.clone(),
        numeric_project_id: config.numeric_project_id.clone(),
    };
    match &loaded.source {
        Source::ServiceAccount(key) => {
            facts.email = key.client_email.clone();
            facts.project_id = facts.project_id.or(key.project_id.clone());
        }
        Source::Impersonated(imp) => facts.email = imp.target.email.clone(),
        Source::ExternalAccount(account) => {
            if let Some(target) = &account.impersonation {
                facts.email = target.email.clone();
            }
            facts.numeric_project_id = facts.numeric_project_id.or_else(|| project_number(&account.audience));
        }
        Source::AuthorizedUser(user) => facts.project_id = facts.project_id.or(user.quota_project_id.clone()),
        Source::Metadata(server) => {
            // The upstream's words become this API's answers: only a plain name is taken (no
            // newline, control character or `/` to corrupt a text answer or a log line).
            let fetch = |path: &'static str| async move {
                let text = exchange::metadata::text(http, server, path).await.ok()?;
                crate::validate::metadata_name(&text).is_ok().then_some(text)
            };
            // Google's answer is the project id, whatever its shape (see `ProjectId`).
            facts.email = fetch("instance/service-accounts/default/email").await.unwrap_or(facts.email);
            facts.project_id =
                facts.project_id.or(fetch("project/project-id").await.map(ProjectId::as_given));
            facts.numeric_project_id = facts.numeric_project_id.or(fetch("project/numeric-project-id").await);
        }
    }
    // A service account's email names its project: NAME@PROJECT.iam.gserviceaccount.com.
    facts.project_id = facts.project_id.or_else(|| ProjectId::of_email(&facts.email));
    metadata::Identity {
        email: facts.email,
        project_id: facts.project_id,
        numeric_project_id: metadata::project_number(facts.numeric_project_id),
        numeric_lookup: None,
    }
}

/// [`metadata::Identity`] while it is being worked out.
struct Facts {
    email: String,
    project_id: Option<ProjectId>,
    numeric_project_id: Option<String>,
}

/// gcloud takes a metadata server for one only when `project/numeric-project-id` answers, so
/// when neither a flag nor the credential gave the number, it is looked up once, in the
/// background (readiness and tokens never wait for it), with the agent's own access token:
/// Resource Manager's `projects.get`. A failure is one warning saying what to do; a transient
/// one is retried once, never in a loop.
fn look_up_project_number(
    config: &RunConfig,
    identity: &metadata::Identity,
    universe: &str,
    access: &Published,
    http: &Http,
) -> Option<watch::Receiver<bool>> {
    let Some(project) = identity.project_id.clone() else {
        tracing::info!(
            "no project id or numeric project id known: gcloud (GCE_METADATA_ROOT) needs \
             --numeric-project-id to detect this agent"
        );
        return None;
    };
    // True while the lookup runs; dropped (so waiters stop) when it ends, however it ends.
    let (running, pending) = watch::channel(true);
    let endpoint = config
        .resource_manager_endpoint
        .clone()
        .unwrap_or_else(|| exchange::resource_manager::default_endpoint(universe));
    let (cell, mut tokens, http) = (identity.numeric_project_id.clone(), access.tokens.clone(), http.clone());
    tokio::spawn(async move {
        let _running = running;
        // The first token the owner publishes; the Ref must not live across an await.
        let bearer = match tokens.wait_for(Option::is_some).await {
            Ok(token) => token.as_ref().map(|t| t.value.clone()),
            Err(_) => None,
        };
        let Some(bearer) = bearer else { return };
        tracing::debug!(%project, "looking up the numeric project id");
        match exchange::resource_manager::project_number(&http, &endpoint, &project, &bearer).await {
            Ok(number) => {
                tracing::info!(%project, %number, "numeric project id from Resource Manager");
                let _ = cell.set(number);
            }
            Err(e) => tracing::warn!(
                "cannot look up the numeric id of project {project}: {e}. So \
                 project/numeric-project-id answers 404, and gcloud (GCE_METADATA_ROOT) does not take \
                 this agent for a metadata server: pass --numeric-project-id NUMBER, or grant the \
                 agent's account resourcemanager.projects.get on {project} (e.g. roles/browser)"
            ),
        }
    });
    Some(pending)
}

/// The instance facts the metadata API reports: the flags, the host name defaulting to this
/// machine's.
pub(super) fn instance(config: &RunConfig) -> Instance {
    let facts = &config.instance;
    Instance {
        zone: facts.zone.clone(),
        region: facts.region.clone(),
        name: facts.name.clone(),
        id: facts.id,
        hostname: facts.hostname.clone().or_else(os_hostname),
        attributes: facts.attributes.iter().cloned().collect(),
    }
}

/// This machine's host name (a pod's name in Kubernetes), when it is a valid one.
fn os_hostname() -> Option<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_str().ok()?;
    match crate::validate::hostname(name) {
        Ok(()) => Some(name.to_owned()),
        Err(why) => {
            tracing::debug!("instance/hostname is not answered: this machine's {why}; set --hostname");
            None
        }
    }
}

/// `//iam.googleapis.com/projects/NUMBER/locations/...` -> NUMBER.
fn project_number(audience: &str) -> Option<String> {
    let rest = audience.split("/projects/").nth(1)?;
    let number = rest.split('/').next()?;
    crate::validate::project_number(number).then(|| number.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_number_comes_from_the_provider_name() {
        let audience =
            "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/p/providers/k";
        assert_eq!(project_number(audience).as_deref(), Some("123456"));
        assert_eq!(project_number("identitynamespace:p.svc.id.goog:https://x"), None);
    }
}
