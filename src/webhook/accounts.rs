//! Kubernetes service accounts' `iam.gke.io/gcp-service-account`, cached briefly so a burst
//! of pods costs one API read per account. An account that does not exist is remembered for
//! only [`MISSING_FOR`] (it may be created a moment later), which still spares the API server
//! a read per forged review; concurrent misses for one account share that read; when the API
//! fails, an answer up to [`STALE_IF_ERROR`] old is used rather than refusing the pod.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;

use super::annotations::GKE_GSA_ANNOTATION;

/// How long an answer is reused without asking again.
const FRESH_FOR: Duration = Duration::from_secs(30);
/// How long "no such account" is reused: short, since pods often arrive just before their
/// account (one `kubectl apply` of both).
const MISSING_FOR: Duration = Duration::from_secs(3);
/// How old an answer may be when the API server cannot be reached.
const STALE_IF_ERROR: Duration = Duration::from_secs(600);
/// Bound on remembered accounts; past it, the oldest half is dropped.
const MAX_ENTRIES: usize = 4096;

type Key = (String, String);
/// The account's annotation (`None`: absent); the outer `None`: no such account.
type Found = Option<Option<String>>;

/// The lookups, with their cache.
pub(crate) struct Accounts {
    client: kube::Client,
    cache: Mutex<HashMap<Key, (Instant, Found)>>,
    /// One read at a time per account: the reviews that miss together wait for the first.
    reading: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

impl Accounts {
    pub(crate) fn new(client: kube::Client) -> Self {
        Self { client, cache: Mutex::new(HashMap::new()), reading: Mutex::new(HashMap::new()) }
    }

    /// The annotation of `namespace/name`, `None` when the account or annotation is absent.
    pub(crate) async fn gsa(&self, namespace: &str, name: &str) -> Result<Option<String>, String> {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some((age, found)) = self.cached(&key)
            && fresh(age, &found)
        {
            return Ok(found.flatten());
        }
        let turn = self.turn(&key);
        let _reading = turn.lock().await;
        // Another review may have read it while this one waited.
        let answer = match self.cached(&key) {
            Some((age, found)) if fresh(age, &found) => Ok(found.flatten()),
            cached => self.read(namespace, name, key.clone(), cached).await,
        };
        self.done(&key, &turn);
        answer
    }

    async fn read(
        &self,
        namespace: &str,
        name: &str,
        key: Key,
        cached: Option<(Duration, Found)>,
    ) -> Result<Option<String>, String> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        match api.get_opt(name).await {
            Ok(None) => {
                self.remember(key, None);
                Ok(None)
            }
            Ok(Some(account)) => {
                let value = account.metadata.annotations.and_then(|mut a| a.remove(GKE_GSA_ANNOTATION));
                self.remember(key, Some(value.clone()));
                Ok(value)
            }
            Err(e) => match cached {
                Some((age, found)) if age < STALE_IF_ERROR => {
                    tracing::warn!(
                        "cannot read ServiceAccount {namespace}/{name} ({e}); using the answer from {}s ago",
                        age.as_secs()
                    );
                    Ok(found.flatten())
                }
                _ => Err(format!("cannot read ServiceAccount {namespace}/{name}: {e}")),
            },
        }
    }

    /// The lock readers of `key` queue on.
    fn turn(&self, key: &Key) -> Arc<tokio::sync::Mutex<()>> {
        let mut reading = self.reading.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        reading.entry(key.clone()).or_default().clone()
    }

    /// Forgets `key`'s lock once nobody else holds or waits for it (the map stays small).
    fn done(&self, key: &Key, turn: &Arc<tokio::sync::Mutex<()>>) {
        let mut reading = self.reading.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The map's reference and this reader's: nobody is waiting.
        if Arc::strong_count(turn) <= 2 {
            reading.remove(key);
        }
    }

    fn cached(&self, key: &Key) -> Option<(Duration, Found)> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(key).map(|(at, value)| (at.elapsed(), value.clone()))
    }

    fn remember(&self, key: Key, value: Found) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_ENTRIES {
            let mut ages: Vec<Instant> = cache.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages.get(ages.len() / 2).copied();
            cache.retain(|_, (at, _)| Some(*at) > cutoff);
        }
        cache.insert(key, (Instant::now(), value));
    }
}

/// Whether an answer `age` old is reused without asking again.
fn fresh(age: Duration, found: &Found) -> bool {
    age < if found.is_some() { FRESH_FOR } else { MISSING_FOR }
}
