//! The GCE metadata server routes.

use serde_json::{Value, json};

use crate::metadata_get;
use crate::support::emulator::{DEFAULT_METADATA_EMAIL, Emulator, Fault};

const SA_ROOT: &str = "/computeMetadata/v1/instance/service-accounts";

#[tokio::test]
async fn metadata_without_the_flavor_header_is_forbidden() {
    let emu = Emulator::start();
    let response = metadata_get(&emu, "/computeMetadata/v1/project/project-id", false).await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.expect("body");
    assert_eq!(body, "Missing required header \"Metadata-Flavor\"");
}

#[tokio::test]
async fn metadata_behind_a_proxy_is_forbidden() {
    let emu = Emulator::start();
    let response = reqwest::Client::new()
        .get(format!("{}/computeMetadata/v1/project/project-id", emu.url()))
        .header("Metadata-Flavor", "Google")
        .header("X-Forwarded-For", "10.0.0.1")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn every_metadata_response_carries_the_flavor_header() {
    let emu = Emulator::start();
    emu.push_fault(Fault::Status(503));
    let cases = [
        ("/", false, 200),
        ("/computeMetadata/v1/project/project-id", false, 403),
        ("/computeMetadata/v1/no/such/path", true, 404),
        ("/computeMetadata/v1/instance/service-accounts/default/token", true, 503),
        ("/computeMetadata/v1/instance/service-accounts/default/token", true, 200),
    ];
    for (path, flavor, status) in cases {
        let response = metadata_get(&emu, path, flavor).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.headers()["metadata-flavor"], "Google", "{path}");
    }
    assert_eq!((emu.calls("metadata_token"), emu.calls("metadata_other")), (2, 3));
}

async fn text_of(emu: &Emulator, path: &str) -> String {
    let response = metadata_get(emu, path, true).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("body")
}

#[tokio::test]
async fn the_metadata_server_describes_its_account_and_project() {
    let emu = Emulator::start();
    emu.set_metadata_account("vm@proj.iam.gserviceaccount.com", "proj", 42);
    assert_eq!(text_of(&emu, "/computeMetadata/v1/project/project-id").await, "proj");
    assert_eq!(text_of(&emu, "/computeMetadata/v1/project/numeric-project-id").await, "42");
    let listing = text_of(&emu, &format!("{SA_ROOT}/")).await;
    assert_eq!(listing, "default/\nvm@proj.iam.gserviceaccount.com/\n");
    let email = text_of(&emu, &format!("{SA_ROOT}/default/email")).await;
    assert_eq!(email, "vm@proj.iam.gserviceaccount.com");
    let scopes = text_of(&emu, &format!("{SA_ROOT}/default/scopes")).await;
    assert_eq!(scopes.lines().count(), 2);
    let universe = text_of(&emu, "/computeMetadata/v1/universe/universe-domain").await;
    assert_eq!(universe, "googleapis.com");
    let path = format!("{SA_ROOT}/vm@proj.iam.gserviceaccount.com/?recursive=true");
    let info: Value = metadata_get(&emu, &path, true).await.json().await.expect("JSON");
    assert_eq!(info["aliases"], json!(["default"]));
    assert_eq!(info["email"], "vm@proj.iam.gserviceaccount.com");
    let other = metadata_get(&emu, &format!("{SA_ROOT}/other@x.com/email"), true).await;
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn a_metadata_token_is_recorded_as_issued_to_the_vm_account() {
    let emu = Emulator::start();
    let path = format!("{SA_ROOT}/default/token?scopes=https://a.example,https://b.example");
    let body: Value = metadata_get(&emu, &path, true).await.json().await.expect("JSON");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let issued = emu.issued(body["access_token"].as_str().expect("token")).expect("issued");
    assert_eq!(issued.principal_email, DEFAULT_METADATA_EMAIL);
    assert_eq!(issued.scopes, ["https://a.example", "https://b.example"]);
    let path = format!("{SA_ROOT}/{DEFAULT_METADATA_EMAIL}/token");
    let body: Value = metadata_get(&emu, &path, true).await.json().await.expect("JSON");
    let issued = emu.issued(body["access_token"].as_str().expect("token")).expect("issued");
    assert!(issued.scopes.contains(&"https://www.googleapis.com/auth/cloud-platform".into()));
}

#[tokio::test]
async fn a_metadata_identity_token_needs_an_audience() {
    let emu = Emulator::start();
    let response = metadata_get(&emu, &format!("{SA_ROOT}/default/identity"), true).await;
    assert_eq!(response.status(), 400);
    let body = response.text().await.expect("body");
    assert_eq!(body, "non-empty audience parameter required");
    assert_eq!(emu.calls("metadata_identity"), 1);
}

#[tokio::test]
async fn metadata_identity_tokens_verify_and_carry_email_only_in_full_format() {
    let emu = Emulator::start();
    let standard = format!("{SA_ROOT}/default/identity?audience=https://svc&format=standard");
    let jwt = text_of(&emu, &standard).await;
    let claims = emu.verify_id_token(&jwt).expect("verifies");
    assert_eq!(claims["aud"], "https://svc");
    assert!(claims.get("email").is_none());
    let full = format!("{SA_ROOT}/default/identity?audience=https://svc&format=full&licenses=TRUE");
    let jwt = text_of(&emu, &full).await;
    let claims = emu.verify_id_token(&jwt).expect("verifies");
    assert_eq!(claims["email"], DEFAULT_METADATA_EMAIL);
    assert_eq!(claims["email_verified"], true);
    let issued = emu.issued(&jwt).expect("recorded");
    assert_eq!(issued.audience.as_deref(), Some("https://svc"));
}
