//! `run`: the sidecar. One owner task per token, token files, the loopback metadata API,
//! the admin listener, source watching; SIGTERM drains.

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinSet};

use crate::{
    config::RunConfig,
    credentials::{Env, Loaded, Source},
    error::{Error, Result},
    exchange::{self, Http, IdRequest, RetryPolicy},
    refresh::{EarlyRefresh, MintFn, Minter, OnDemand, Owner, Progress, Published},
    server::{self, Limits, admin, instance::Instance, metadata},
    sinks::files::{FileSink, Target},
    telemetry::metrics::Metrics,
    watch as source_watch,
};

/// Runs the sidecar until SIGTERM/SIGINT (or, with `--oneshot`, until the files are written).
pub async fn run(config: RunConfig, env: Env) -> Result<()> {
    let metrics = Metrics::new();
    // Resolve once up front: a bad flag or file is a configuration error (exit 64), not a retry loop.
    let loaded = config.selection.load(&env)?;
    if !config.id_tokens.is_empty() {
        exchange::check_id_token_support(&loaded.source)?;
    }
    if config.oneshot {
        let minter = Minter::new(
            config.selection.clone(),
            env,
            Http::new(RetryPolicy::with_timeout(config.http_timeout))?,
        );
        return oneshot(&config, &minter, &metrics).await;
    }
    // The owners back off on their own; one HTTP attempt per refresh keeps the two from multiplying.
    let http = Http::new(RetryPolicy { attempts: 1, ..RetryPolicy::with_timeout(config.http_timeout) })?;
    let minter = Minter::new(config.selection.clone(), env.clone(), http.clone());
    if let Some(addr) = config.listen.filter(|a| !a.ip().is_loopback()) {
        tracing::warn!(
            "the token API listens on non-loopback {addr}: anyone who can reach it gets your tokens"
        );
    }
    let mut face = server::Face::new(config.shutdown_grace);
    face.bind(config.listen, config.admin_listen, config.ready_file.as_deref()).await?;
    let shutdown = face.shutdown();
    let (reload_tx, reload) = watch::channel(0u64);
    let (asks_tx, asks) = watch::channel(0u64);
    let signals = Signals { metrics: &metrics, reload: &reload, asks: &asks, shutdown: &shutdown };
    let tokens = spawn_owners(&config, &minter, &signals, &mut face.tasks);
    let ready_when = follow_with_files(&config, &tokens, &metrics, &mut face.tasks);
    let check_selection = config.selection.clone();
    let check_env = env.clone();
    let check: source_watch::CheckFn =
        Arc::new(move || check_selection.load(&check_env).map(drop).map_err(|e| e.to_string()));
    let (_watch, watching) = source_watch::start(
        loaded.source.watched_files(),
        reload_tx,
        check,
        metrics.clone(),
        shutdown.clone(),
    );
    face.tasks.spawn(async move {
        watching.await;
        "credential watcher"
    });
    let mut identity = identity(&loaded, &config, &http).await;
    if identity.numeric_project_id.get().is_none() && config.listen.is_some() {
        identity.numeric_lookup = look_up_project_number(&config, &identity, &access_of(&tokens), &http);
    }
    let mut metadata_state = metadata_state(&config, &tokens, minter, identity, &metrics);
    metadata_state.nudge = Some(asks_tx);
    let admin_state = admin::AdminState {
        tokens: ready_when,
        min_remaining: config.min_remaining,
        metrics: metrics.clone(),
        gate: None,
        health: face.health(),
    };
    face.serve(Limits::METADATA, None, metadata::site(metadata_state), "metadata API");
    face.serve_admin(admin::router(admin_state), "admin listener");
    face.drain().await
}

type Tokens = Vec<(Published, Target)>;

