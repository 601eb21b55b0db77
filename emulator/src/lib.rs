//! A strict local stand-in for Google's OAuth2 token endpoint and consent
//! pages, the GCE metadata server, STS (workload identity federation) and
//! IAM Credentials, for tests and benchmarks.
//!
//! It runs on its own OS thread with its own tokio runtime, so synchronous
//! tests can spawn the product binary against it. Keys are generated at
//! test time; nothing secret is checked in.

mod authorize;
mod code_grant;
mod consent;
mod faults;
mod form;
mod gate;
mod iam;
mod iam_body;
mod issue;
mod keys;
mod killable;
mod metadata;
mod oidc;
mod registry;
mod resource_manager;
mod server;
mod state;
mod sts;
mod token;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::{Value, json};

// Re-exports are for consumers; each test crate uses only some of them.
#[allow(unused_imports)]
pub use consent::DEFAULT_CONSENTING_USER;
pub use gate::Gate;
#[allow(unused_imports)]
pub use keys::{ID_TOKEN_KID, KeyFile, write_private_json};
#[allow(unused_imports)]
pub use oidc::{OidcIssuer, sts_principal};
#[allow(unused_imports)]
pub use state::{
    COUNTED_ROUTES, DEFAULT_METADATA_EMAIL, DEFAULT_PROJECT_NUMBER, DEFAULT_USER_SCOPES, DEFAULT_VM_SCOPES,
    FAULT_ROUTES, Fault, GOOGLE_TOKEN_URI, Issued, PROJECT_ID, Recorded,
};

use state::{ServiceAccount, Shared, UserGrant};

