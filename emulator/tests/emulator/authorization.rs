//! The consent pages (`/o/oauth2/auth`, `/o/oauth2/approve`): strict
//! validation of the authorization request and the redirects they answer.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::emulator::{DEFAULT_CONSENTING_USER, Emulator, PROJECT_ID};

/// The loopback redirect URI of a client listening on port 43123.
pub const REDIRECT: &str = "http://127.0.0.1:43123/";
/// Scopes a login asks for.
pub const SCOPES: &str = "openid https://www.googleapis.com/auth/cloud-platform";

/// A client registered for one flow, with its PKCE pair.
pub struct Flow {
    /// The emulator.
    pub emu: Emulator,
    /// The inner object of the client-secrets JSON.
    pub client: Value,
    /// The PKCE verifier.
    pub verifier: String,
}

impl Flow {
    /// A fresh emulator with one client of `kind`.
    pub fn new(kind: &str) -> Self {
        let emu = Emulator::start();
        let client = emu.add_oauth_client(kind)[kind].clone();
        let verifier = URL_SAFE_NO_PAD.encode([7u8; 48]);
        Flow { emu, client, verifier }
    }

    /// The client's `field` as a string.
    pub fn field(&self, name: &str) -> String {
        self.client[name].as_str().expect("client field").to_string()
    }

    /// The authorization parameters a correct client sends.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, self.verifier.as_bytes()));
        vec![
            ("response_type", "code".into()),
            ("client_id", self.field("client_id")),
            ("redirect_uri", REDIRECT.into()),
            ("scope", SCOPES.into()),
            ("state", "st-42/x".into()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".into()),
            ("access_type", "offline".into()),
            ("prompt", "consent".into()),
        ]
    }

    /// GETs the consent page with `params`; returns status and HTML.
    pub async fn authorize(&self, params: &[(&str, String)]) -> (u16, String) {
        let response = client().get(self.emu.auth_uri()).query(params).send().await.expect("auth page");
        (response.status().as_u16(), response.text().await.expect("HTML"))
    }

    /// Submits the consent form; returns status and the `Location` header.
    pub async fn decide(&self, session: &str, decision: &str) -> (u16, String) {
        let url = format!("{}/o/oauth2/approve", self.emu.url());
        let form = [("consent_session", session), ("decision", decision)];
        let response = client().post(url).form(&form).send().await.expect("approve");
        let location = response.headers().get("location").map(|l| l.to_str().expect("ASCII").to_string());
        (response.status().as_u16(), location.unwrap_or_default())
    }

    /// Shows the consent page for `params` and clicks Allow; returns the code.
    pub async fn code_for(&self, params: &[(&str, String)]) -> String {
        let (status, page) = self.authorize(params).await;
        assert_eq!(status, 200, "{page}");
        let (status, location) = self.decide(&session_of(&page), "allow").await;
        assert_eq!(status, 302);
        query_of(&location)["code"].as_str().expect("code").to_string()
    }

    /// The code a correct client gets.
    pub async fn code(&self) -> String {
        self.code_for(&self.params()).await
    }
}

/// A client that does not follow redirects: the Location is the answer.
fn client() -> reqwest::Client {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    builder.build().expect("HTTP client")
}

/// The hidden consent-session field of a consent page.
pub fn session_of(page: &str) -> String {
    let rest = page.split("name=\"consent_session\" value=\"").nth(1).expect("a consent session field");
    rest.split('"').next().expect("closing quote").to_string()
}

/// The decoded query of a URL, as a JSON object (repeats would be lost, so refuse them).
pub fn query_of(url: &str) -> Value {
    let url = reqwest::Url::parse(url).expect("a URL");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let object: serde_json::Map<String, Value> = pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    assert_eq!(object.len(), pairs.len(), "repeated parameters in {url}");
    Value::Object(object)
}

