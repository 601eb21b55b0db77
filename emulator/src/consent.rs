//! The installed-app flow's bookkeeping: OAuth clients as the Cloud console
//! creates them, who is "signed in" to the browser, consent sessions waiting
//! for a click and authorization codes waiting for their exchange.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use super::Emulator;
use super::state::{OAuthClient, PROJECT_ID, random_alnum, random_digits};

/// Who consents on the emulator's consent page until
/// [`Emulator::set_consenting_user`] names someone else.
pub const DEFAULT_CONSENTING_USER: &str = "person@example.com";

/// How long an authorization code stays redeemable, as at Google.
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// Consent-flow state, part of [`super::state::State`].
#[derive(Default)]
pub struct Consent {
    /// Overrides [`DEFAULT_CONSENTING_USER`].
    pub user: Option<String>,
    /// Consent-page session id -> the validated request it shows.
    pub sessions: HashMap<String, AuthRequest>,
    /// Authorization code -> what it was issued for; removed when redeemed.
    pub codes: HashMap<String, AuthCode>,
}

impl Consent {
    /// The email of whoever clicks "Allow".
    pub fn user(&self) -> String {
        self.user.clone().unwrap_or_else(|| DEFAULT_CONSENTING_USER.to_string())
    }
}

/// A validated authorization request, which a code stays bound to.
#[derive(Clone, Debug)]
pub struct AuthRequest {
    /// The OAuth client asking.
    pub client_id: String,
    /// Loopback URI the browser is sent back to.
    pub redirect_uri: String,
    /// The client's CSRF token, echoed back verbatim.
    pub state: String,
    /// PKCE S256 challenge the code exchange must match.
    pub challenge: String,
    /// Requested scopes, in request order.
    pub scopes: Vec<String>,
    /// `access_type=offline`: the exchange also yields a refresh token.
    pub offline: bool,
}

/// An issued authorization code.
pub struct AuthCode {
    /// The request the user approved.
    pub request: AuthRequest,
    /// The user who approved it.
    pub email: String,
    /// When the code stops being redeemable.
    pub expires_at: SystemTime,
}

/// A fresh refresh token in Google's `1//` shape.
pub fn new_refresh_token() -> String {
    format!("1//emu-{}", random_alnum(64))
}

impl Emulator {
    /// `http://127.0.0.1:PORT/o/oauth2/auth`, the consent page's address.
    pub fn auth_uri(&self) -> String {
        format!("{}/o/oauth2/auth", self.url())
    }

    /// Registers an OAuth client of `kind` ("installed", a Desktop app, or
    /// "web") and returns the client-secrets JSON the console downloads for
    /// it, pointing at this emulator. Panics on any other kind.
    pub fn add_oauth_client(&self, kind: &str) -> Value {
        assert!(matches!(kind, "installed" | "web"), "add_oauth_client: kind is \"installed\" or \"web\"");
        let (client_id, secret) = self.register_client(kind);
        let inner = json!({
            "client_id": client_id,
            "project_id": PROJECT_ID,
            "auth_uri": self.auth_uri(),
            "token_uri": self.token_uri(),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": secret,
            "redirect_uris": ["http://localhost"],
        });
        Value::Object(Map::from_iter([(kind.to_string(), inner)]))
    }

    /// Makes `email` the user who approves (or denies) later consent pages;
    /// codes already issued keep the user who approved them.
    pub fn set_consenting_user(&self, email: &str) {
        self.shared.lock().consent.user = Some(email.to_string());
    }

    /// Makes every authorization code issued so far expired, so tests can
    /// check a late exchange without waiting 10 minutes.
    pub fn expire_authorization_codes(&self) {
        let expired = SystemTime::now() - Duration::from_secs(1);
        self.shared.lock().consent.codes.values_mut().for_each(|code| code.expires_at = expired);
    }

    /// Registers a client with Google-shaped id and secret; returns both.
    pub(super) fn register_client(&self, kind: &str) -> (String, String) {
        let number = random_digits(12);
        let client_id = format!("{number}-{}.apps.googleusercontent.com", random_alnum(32).to_lowercase());
        let secret = format!("GOCSPX-{}", random_alnum(28));
        let client = OAuthClient { secret: secret.clone(), kind: kind.to_string() };
        self.shared.lock().clients.insert(client_id.clone(), client);
        (client_id, secret)
    }
}
