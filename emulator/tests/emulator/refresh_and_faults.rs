//! The refresh-token grant, key-file shape, scripted faults and accounting.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::emulator::{Emulator, Fault};
use crate::{assert_error, good_claims, jwt_grant, post_token, sign};

const USER: &str = "alice@example.com";

fn refresh_form(user: &Value) -> Vec<(&str, &str)> {
    let field = |name: &str| user[name].as_str().unwrap_or_default();
    vec![
        ("grant_type", "refresh_token"),
        ("client_id", field("client_id")),
        ("client_secret", field("client_secret")),
        ("refresh_token", field("refresh_token")),
    ]
}

#[tokio::test]
async fn a_refresh_grant_gets_an_access_token_and_an_id_token_for_openid() {
    let emu = Emulator::start();
    let user = emu.add_authorized_user(USER);
    assert_eq!(user["type"], "authorized_user");
    assert_eq!(user["token_uri"], json!(emu.token_uri()));
    assert!(user.get("quota_project_id").is_none());
    let (status, body) = post_token(&emu, &refresh_form(&user)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["scope"].as_str().expect("scope").split(' ').any(|s| s == "openid"));
    let issued = emu.issued(body["access_token"].as_str().expect("token")).expect("issued");
    assert_eq!(issued.principal_email, USER);
    let claims = emu.verify_id_token(body["id_token"].as_str().expect("id_token"));
    assert_eq!(claims.expect("verifies")["aud"], user["client_id"]);
}

#[tokio::test]
async fn a_refresh_grant_with_a_wrong_secret_is_unauthorized() {
    let emu = Emulator::start();
    let user = emu.add_authorized_user(USER);
    let mut form = refresh_form(&user);
    form[2].1 = "GOCSPX-wrong";
    assert_error(&post_token(&emu, &form).await, 401, "invalid_client", "Unauthorized");
}

#[tokio::test]
async fn a_refresh_grant_for_an_unknown_client_is_not_found() {
    let emu = Emulator::start();
    let user = emu.add_authorized_user(USER);
    let mut form = refresh_form(&user);
    form[1].1 = "1-nope.apps.googleusercontent.com";
    let got = post_token(&emu, &form).await;
    assert_error(&got, 401, "invalid_client", "The OAuth client was not found.");
}

#[tokio::test]
async fn a_revoked_refresh_token_is_a_bad_request() {
    let emu = Emulator::start();
    let user = emu.add_authorized_user(USER);
    emu.revoke_refresh_token(user["refresh_token"].as_str().expect("refresh_token"));
    let got = post_token(&emu, &refresh_form(&user)).await;
    assert_error(&got, 400, "invalid_grant", "Bad Request");
}

#[tokio::test]
async fn a_refresh_grant_missing_a_parameter_names_it() {
    let emu = Emulator::start();
    let user = emu.add_authorized_user(USER);
    let form = refresh_form(&user)[..3].to_vec();
    let got = post_token(&emu, &form).await;
    let msg = "Missing required parameter: refresh_token";
    assert_error(&got, 400, "invalid_request", msg);
}

