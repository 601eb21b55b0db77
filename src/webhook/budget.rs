//! The memory reviews may hold at once. Each review reserves what its body takes as the bytes
//! arrive and, before its pod is parsed, an estimate of the parsed tree; reviews past the
//! budget wait (within their deadline). So the webhook's memory is bounded by construction,
//! whatever the bodies hold, and a client that promises a large body and sends it slowly (or
//! never) holds only what it really sent.

use std::{pin::Pin, sync::Arc};

use axum::body::{Body, HttpBody as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// All reviews together: a few full-size reviews, or hundreds of ordinary ones (a pod is a
/// few KiB). The chart's memory limit is sized from this (docs/kubernetes.md, "Webhook memory and limits"; figures in docs/performance.md).
pub(crate) const BUDGET: usize = 40 << 20;
/// The most one pod's parsed tree may be estimated at: about 280 000 JSON values, far beyond
/// any pod the API server stores (etcd keeps objects under 1.5 MiB). A pod past it is denied
/// without being parsed.
pub(crate) const MAX_PARSE: usize = 24 << 20;
/// What one counted JSON value can cost, with room to spare: a `serde_json::Value` (32 bytes),
/// its slot in a growing array or map, and an object key. Measured peaks: 33 bytes a value
/// for an array of zeros, 66 for an object of short keys (counting each key and value), 16
/// for an array of `{}`.
const PER_VALUE: usize = 88;
/// Permits are KiB, so a semaphore's count holds any budget.
const UNIT: usize = 1 << 10;

/// The shared budget.
#[derive(Clone)]
pub(crate) struct Budget(Arc<Semaphore>);

impl Default for Budget {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(BUDGET / UNIT)))
    }
}

impl Budget {
    /// Waits until `bytes` (capped at the budget) are free, and holds them until the permit
    /// drops. (`None` would mean the semaphore was closed, which nothing does.)
    pub(crate) async fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let units = u32::try_from(bytes.div_ceil(UNIT).clamp(1, BUDGET / UNIT)).unwrap_or(u32::MAX);
        self.0.clone().acquire_many_owned(units).await.ok()
    }
}

/// A review body read chunk by chunk, twice each byte reserved as it arrives (collecting holds
/// the chunks and the growing copy at once), at most `max` bytes. The permits go with the body.
pub(crate) async fn read_body(budget: &Budget, mut body: Body, max: usize) -> Result<Held, BodyError> {
    let (mut bytes, mut permits, mut reserved) = (Vec::new(), Vec::new(), 0usize);
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(chunk) = frame.map_err(|e| BodyError::Broken(e.to_string()))?.into_data() else {
            continue;
        };
        if bytes.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        let needed = (bytes.len() + chunk.len()).saturating_mul(2);
        if needed > reserved {
            // Whole units, so a client dripping single bytes reserves one unit per KiB sent.
            let deficit = (needed - reserved).div_ceil(UNIT) * UNIT;
            permits.extend(budget.reserve(deficit).await);
            reserved += deficit;
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Held { bytes, _permits: permits })
}

/// A body and the budget it holds until dropped.
pub(crate) struct Held {
    pub(crate) bytes: Vec<u8>,
    _permits: Vec<OwnedSemaphorePermit>,
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// More than the cap.
    TooLarge,
    /// The connection broke or the framing was wrong.
    Broken(String),
}

/// An upper estimate of what parsing `json` into a `serde_json::Value` allocates: its text
/// (strings are copied) and a share per value, counted from the separators outside strings.
pub(crate) fn parse_cost(json: &str) -> usize {
    let (mut values, mut in_string, mut escaped) = (1usize, false, false);
    for byte in json.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b',' | b'[' | b'{' | b':' => values += 1,
            _ => {}
        }
    }
    json.len().saturating_add(values.saturating_mul(PER_VALUE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_outside_strings_only() {
        let plain = parse_cost(r#"{"a":[1,2,3]}"#);
        let quoted = parse_cost(r#"{"a":"[1,2,3]"}"#);
        assert!(plain > quoted, "{plain} vs {quoted}");
        assert_eq!(parse_cost(r#""a\"b,c""#), 8 + PER_VALUE, "an escaped quote does not end the string");
    }

    #[test]
    fn a_body_of_zeros_is_past_the_limit_and_a_real_pod_far_below() {
        let zeros = format!("{{\"a\":[{}0]}}", "0,".repeat(1_500_000));
        assert!(parse_cost(&zeros) > MAX_PARSE);
        let pod = include_str!("../../tests/fixtures/admission/pod-real-world.json");
        assert!(parse_cost(pod) < 1 << 20, "{}", parse_cost(pod));
    }

    #[tokio::test]
    async fn reservations_past_the_budget_wait_for_earlier_ones() {
        let budget = Budget::default();
        let first = budget.reserve(BUDGET - UNIT).await;
        let small = budget.reserve(UNIT).await;
        let waiting = budget.clone();
        let mut next = tokio::spawn(async move { waiting.reserve(UNIT).await });
        tokio::task::yield_now().await;
        assert!(futures_now(&mut next).await.is_none(), "the budget is spent");
        drop((first, small));
        assert!(next.await.expect("granted once freed").is_some());
    }

    #[tokio::test]
    async fn a_body_holds_twice_what_arrived_and_frees_it_when_dropped() {
        let budget = Budget::default();
        let free = || budget.0.available_permits() * UNIT;
        let held = read_body(&budget, Body::from(vec![b'x'; 100 * UNIT]), 1 << 20).await.expect("read");
        assert_eq!((held.bytes.len(), free()), (100 * UNIT, BUDGET - 200 * UNIT));
        drop(held);
        assert_eq!(free(), BUDGET);
        let over = read_body(&budget, Body::from(vec![0u8; 11]), 10).await.err();
        assert_eq!((over, free()), (Some(BodyError::TooLarge), BUDGET), "nothing kept past the cap");
    }

    /// The task's result if it has finished.
    async fn futures_now<T>(task: &mut tokio::task::JoinHandle<T>) -> Option<T> {
        if task.is_finished() { Some(task.await.expect("task")) } else { None }
    }
}
