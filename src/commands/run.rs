//! `run`: the sidecar. One owner task per token, token files, the loopback metadata API,
//! the admin listener, source watching; SIGTERM drains.

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinSet};

use crate::{
    config::{IdTokenSpec, RunConfig},
    credentials::Env,
    error::{Error, Result},
    exchange::{self, Http, IdRequest, RetryPolicy},
    refresh::{EarlyRefresh, MintFn, Minter, OnDemand, Owner, Progress, Published},
    server::{self, Limits, admin, metadata},
    sinks::files::{FileSink, Target},
    telemetry::metrics::Metrics,
    watch as source_watch,
};

mod identity;

use identity::{instance, universe};

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
    let admin_state = admin::AdminState {
        tokens: ready_when,
        min_remaining: config.min_remaining,
        metrics: metrics.clone(),
        gate: None,
        health: face.health(),
    };
    face.serve_admin(admin::router(admin_state), "admin listener");
    // Served at once: with --source metadata the identity comes later (see `identity::start`).
    let identity = identity::start(&loaded, &config, &http, &tokens.access).await;
    let facts = (identity, universe(&loaded));
    let mut metadata_state = metadata_state(&config, &tokens, minter, facts, &metrics);
    metadata_state.nudge = Some(asks_tx);
    face.serve(Limits::METADATA, None, metadata::site(metadata_state), "metadata API");
    face.drain().await
}

/// The owners' channels: the access token, always, and one per `--id-token`.
struct Tokens {
    access: Published,
    /// In `--id-token` order.
    id: Vec<(IdTokenSpec, Published)>,
}

impl Tokens {
    /// Each channel with the file it is written to.
    fn with_targets(&self) -> impl Iterator<Item = (&Published, Target)> {
        let id = self.id.iter().map(|(spec, published)| (published, Target::Id(spec.name.clone())));
        std::iter::once((&self.access, Target::Access)).chain(id)
    }
}

/// Starts a file writer per token when `--output-dir` is set. Returns what readiness watches:
/// the written tokens with files, else the published ones.
fn follow_with_files(
    config: &RunConfig,
    tokens: &Tokens,
    metrics: &Metrics,
    tasks: &mut server::Tasks,
) -> Vec<Published> {
    let Some(dir) = &config.output_dir else {
        return tokens.with_targets().map(|(p, _)| p.clone()).collect();
    };
    let sink = FileSink { dir: dir.clone(), mode: config.file_mode, metrics: metrics.clone() };
    let mut written = Vec::new();
    for (published, target) in tokens.with_targets() {
        let (tx, rx) = watch::channel(None);
        let follow = sink.clone().follow(published.name.clone(), target, published.tokens.clone(), tx);
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
    let access = config.access.clone();
    let m = minter.clone();
    let mint: MintFn = Arc::new(move || {
        let (m, access) = (m.clone(), access.clone());
        Box::pin(async move { m.access(&access).await })
    });
    let access = spawn_owner("access".into(), mint, (signals, config.min_remaining), tasks);
    let mut id = Vec::new();
    for spec in &config.id_tokens {
        let request = IdRequest { audience: spec.audience.clone(), include_email: config.include_email };
        let m = minter.clone();
        let mint: MintFn = Arc::new(move || {
            let (m, request) = (m.clone(), request.clone());
            Box::pin(async move { m.id(&request).await })
        });
        let published =
            spawn_owner(format!("id:{}", spec.name), mint, (signals, config.min_remaining), tasks);
        id.push((spec.clone(), published));
    }
    Tokens { access, id }
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

/// What the metadata API answers from: the owners' channels, the minter, identity facts and
/// the universe domain.
fn metadata_state(
    config: &RunConfig,
    tokens: &Tokens,
    minter: Minter,
    (identity, universe_domain): (metadata::IdentityCell, String),
    metrics: &Metrics,
) -> metadata::MetadataState {
    metadata::MetadataState {
        access: tokens.access.clone(),
        scopes: config.access.scopes_or_default(),
        scope_set: config.access.scopes_or_default().into_iter().collect(),
        subject: config.access.subject.clone(),
        id_tokens: kept_id_tokens(config, tokens),
        minter,
        on_demand: OnDemand::new(metrics.clone()),
        identity,
        universe_domain,
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

/// Each `--id-token`'s channel, for the metadata API to serve its audience from.
fn kept_id_tokens(config: &RunConfig, tokens: &Tokens) -> Vec<metadata::KeptIdToken> {
    let kept = |(spec, published): &(IdTokenSpec, Published)| metadata::KeptIdToken {
        audience: spec.audience.clone(),
        include_email: config.include_email,
        published: published.clone(),
    };
    tokens.id.iter().map(kept).collect()
}