/// A running emulator; dropping it stops the server.
pub struct Emulator {
    addr: SocketAddr,
    url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts on an ephemeral loopback port; panics if that is impossible.
    pub fn start() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(loopback).expect("start the Google emulator on 127.0.0.1:0")
    }

    /// Starts on `addr` (port 0 picks a free port).
    pub fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        // Bind synchronously so the port is known, and busy, before returning.
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let shared = Shared::new(&url);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("google-emulator".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .expect("register the emulator listener with tokio");
                tokio::select! {
                    () = server::serve(listener, served) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime here cancels in-flight (e.g. Slow) requests.
        })?;
        Ok(Emulator { addr, url, shared, stop: Some(stop), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `http://127.0.0.1:PORT/token`.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.url)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, the form `GCE_METADATA_HOST`/`_IP`/`_ROOT` expect.
    pub fn metadata_host(&self) -> String {
        self.addr.to_string()
    }

    /// Registers a new key for `email` (registering the account on first
    /// use; later calls add keys, as key rotation does) and returns its key file.
    pub fn add_service_account(&self, email: &str) -> KeyFile {
        let client_id = {
            let state = self.shared.lock();
            let existing = state.accounts.get(email).map(|a| a.client_id.clone());
            existing.unwrap_or_else(keys::new_unique_id)
        };
        // RSA generation is slow-ish, so it happens outside the lock.
        let (file, key) = keys::new_service_account_key(email, &client_id, &self.token_uri());
        let mut state = self.shared.lock();
        let account = state.accounts.entry(email.to_string()).or_insert(ServiceAccount {
            client_id,
            keys: Default::default(),
            dwd: false,
        });
        account.keys.insert(file.private_key_id().to_string(), key.public);
        file
    }

    /// Registers an OAuth client plus a consenting user `email`; returns the
    /// `authorized_user` JSON (without `quota_project_id`).
    pub fn add_authorized_user(&self, email: &str) -> Value {
        let (client_id, secret) = self.register_client("installed");
        let refresh_token = consent::new_refresh_token();
        let mut state = self.shared.lock();
        let user_id = state.user_id(email);
        let scopes = DEFAULT_USER_SCOPES.iter().map(|s| s.to_string()).collect();
        let grant = UserGrant { client_id: client_id.clone(), email: email.to_string(), user_id, scopes };
        state.grants.insert(refresh_token.clone(), grant);
        json!({
            "type": "authorized_user",
            "client_id": client_id,
            "client_secret": secret,
            "refresh_token": refresh_token,
            "token_uri": state.token_uri,
        })
    }

    /// Makes later refresh grants with `refresh_token` fail with `invalid_grant`.
    pub fn revoke_refresh_token(&self, refresh_token: &str) {
        self.shared.lock().grants.remove(refresh_token);
    }

    /// Lets assertions from `email` carry `sub` (domain-wide delegation).
    /// Panics if `email` was never registered, to catch typos in tests.
    pub fn allow_domain_wide_delegation(&self, email: &str) {
        let mut state = self.shared.lock();
        let account = state.accounts.get_mut(email);
        account.expect("allow_domain_wide_delegation: unknown service account").dwd = true;
    }

    /// Sets `expires_in` (and ID-token lifetime) of tokens issued from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.shared.lock().lifetime = secs;
    }

    /// Sets this emulator's clock `secs` ahead of the machine's (negative: behind): its `Date`
    /// headers say so, and it judges JWT assertions' and subject tokens' `iat`/`exp` by it.
    pub fn set_clock_offset(&self, secs: i64) {
        self.shared.lock().clock_offset = secs;
    }

    /// Sets the identity and project the metadata server reports.
    pub fn set_metadata_account(&self, email: &str, project_id: &str, numeric_project_id: u64) {
        let mut state = self.shared.lock();
        state.metadata.email = email.to_string();
        state.metadata.project_id = project_id.to_string();
        state.metadata.numeric_project_id = numeric_project_id;
    }

    /// Registers a project with Resource Manager (`GET /v1/projects/{id}` answers its
    /// number); [`PROJECT_ID`] is registered from the start as [`DEFAULT_PROJECT_NUMBER`].
    pub fn add_project(&self, project_id: &str, number: u64) {
        self.shared.lock().projects.insert(project_id.to_string(), number);
    }

    /// Sets the scopes attached to the metadata server's VM account.
    pub fn set_metadata_scopes(&self, scopes: &[&str]) {
        self.shared.lock().metadata.scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// Queues a fault for the next request to the token endpoint or the
    /// metadata `token`/`identity` routes, whichever comes first (FIFO).
    pub fn push_fault(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Queues a fault for the next request to `route` only (FIFO), one of
    /// [`FAULT_ROUTES`], e.g. "sts", "iam_access" or "iam_id". Such faults are
    /// used before any queued with [`Emulator::push_fault`]. Panics on any
    /// other route name, to catch typos in tests.
    pub fn push_fault_to(&self, route: &str, fault: Fault) {
        let route = FAULT_ROUTES.into_iter().find(|r| *r == route);
        let route = route.expect("push_fault_to: not one of FAULT_ROUTES");
        self.shared.lock().route_faults.entry(route).or_default().push_back(fault);
    }

    /// Starts (`Some(status)`, e.g. 503) or ends (`None`) an outage: until it ends, every
    /// request to a route of [`FAULT_ROUTES`] answers `status` with the plain-text body
    /// "emulated failure", however many arrive; queued faults wait for its end.
    pub fn set_outage(&self, status: Option<u16>) {
        self.shared.lock().outage = status;
    }

    /// Holds every request to `path` (e.g. "/computeMetadata/v1/project/project-id"), before
    /// it is counted, until the returned gate is opened or dropped.
    pub fn hold(&self, path: &str) -> Gate {
        let (gate, waiting) = Gate::new();
        self.shared.lock().held.insert(path.to_string(), waiting);
        gate
    }

    /// Faults queued but not yet consumed, on every queue.
    pub fn pending_faults(&self) -> usize {
        let state = self.shared.lock();
        state.faults.len() + state.route_faults.values().map(|q| q.len()).sum::<usize>()
    }

    /// Requests seen on `route` (see [`COUNTED_ROUTES`]), faulted ones included.
    pub fn calls(&self, route: &str) -> usize {
        self.shared.lock().calls.get(route).copied().unwrap_or(0)
    }

    /// Every completed request, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Completed requests on one route, oldest first.
    pub fn requests_to(&self, route: &str) -> Vec<Recorded> {
        let state = self.shared.lock();
        state.requests.iter().filter(|r| r.route == route).cloned().collect()
    }

    /// Zeroes the counters and forgets recorded requests (not issued tokens).
    pub fn reset_accounting(&self) {
        let mut state = self.shared.lock();
        state.calls.values_mut().for_each(|count| *count = 0);
        state.requests.clear();
    }

    /// Who `token` (access or ID token) was issued to, if the emulator issued it.
    pub fn issued(&self, token: &str) -> Option<Issued> {
        self.shared.lock().issued.get(token).cloned()
    }

    /// Verifies an ID token against the emulator key; returns its claims.
    pub fn verify_id_token(&self, jwt: &str) -> Result<Value, String> {
        self.shared.signer().verify(jwt)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
