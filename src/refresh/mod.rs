//! Keeping tokens fresh: one owner task per token publishes through a watch channel;
//! consumers (files, the loopback API, readiness) only ever read what it published.

pub mod owner;
pub mod schedule;

pub use owner::{MintFn, Owner};
