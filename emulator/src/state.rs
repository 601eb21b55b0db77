//! Mutable emulator state: registered principals, scripted faults, call
//! accounting and the ledger of issued tokens.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::DecodingKey;
use serde_json::Value;

use super::consent::Consent;
use super::iam::IamPolicy;
use super::keys::Signer;
use super::oidc::Federation;

/// Audience Python google-auth always puts in assertions, whatever the key
/// file's `token_uri` says; the emulator accepts it alongside its own URL.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Project id written into generated key files and the metadata server.
pub const PROJECT_ID: &str = "emulator-project";

/// The number of [`PROJECT_ID`], in Resource Manager and the metadata server.
pub const DEFAULT_PROJECT_NUMBER: u64 = 123_456_789_012;

/// Service account the metadata server impersonates until reconfigured.
pub const DEFAULT_METADATA_EMAIL: &str = "emulator-vm@emulator-project.iam.gserviceaccount.com";

/// Scopes a default GCE VM service account carries.
pub const DEFAULT_VM_SCOPES: [&str; 2] =
    ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/userinfo.email"];

/// Scopes granted to an `authorized_user`, as `gcloud auth application-default login` does.
pub const DEFAULT_USER_SCOPES: [&str; 4] = [
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/sqlservice.login",
];

/// Route names used by [`super::Emulator::calls`] and `/emulator/calls`;
/// "authorize" and "approve" are the browser-facing consent pages,
/// "resource_manager" is Cloud Resource Manager's `projects.get`.
pub const COUNTED_ROUTES: [&str; 10] = [
    "token",
    "metadata_token",
    "metadata_identity",
    "metadata_other",
    "sts",
    "iam_access",
    "iam_id",
    "authorize",
    "approve",
    "resource_manager",
];

/// Routes that take scripted faults, each with its own queue
/// ([`super::Emulator::push_fault_to`]); the first three also drain the
/// shared queue of [`super::Emulator::push_fault`].
pub const FAULT_ROUTES: [&str; 7] =
    ["token", "metadata_token", "metadata_identity", "sts", "iam_access", "iam_id", "resource_manager"];

/// One scripted failure, consumed FIFO by the next request to a route of
/// [`FAULT_ROUTES`]. IAM routes render error codes in Google's API envelope
/// `{"error": {"code", "message", "status"}}`, the others in OAuth's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and the plain-text body "emulated failure".
    Status(u16),
    /// Answer with this status and a Google-shaped `{"error": ...}` body.
    ErrorCode {
        /// HTTP status code.
        status: u16,
        /// The `error` field, e.g. "temporarily_unavailable" or "invalid_grant";
        /// on IAM routes the `error.status`, e.g. "UNAVAILABLE".
        error: String,
    },
    /// Answer 429 with a `Retry-After` header.
    RateLimited {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// Sleep this long, then answer normally.
    Slow(Duration),
    /// Close the connection without sending any response bytes.
    Reset,
    /// Answer 200 and send `body` one byte every `every`: a slow drip that only a
    /// whole-request deadline ends.
    Drip {
        /// The body, dripped.
        body: Vec<u8>,
        /// Pause before each byte.
        every: Duration,
    },
    /// Answer exactly this: a hostile or broken upstream (absurd `expires_in`, redirects,
    /// oversized bodies, reflected secrets).
    Raw {
        /// HTTP status code.
        status: u16,
        /// Extra headers, e.g. `Location`.
        headers: Vec<(String, String)>,
        /// The body, sent as it is.
        body: Vec<u8>,
    },
}

/// A token the emulator handed out, looked up with [`super::Emulator::issued`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Service account, user or metadata account the token was issued to.
    pub principal_email: String,
    /// Scopes of an access token (empty for ID tokens).
    pub scopes: Vec<String>,
    /// `aud` of an ID token; `None` for access tokens.
    pub audience: Option<String>,
    /// When the token stops being valid.
    pub expires_at: SystemTime,
    /// Impersonated user for domain-wide delegation (`sub` claim).
    pub subject: Option<String>,
}

