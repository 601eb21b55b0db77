//! Tests of the Google emulator itself. It exists to catch client bugs, so
//! most of these check that it rejects bad input exactly like Google does.

mod support {
    //! The emulator crate, at the path the tests name it by.
    pub use gcp_token_agent_emulator as emulator;
}

// Crate roots resolve `mod x;` beside themselves, so name the folder explicitly.
#[path = "emulator/authorization.rs"]
mod authorization;
#[path = "emulator/code_grant.rs"]
mod code_grant;
#[path = "emulator/iam.rs"]
mod iam;
#[path = "emulator/jwt_grant.rs"]
mod jwt_grant;
#[path = "emulator/metadata.rs"]
mod metadata;
#[path = "emulator/refresh_and_faults.rs"]
mod refresh_and_faults;
#[path = "emulator/resource_manager.rs"]
mod resource_manager;
#[path = "emulator/sts.rs"]
mod sts;

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::emulator::{Emulator, KeyFile};

/// Default scope used by assertions in these tests.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs()
}

/// Claims a well-behaved client (golang/oauth2) would send for `key`.
pub fn good_claims(emu: &Emulator, key: &KeyFile) -> Value {
    let iat = now();
    json!({
        "iss": key.email(),
        "scope": CLOUD_PLATFORM,
        "aud": emu.token_uri(),
        "iat": iat,
        "exp": iat + 3600,
    })
}

/// Signs `claims` with `key`'s private key, sending `kid` as the key id.
pub fn sign_with_kid(key: &KeyFile, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    let encoding = EncodingKey::from_rsa_pem(key.private_key_pem().as_bytes())
        .expect("emulator PEM parses with jsonwebtoken");
    jsonwebtoken::encode(&header, claims, &encoding).expect("sign assertion")
}

/// Signs `claims` the way a correct client does.
pub fn sign(key: &KeyFile, claims: &Value) -> String {
    sign_with_kid(key, key.private_key_id(), claims)
}

/// POSTs a form to the emulator's token endpoint; returns status and JSON.
pub async fn post_token(emu: &Emulator, form: &[(&str, &str)]) -> (u16, Value) {
    let response =
        reqwest::Client::new().post(emu.token_uri()).form(form).send().await.expect("token request");
    let status = response.status().as_u16();
    let body = response.json().await.expect("token response is JSON");
    (status, body)
}

/// Runs the JWT-bearer grant with `assertion`.
pub async fn jwt_grant(emu: &Emulator, assertion: &str) -> (u16, Value) {
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    post_token(emu, &[("grant_type", grant), ("assertion", assertion)]).await
}

/// Asserts an exact Google OAuth error.
pub fn assert_error(got: &(u16, Value), status: u16, error: &str, description: &str) {
    let expected = json!({ "error": error, "error_description": description });
    assert_eq!((got.0, &got.1), (status, &expected), "full response: {got:?}");
}

/// GETs a metadata path (relative to the emulator root) with or without the
/// `Metadata-Flavor: Google` header.
pub async fn metadata_get(emu: &Emulator, path: &str, flavor: bool) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", emu.url()));
    if flavor {
        request = request.header("Metadata-Flavor", "Google");
    }
    request.send().await.expect("metadata request")
}

/// POSTs a form to the emulator's STS endpoint; returns status and JSON.
pub async fn post_sts(emu: &Emulator, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new().post(emu.sts_url()).form(form).send().await.expect("STS request");
    (response.status().as_u16(), response.json().await.expect("STS response is JSON"))
}

/// POSTs `body` as JSON to an IAM Credentials URL, with `bearer` if given.
pub async fn post_iam(url: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("IAM request");
    (response.status().as_u16(), response.json().await.expect("IAM response is JSON"))
}

/// Asserts an exact Google API error envelope.
pub fn assert_api_error(got: &(u16, Value), code: u16, status: &str, message: &str) {
    let expected = json!({ "error": { "code": code, "message": message, "status": status } });
    assert_eq!((got.0, &got.1), (code, &expected), "full response: {got:?}");
}

/// An access token for `key`'s account with `scope`, from the JWT-bearer grant.
pub async fn access_token_for(emu: &Emulator, key: &KeyFile, scope: &str) -> String {
    let mut claims = good_claims(emu, key);
    claims["scope"] = json!(scope);
    let (status, body) = jwt_grant(emu, &sign(key, &claims)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("access_token").to_string()
}
