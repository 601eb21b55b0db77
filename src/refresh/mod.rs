//! Keeping tokens fresh: one owner task per token publishes through a watch channel;
//! consumers (files, the loopback API, readiness) only ever read what it published.

pub(crate) mod minter;
pub(crate) mod owner;
pub(crate) mod schedule;

pub(crate) use minter::{Minter, OnDemand};
pub(crate) use owner::{EarlyRefresh, MintFn, Owner};

use std::time::Duration;

use tokio::sync::watch;

use crate::token::Token;

/// What an owner is doing, for the requests that asked it for an early refresh: they wait
/// only while a refresh runs, never for one that was declined or not asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// The last early-refresh request (a count on the asks channel) the owner has answered,
    /// by refreshing or by declining.
    pub answered: u64,
    /// True while a refresh (of any cause) is running.
    pub refreshing: bool,
    /// The lifetime the token in service had when it was minted (zero before the first).
    pub lifetime: Duration,
}

impl Progress {
    /// How much life a token must have left to count as ready: `min_remaining`, or for a
    /// token that never lives longer than that, a quarter of its lifetime (the owner renews
    /// it at about half, so a healthy agent always holds more).
    pub(crate) fn ready_floor(&self, min_remaining: Duration) -> Duration {
        if self.lifetime > min_remaining || self.lifetime.is_zero() {
            min_remaining
        } else {
            self.lifetime / 4
        }
    }
}

/// A token as its consumers see it: a name and the channel its owner publishes on.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    /// `access` or `id:<name>`.
    pub name: String,
    /// `None` until the first token, and whenever none is valid.
    pub tokens: watch::Receiver<Option<Token>>,
    /// What its owner is doing.
    pub progress: watch::Receiver<Progress>,
}