/// One request as the emulator saw it, for assertions on what clients send.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Route name: one of [`COUNTED_ROUTES`], "control" or "other".
    pub route: &'static str,
    /// HTTP method.
    pub method: String,
    /// Path plus query string as received.
    pub path_and_query: String,
    /// Parsed form body (token endpoint, STS, consent form) or the consent
    /// page's query parameters.
    pub form: BTreeMap<String, String>,
    /// Parsed JSON body (IAM Credentials routes only), when it was JSON.
    pub json: Option<Value>,
    /// Request headers, lowercased names; `authorization` is never kept.
    pub headers: BTreeMap<String, String>,
    /// Decoded header of the `assertion` (or STS `subject_token`), when decodable.
    pub jwt_header: Option<Value>,
    /// Decoded claims of the `assertion` (or STS `subject_token`), when decodable.
    pub jwt_claims: Option<Value>,
    /// Status answered; 0 when a [`Fault::Reset`] dropped the connection.
    pub status: u16,
}

/// A registered service account.
pub struct ServiceAccount {
    /// Numeric unique id, reused as the `sub` of its ID tokens.
    pub client_id: String,
    /// `private_key_id` -> public half of that key.
    pub keys: HashMap<String, DecodingKey>,
    /// Whether assertions may carry `sub` (domain-wide delegation).
    pub dwd: bool,
}

/// A registered OAuth client, as the Cloud console creates one.
pub struct OAuthClient {
    /// The client secret.
    pub secret: String,
    /// "installed" (Desktop app) or "web" (Web application).
    pub kind: String,
}

/// What one live refresh token stands for: a user's consent to a client.
pub struct UserGrant {
    /// The OAuth client the user consented to.
    pub client_id: String,
    /// The user's email.
    pub email: String,
    /// Numeric id used as `sub` in the user's ID tokens.
    pub user_id: String,
    /// Scopes the user granted.
    pub scopes: Vec<String>,
}

/// Identity the metadata server reports.
pub struct MetadataAccount {
    /// Service account email.
    pub email: String,
    /// Unique id of that account, used as `sub`/`azp` in identity tokens.
    pub client_id: String,
    /// Project id.
    pub project_id: String,
    /// Numeric project id.
    pub numeric_project_id: u64,
    /// Scopes attached to the VM.
    pub scopes: Vec<String>,
}

/// Everything guarded by the emulator's mutex.
pub struct State {
    /// This emulator's `/token` URL.
    pub token_uri: String,
    /// `expires_in` of issued tokens, in seconds.
    pub lifetime: u64,
    /// email -> service account.
    pub accounts: HashMap<String, ServiceAccount>,
    /// OAuth client id -> client.
    pub clients: HashMap<String, OAuthClient>,
    /// Live refresh token -> the consent it stands for; revoking removes one.
    pub grants: HashMap<String, UserGrant>,
    /// User email -> numeric id, so one person keeps one `sub` across clients.
    pub user_ids: HashMap<String, String>,
    /// The consent pages' pending sessions and authorization codes.
    pub consent: Consent,
    /// The metadata server's identity.
    pub metadata: MetadataAccount,
    /// Scripted faults shared by the token and metadata routes, FIFO.
    pub faults: VecDeque<Fault>,
    /// Scripted faults for one route each, FIFO, consulted first.
    pub route_faults: HashMap<&'static str, VecDeque<Fault>>,
    /// While set, every request to a route of [`FAULT_ROUTES`] answers this status (an
    /// outage), before any queued fault.
    pub outage: Option<u16>,
    /// Paths whose requests wait until the test opens the gate ([`super::Emulator::hold`]).
    pub held: HashMap<String, tokio::sync::watch::Receiver<bool>>,
    /// Trusted OIDC issuers, workload providers and STS clients.
    pub federation: Federation,
    /// Who may mint tokens for which service account.
    pub iam: IamPolicy,
    /// Per-route request counters.
    pub calls: BTreeMap<&'static str, usize>,
    /// Every request, in arrival-completion order.
    pub requests: Vec<Recorded>,
    /// token string -> who it was issued to.
    pub issued: HashMap<String, Issued>,
    /// Cloud Resource Manager: project id -> project number.
    pub projects: HashMap<String, u64>,
    /// Seconds this emulator's clock is ahead of the machine's (negative: behind).
    pub clock_offset: i64,
}