fn without(params: &[(&'static str, String)], name: &str) -> Vec<(&'static str, String)> {
    params.iter().filter(|(k, _)| *k != name).cloned().collect()
}

fn with(params: &[(&'static str, String)], name: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut changed = without(params, name);
    changed.push((name, value.to_string()));
    changed
}

#[test]
fn a_client_secrets_file_has_the_shape_the_console_downloads() {
    let emu = Emulator::start();
    for kind in ["installed", "web"] {
        let file = emu.add_oauth_client(kind);
        let inner = &file[kind];
        assert_eq!(file.as_object().map(|o| o.len()), Some(1));
        assert!(inner["client_id"].as_str().expect("id").ends_with(".apps.googleusercontent.com"));
        assert!(inner["client_secret"].as_str().expect("secret").starts_with("GOCSPX-"));
        assert_eq!(inner["auth_uri"], json!(emu.auth_uri()));
        assert_eq!(inner["token_uri"], json!(emu.token_uri()));
        assert_eq!(inner["project_id"], PROJECT_ID);
        assert_eq!(inner["redirect_uris"], json!(["http://localhost"]));
    }
}

#[tokio::test]
async fn the_consent_page_is_a_real_form_naming_user_client_and_scopes() {
    let flow = Flow::new("installed");
    let (status, page) = flow.authorize(&flow.params()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\" action=\"/o/oauth2/approve\">"), "{page}");
    assert!(page.contains("<button id=\"allow\" name=\"decision\" value=\"allow\">Allow</button>"));
    assert!(page.contains("<button id=\"deny\" name=\"decision\" value=\"deny\">Deny</button>"));
    assert!(page.contains(&flow.field("client_id")) && page.contains(DEFAULT_CONSENTING_USER));
    assert!(page.contains("<li>https://www.googleapis.com/auth/cloud-platform</li>"));
    let recorded = &flow.emu.requests_to("authorize")[0];
    assert_eq!(
        (recorded.form["access_type"].as_str(), recorded.form["state"].as_str()),
        ("offline", "st-42/x")
    );
    assert_eq!(flow.emu.calls("authorize"), 1);
}

#[tokio::test]
async fn allow_redirects_to_the_loopback_with_the_code_and_state() {
    let flow = Flow::new("installed");
    let (_, page) = flow.authorize(&flow.params()).await;
    let (status, location) = flow.decide(&session_of(&page), "allow").await;
    assert_eq!(status, 302);
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    let query = query_of(&location);
    assert_eq!(query["state"], "st-42/x", "state comes back verbatim");
    assert!(query["code"].as_str().expect("code").starts_with("4/0A"), "{location}");
    assert!(query.get("error").is_none());
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_no_code() {
    let flow = Flow::new("web");
    let (_, page) = flow.authorize(&flow.params()).await;
    let (status, location) = flow.decide(&session_of(&page), "deny").await;
    assert_eq!(status, 302);
    assert_eq!(query_of(&location), json!({"error": "access_denied", "state": "st-42/x"}));
    assert!(location.starts_with(REDIRECT));
}

#[tokio::test]
async fn a_consent_session_is_single_use_and_must_exist() {
    let flow = Flow::new("installed");
    let (_, page) = flow.authorize(&flow.params()).await;
    let session = session_of(&page);
    assert_eq!(flow.decide(&session, "allow").await.0, 302);
    assert_eq!(flow.decide(&session, "allow").await, (400, String::new()));
    assert_eq!(flow.decide("forged", "allow").await.0, 400);
    let (_, page) = flow.authorize(&flow.params()).await;
    assert_eq!(flow.decide(&session_of(&page), "maybe").await.0, 400, "only allow or deny");
}

#[tokio::test]
async fn every_required_parameter_is_required() {
    let flow = Flow::new("installed");
    let good = flow.params();
    for (name, _) in &good {
        let (status, page) = flow.authorize(&without(&good, name)).await;
        if *name == "code_challenge_method" {
            // Leaving the method out means "plain", which is refused on its own terms.
            assert!(page.contains("Invalid code_challenge_method: plain"), "{page}");
        } else {
            assert!(page.contains(&format!("Missing required parameter: {name}")), "{name}: {page}");
        }
        assert_eq!(status, 400, "{name}");
        assert!(page.contains("Error 400: invalid_request"), "{name}: {page}");
    }
    let (status, page) = flow.authorize(&with(&good, "approval_prompt", "force")).await;
    assert_eq!(status, 400);
    assert!(page.contains("Parameter not allowed for this message type: approval_prompt"), "{page}");
}

#[tokio::test]
async fn an_unknown_client_is_not_found() {
    let flow = Flow::new("installed");
    let params = with(&flow.params(), "client_id", "1-nope.apps.googleusercontent.com");
    let (status, page) = flow.authorize(&params).await;
    assert_eq!(status, 401);
    assert!(page.contains("Error 401: invalid_client") && page.contains("The OAuth client was not found."));
}

#[tokio::test]
async fn the_plain_challenge_method_and_malformed_challenges_are_refused() {
    let flow = Flow::new("installed");
    let good = flow.params();
    let plain = with(&with(&good, "code_challenge", &flow.verifier), "code_challenge_method", "plain");
    let cases = [
        (plain, "Invalid code_challenge_method: plain"),
        (with(&good, "code_challenge", "too-short"), "Invalid code_challenge"),
        (with(&good, "code_challenge", &"a+b".repeat(20)), "Invalid code_challenge"),
    ];
    for (params, detail) in cases {
        let (status, page) = flow.authorize(&params).await;
        assert_eq!(status, 400);
        assert!(page.contains("Error 400: invalid_request") && page.contains(detail), "{page}");
    }
    assert_eq!(flow.emu.requests_to("authorize").len(), 3);
}

#[tokio::test]
async fn only_loopback_redirects_with_a_port_are_accepted() {
    let flow = Flow::new("web");
    let good = flow.params();
    let refused = [
        "https://app.example.com/",
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/callback",
        "http://[::1]:8080/",
        "http://localhost:0/",
        "urn:ietf:wg:oauth:2.0:oob",
    ];
    for uri in refused {
        let (status, page) = flow.authorize(&with(&good, "redirect_uri", uri)).await;
        assert_eq!(status, 400, "{uri}");
        assert!(page.contains("Error 400: redirect_uri_mismatch"), "{uri}: {page}");
    }
    let (status, page) = flow.authorize(&with(&good, "redirect_uri", "http://localhost:8080/")).await;
    assert_eq!(status, 200, "{page}");
}

#[tokio::test]
async fn bad_values_are_refused_with_their_own_codes() {
    let flow = Flow::new("installed");
    let good = flow.params();
    let cases = [
        (with(&good, "response_type", "token"), "Error 400: unsupported_response_type"),
        (with(&good, "scope", "cloud-platform"), "Error 400: invalid_scope"),
        (with(&good, "scope", "openid,email"), "Error 400: invalid_scope"),
        (with(&good, "access_type", "forever"), "Invalid access_type: forever"),
        (with(&good, "prompt", "none consent"), "Invalid prompt: none consent"),
    ];
    for (params, expected) in cases {
        let (status, page) = flow.authorize(&params).await;
        assert_eq!(status, 400);
        assert!(page.contains(expected), "{expected}: {page}");
    }
}