#[test]
fn a_key_file_has_the_shape_google_writes() {
    let emu = Emulator::start();
    let key = emu.add_service_account("shape@emulator-project.iam.gserviceaccount.com");
    let json = key.json();
    assert_eq!(json["type"], "service_account");
    assert_eq!(json["project_id"], "emulator-project");
    assert_eq!(json["universe_domain"], "googleapis.com");
    assert_eq!(json["token_uri"], json!(emu.token_uri()));
    let kid = key.private_key_id();
    assert!(kid.len() == 40 && kid.chars().all(|c| c.is_ascii_hexdigit()));
    let client_id = json["client_id"].as_str().expect("client_id");
    assert!(client_id.len() == 21 && client_id.chars().all(|c| c.is_ascii_digit()));
    let pem = key.private_key_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
    assert!(pem.lines().all(|line| line.len() <= 64));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("key.json");
    key.write_to(&path).expect("write key");
    let reread: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    assert_eq!(&reread, json);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn faults_are_consumed_in_order_and_still_counted() {
    let emu = Emulator::start();
    let key = emu.add_service_account("faulty@emulator-project.iam.gserviceaccount.com");
    let assertion = sign(&key, &good_claims(&emu, &key));
    emu.push_fault(Fault::Status(503));
    emu.push_fault(Fault::ErrorCode { status: 400, error: "temporarily_unavailable".into() });
    emu.push_fault(Fault::RateLimited { retry_after_secs: 7 });
    emu.push_fault(Fault::Reset);
    emu.push_fault(Fault::Slow(Duration::from_millis(300)));
    let client = reqwest::Client::new();
    let send = || {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        client.post(emu.token_uri()).form(&form).send()
    };
    let first = send().await.expect("503 arrives");
    assert_eq!(first.status(), 503);
    assert_eq!(first.text().await.expect("body"), "emulated failure");
    let second = send().await.expect("400 arrives");
    let body: Value = second.json().await.expect("Google-shaped error");
    assert_eq!(body["error"], "temporarily_unavailable");
    let third = send().await.expect("429 arrives");
    assert_eq!(third.status(), 429);
    assert_eq!(third.headers()["retry-after"], "7");
    assert!(send().await.is_err(), "Reset must drop the connection unanswered");
    let started = std::time::Instant::now();
    assert_eq!(send().await.expect("slow answer").status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(jwt_grant(&emu, &assertion).await.0, 200);
    assert_eq!((emu.calls("token"), emu.pending_faults()), (6, 0));
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 400, 429, 0, 200, 200]);
}

#[tokio::test]
async fn an_outage_answers_every_request_until_it_ends_and_queued_faults_wait() {
    let emu = Emulator::start();
    let key = emu.add_service_account("outage@emulator-project.iam.gserviceaccount.com");
    let assertion = sign(&key, &good_claims(&emu, &key));
    emu.push_fault(Fault::RateLimited { retry_after_secs: 1 });
    emu.set_outage(Some(503));
    let client = reqwest::Client::new();
    let form =
        [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
    let status =
        || async { client.post(emu.token_uri()).form(&form).send().await.expect("an answer").status() };
    for _ in 0..3 {
        assert_eq!(status().await, 503);
    }
    assert_eq!(emu.pending_faults(), 1, "the queued fault waits for the outage's end");
    emu.set_outage(None);
    assert_eq!(status().await, 429);
    assert_eq!(jwt_grant(&emu, &assertion).await.0, 200);
}

#[tokio::test]
async fn the_calls_endpoint_reports_every_counter() {
    let emu = Emulator::start();
    let _ = post_token(&emu, &[("grant_type", "password")]).await;
    let _ = crate::metadata_get(&emu, "/", true).await;
    let url = format!("{}/emulator/calls", emu.url());
    let response = reqwest::get(url).await.expect("calls endpoint");
    let counters: Value = response.json().await.expect("JSON counters");
    let expected = json!({
        "token": 1, "metadata_token": 0, "metadata_identity": 0, "metadata_other": 1,
        "sts": 0, "iam_access": 0, "iam_id": 0, "authorize": 0, "approve": 0, "resource_manager": 0,
    });
    assert_eq!(counters, expected);
}

#[tokio::test]
async fn recorded_headers_never_include_authorization() {
    let emu = Emulator::start();
    let response = reqwest::Client::new()
        .post(emu.token_uri())
        .header("Authorization", "Bearer secret")
        .header("X-Goog-Api-Client", "gl-rust/1")
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let recorded = emu.requests().pop().expect("recorded");
    assert!(!recorded.headers.contains_key("authorization"));
    assert_eq!(recorded.headers["x-goog-api-client"], "gl-rust/1");
}