impl State {
    /// Fresh state for an emulator reachable at `base_url`.
    pub fn new(base_url: &str) -> Self {
        State {
            token_uri: format!("{base_url}/token"),
            lifetime: 3600,
            accounts: HashMap::new(),
            clients: HashMap::new(),
            grants: HashMap::new(),
            user_ids: HashMap::new(),
            consent: Consent::default(),
            metadata: MetadataAccount {
                email: DEFAULT_METADATA_EMAIL.to_string(),
                client_id: random_digits(21),
                project_id: PROJECT_ID.to_string(),
                numeric_project_id: DEFAULT_PROJECT_NUMBER,
                scopes: DEFAULT_VM_SCOPES.iter().map(|s| s.to_string()).collect(),
            },
            faults: VecDeque::new(),
            route_faults: HashMap::new(),
            outage: None,
            held: HashMap::new(),
            federation: Federation::default(),
            iam: IamPolicy::default(),
            calls: COUNTED_ROUTES.iter().map(|r| (*r, 0)).collect(),
            requests: Vec::new(),
            issued: HashMap::new(),
            projects: HashMap::from([(PROJECT_ID.to_string(), DEFAULT_PROJECT_NUMBER)]),
            clock_offset: 0,
        }
    }

    /// The numeric id of the user `email`, minted on first use.
    pub fn user_id(&mut self, email: &str) -> String {
        self.user_ids.entry(email.to_string()).or_insert_with(|| random_digits(21)).clone()
    }

    /// Ledger entry for a token valid for the configured lifetime from `iat`.
    pub fn expiry(&self, iat: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(iat + self.lifetime)
    }
}

/// State plus the ID-token signer, shared with the server thread.
pub struct Shared {
    /// Mutable state; never held across an `.await`.
    pub state: Mutex<State>,
    /// The emulator's own ID-token key, generated on first use because RSA
    /// generation costs ~0.1 s in debug builds and most tests never need it.
    signer: OnceLock<Signer>,
}

impl Shared {
    /// Wraps fresh state for an emulator at `base_url`.
    pub fn new(base_url: &str) -> Arc<Self> {
        Arc::new(Shared { state: Mutex::new(State::new(base_url)), signer: OnceLock::new() })
    }

    /// The emulator's ID-token signer.
    pub fn signer(&self) -> &Signer {
        self.signer.get_or_init(Signer::generate)
    }

    /// Locks the state; a test that panicked while holding the lock must not
    /// cascade into every later assertion, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds since the Unix epoch by this emulator's clock (the machine's, shifted by
    /// [`State::clock_offset`]): what it sends as `Date` and judges JWT times by, as Google does.
    pub fn now(&self) -> u64 {
        now().saturating_add_signed(self.lock().clock_offset)
    }

    /// Remembers a token so tests can ask who it belongs to.
    pub fn remember(&self, token: &str, issued: Issued) {
        self.lock().issued.insert(token.to_string(), issued);
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `n` random decimal digits, never starting with 0 (Google ids are numbers).
pub fn random_digits(n: usize) -> String {
    let first = fastrand::char('1'..='9');
    std::iter::once(first).chain((1..n).map(|_| fastrand::char('0'..='9'))).collect()
}

/// `n` random lowercase hex characters.
pub fn random_hex(n: usize) -> String {
    (0..n).map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0')).collect()
}

/// `n` random ASCII letters and digits.
pub fn random_alnum(n: usize) -> String {
    (0..n).map(|_| fastrand::alphanumeric()).collect()
}