/// Starts a file writer per token when `--output-dir` is set. Returns what readiness watches:
/// the written tokens with files, else the published ones.
fn follow_with_files(
    config: &RunConfig,
    tokens: &Tokens,
    metrics: &Metrics,
    tasks: &mut server::Tasks,
) -> Vec<Published> {
    let Some(dir) = &config.output_dir else { return tokens.iter().map(|(p, _)| p.clone()).collect() };
    let sink = FileSink { dir: dir.clone(), mode: config.file_mode, metrics: metrics.clone() };
    let mut written = Vec::new();
    for (published, target) in tokens {
        let (tx, rx) = watch::channel(None);
        let follow =
            sink.clone().follow(published.name.clone(), target.clone(), published.tokens.clone(), tx);
        tasks.spawn(async move {
            follow.await;
            "token file writer"
        });
        written.push(Published {
            name: published.name.clone(),
            tokens: rx,
            progress: published.progress.clone(),
        });
    }
    written
}

/// What every owner listens to.
struct Signals<'a> {
    metrics: &'a Metrics,
    /// Source changes.
    reload: &'a watch::Receiver<u64>,
    /// Early-refresh requests from the metadata API.
    asks: &'a watch::Receiver<u64>,
    shutdown: &'a watch::Receiver<bool>,
}

fn spawn_owners(
    config: &RunConfig,
    minter: &Minter,
    signals: &Signals<'_>,
    tasks: &mut server::Tasks,
) -> Tokens {
    let mut tokens = Vec::new();
    let access = config.access.clone();
    let m = minter.clone();
    let mint: MintFn = Arc::new(move || {
        let (m, access) = (m.clone(), access.clone());
        Box::pin(async move { m.access(&access).await })
    });
    tokens.push((spawn_owner("access".into(), mint, (signals, config.min_remaining), tasks), Target::Access));
    for spec in &config.id_tokens {
        let request = IdRequest { audience: spec.audience.clone(), include_email: config.include_email };
        let m = minter.clone();
        let mint: MintFn = Arc::new(move || {
            let (m, request) = (m.clone(), request.clone());
            Box::pin(async move { m.id(&request).await })
        });
        let published =
            spawn_owner(format!("id:{}", spec.name), mint, (signals, config.min_remaining), tasks);
        tokens.push((published, Target::Id(spec.name.clone())));
    }
    tokens
}

