//! A subscriber that is built when it is first needed.
//!
//! The global subscriber has to be installed before anything logs, but building
//! tracing-subscriber's fmt subscriber (its span registry allocates up front) is a measurable
//! share of a cached CLI call, which usually logs nothing. Events below the level never reach
//! a subscriber at all (tracing checks the global maximum, [`Lazy::max_level_hint`], first),
//! so a call that logs nothing never builds it.

use std::sync::OnceLock;

use tracing::{
    Event, Metadata, Subscriber,
    span::{Attributes, Id, Record},
    subscriber::Interest,
};
use tracing_core::span::Current;
use tracing_subscriber::filter::LevelFilter;

/// The subscriber `make` returns, made on first use.
pub(crate) struct Lazy<S> {
    level: LevelFilter,
    make: Box<dyn Fn() -> S + Send + Sync>,
    built: OnceLock<S>,
}

impl<S: Subscriber> Lazy<S> {
    /// A subscriber for events up to `level`, which `make` builds when one arrives.
    pub(crate) fn new(level: LevelFilter, make: impl Fn() -> S + Send + Sync + 'static) -> Self {
        Self { level, make: Box::new(make), built: OnceLock::new() }
    }

    /// `make` must not log: it runs inside the `OnceLock`'s initialisation, which an event
    /// from it would enter again.
    fn inner(&self) -> &S {
        self.built.get_or_init(&self.make)
    }

    /// Whether `metadata` is within the level: only then is the subscriber built (the one
    /// `make` returns filters within the same level, by target too, and has the last word).
    fn passes(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.level
    }
}

impl<S: Subscriber> Subscriber for Lazy<S> {
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level)
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if !self.passes(metadata) {
            return Interest::never();
        }
        self.inner().register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.passes(metadata) && self.inner().enabled(metadata)
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.inner().event_enabled(event)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.inner().new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner().record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner().record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        self.inner().event(event);
    }

    fn enter(&self, span: &Id) {
        self.inner().enter(span);
    }

    fn exit(&self, span: &Id) {
        self.inner().exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner().clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner().try_close(id)
    }

    fn current_span(&self) -> Current {
        self.built.get().map_or_else(Current::none, Subscriber::current_span)
    }
}
