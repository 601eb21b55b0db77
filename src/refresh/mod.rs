//! Keeping tokens fresh: one owner task per token publishes through a watch channel;
//! consumers (files, the loopback API, readiness) only ever read what it published.

pub(crate) mod minter;
pub(crate) mod owner;
pub(crate) mod schedule;

pub(crate) use minter::{Minter, OnDemand};
pub(crate) use owner::{EarlyRefresh, MintFn, Owner};

use tokio::sync::watch;

use crate::token::Token;

/// A token as its consumers see it: a name and the channel its owner publishes on.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    /// `access` or `id:<name>`.
    pub name: String,
    /// `None` until the first token, and whenever none is valid.
    pub tokens: watch::Receiver<Option<Token>>,
}