fn spawn_owner(
    name: String,
    mint: MintFn,
    (signals, below): (&Signals<'_>, Duration),
    tasks: &mut server::Tasks,
) -> Published {
    let (publish, tokens) = watch::channel(None);
    let (progress, watched) = watch::channel(Progress::default());
    let owner = Owner {
        name: name.clone(),
        mint,
        publish,
        reload: signals.reload.clone(),
        early: EarlyRefresh { asks: signals.asks.clone(), below },
        metrics: signals.metrics.clone(),
        clock: crate::refresh::owner::system_clock(),
        progress,
    };
    let run = owner.run(signals.shutdown.clone());
    tasks.spawn(async move {
        run.await;
        "token owner"
    });
    Published { name, tokens, progress: watched }
}

/// `--oneshot`: every token once, files written, done.
async fn oneshot(config: &RunConfig, minter: &Minter, metrics: &Metrics) -> Result<()> {
    let dir = config.output_dir.clone().ok_or_else(|| Error::usage("--oneshot", "needs --output-dir"))?;
    let sink = FileSink { dir, mode: config.file_mode, metrics: metrics.clone() };
    let mut jobs = JoinSet::new();
    let (m, access) = (minter.clone(), config.access.clone());
    jobs.spawn(async move { (Target::Access, m.access(&access).await) });
    for spec in &config.id_tokens {
        let (m, name) = (minter.clone(), spec.name.clone());
        let request = IdRequest { audience: spec.audience.clone(), include_email: config.include_email };
        jobs.spawn(async move { (Target::Id(name), m.id(&request).await) });
    }
    let mut first_error = None;
    while let Some(joined) = jobs.join_next().await {
        let written = match joined {
            Ok((target, minted)) => minted.and_then(|token| sink.write(&target, &token)),
            Err(e) => Err(Error::Internal(format!("a token job failed: {e}"))),
        };
        if let Err(e) = written {
            tracing::error!("{e}");
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            tracing::info!("oneshot: every token written");
            Ok(())
        }
    }
}

/// What the metadata API answers from: the owners' channels, the minter, identity facts.
fn metadata_state(
    config: &RunConfig,
    tokens: &Tokens,
    minter: Minter,
    identity: metadata::Identity,
    metrics: &Metrics,
) -> metadata::MetadataState {
    metadata::MetadataState {
        access: access_of(tokens),
        scopes: config.access.scopes_or_default(),
        scope_set: config.access.scopes_or_default().into_iter().collect(),
        subject: config.access.subject.clone(),
        id_tokens: kept_id_tokens(config, tokens),
        minter,
        on_demand: OnDemand::new(metrics.clone()),
        identity,
        instance: instance(config),
        metrics: metrics.clone(),
        listen: config.listen.map(|a| a.ip()),
        min_remaining: config.min_remaining,
        nudge: None,
        started: std::time::Instant::now(),
        last_nudge: std::sync::Mutex::new(None),
        rendered: Default::default(),
    }
}

/// The access token's channel: `spawn_owners` always starts it first.
fn access_of(tokens: &Tokens) -> Published {
    tokens.iter().find(|(_, target)| matches!(target, Target::Access)).map_or_else(
        // Unreachable in practice; an empty channel answers 503 rather than panicking.
        || Published::unowned("access"),
        |(published, _)| published.clone(),
    )
}

/// Each `--id-token`'s channel, found by its role (`Target::Id(name)`), not by position.
fn kept_id_tokens(config: &RunConfig, tokens: &Tokens) -> Vec<metadata::KeptIdToken> {
    config
        .id_tokens
        .iter()
        .filter_map(|spec| {
            let (published, _) =
                tokens.iter().find(|(_, target)| matches!(target, Target::Id(name) if *name == spec.name))?;
            Some(metadata::KeptIdToken {
                audience: spec.audience.clone(),
                include_email: config.include_email,
                published: published.clone(),
            })
        })
        .collect()
}

/// What the metadata API says about who we are.
async fn identity(loaded: &Loaded, config: &RunConfig, http: &Http) -> metadata::Identity {
    let mut facts = Facts {
        email: "default".to_owned(),
        project_id: config.project_id.clone(),
        numeric_project_id: config.numeric_project_id.clone(),
        universe_domain: crate::credentials::service_account::DEFAULT_UNIVERSE.to_owned(),
    };
    match &loaded.source {
        Source::ServiceAccount(key) => {
            facts.email = key.client_email.clone();
            facts.universe_domain = key.universe_domain.clone();
            facts.project_id = facts.project_id.or(key.project_id.clone());
        }
        Source::Impersonated(imp) => facts.email = imp.target.email.clone(),
        Source::ExternalAccount(account) => {
            if let Some(target) = &account.impersonation {
                facts.email = target.email.clone();
            }
            facts.universe_domain = account.universe_domain.clone();
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
            facts.email = fetch("instance/service-accounts/default/email").await.unwrap_or(facts.email);
            facts.project_id = facts.project_id.or(fetch("project/project-id").await);
            facts.numeric_project_id = facts.numeric_project_id.or(fetch("project/numeric-project-id").await);
        }
    }
    // A service account's email names its project: NAME@PROJECT.iam.gserviceaccount.com.
    facts.project_id = facts.project_id.or_else(|| crate::validate::project_of_email(&facts.email));
    metadata::Identity {
        email: facts.email,
        project_id: facts.project_id,
        numeric_project_id: metadata::project_number(facts.numeric_project_id),
        numeric_lookup: None,
        universe_domain: facts.universe_domain,
    }
}

/// [`metadata::Identity`] while it is being worked out.
struct Facts {
    email: String,
    project_id: Option<String>,
    numeric_project_id: Option<String>,
    universe_domain: String,
}

/// gcloud takes a metadata server for one only when `project/numeric-project-id` answers, so
/// when neither a flag nor the credential gave the number, it is looked up once, in the
/// background (readiness and tokens never wait for it), with the agent's own access token:
/// Resource Manager's `projects.get`. A failure is one warning saying what to do; a transient
/// one is retried once, never in a loop.
fn look_up_project_number(
    config: &RunConfig,
    identity: &metadata::Identity,
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
        .unwrap_or_else(|| exchange::resource_manager::default_endpoint(&identity.universe_domain));
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
fn instance(config: &RunConfig) -> Instance {
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
