//! The JWT-bearer grant: what it accepts, and the exact errors for what it does not.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::support::emulator::{Emulator, GOOGLE_TOKEN_URI, ID_TOKEN_KID, KeyFile};
use crate::{CLOUD_PLATFORM, assert_error, good_claims, jwt_grant, now, post_token, sign};

const SA: &str = "runner@emulator-project.iam.gserviceaccount.com";
const BAD_SIGNATURE: &str = "Invalid JWT Signature.";
const BAD_TIMES: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
    reasonable timeframe. Check your iat and exp values in the JWT claim.";
const BAD_SCOPE: &str = "Invalid OAuth scope or ID token audience provided.";

fn setup() -> (Emulator, KeyFile) {
    let emu = Emulator::start();
    let key = emu.add_service_account(SA);
    (emu, key)
}

/// Grant with `good_claims` after `edit` changed them.
async fn grant_edited(emu: &Emulator, key: &KeyFile, edit: impl FnOnce(&mut Value)) -> (u16, Value) {
    let mut claims = good_claims(emu, key);
    edit(&mut claims);
    jwt_grant(emu, &sign(key, &claims)).await
}

#[tokio::test]
async fn a_valid_assertion_gets_an_access_token_recorded_as_issued() {
    let (emu, key) = setup();
    let (status, body) = grant_edited(&emu, &key, |_| {}).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("access_token");
    assert!(token.starts_with("ya29.emu-") && token.len() == "ya29.emu-".len() + 48);
    assert_eq!((body["expires_in"].as_u64(), &body["token_type"]), (Some(3600), &json!("Bearer")));
    let issued = emu.issued(token).expect("the emulator remembers its token");
    assert_eq!(issued.principal_email, SA);
    assert_eq!(issued.scopes, vec![CLOUD_PLATFORM.to_string()]);
    assert_eq!((issued.audience, issued.subject), (None, None));
    assert!(issued.expires_at > SystemTime::now() + Duration::from_secs(3500));
    assert_eq!(emu.issued("ya29.not-issued"), None);
}

#[tokio::test]
async fn the_assertion_is_recorded_with_its_kid_and_space_joined_scopes() {
    let (emu, key) = setup();
    let scopes = format!("{CLOUD_PLATFORM} openid");
    let (status, _) = grant_edited(&emu, &key, |c| c["scope"] = json!(scopes)).await;
    assert_eq!(status, 200);
    let recorded = emu.requests_to("token").pop().expect("recorded request");
    assert_eq!(recorded.jwt_header.expect("header")["kid"], key.private_key_id());
    assert_eq!(recorded.jwt_claims.expect("claims")["scope"], json!(scopes));
    assert_eq!(recorded.form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    assert_eq!(recorded.status, 200);
}

#[tokio::test]
async fn the_audience_python_always_sends_is_accepted() {
    let (emu, key) = setup();
    let (status, _) = grant_edited(&emu, &key, |c| c["aud"] = json!(GOOGLE_TOKEN_URI)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_has_an_invalid_signature() {
    let (emu, key) = setup();
    let stranger = Emulator::start().add_service_account(SA);
    let forged = crate::sign_with_kid(&stranger, key.private_key_id(), &good_claims(&emu, &key));
    assert_error(&jwt_grant(&emu, &forged).await, 400, "invalid_grant", BAD_SIGNATURE);
}

#[tokio::test]
async fn an_unknown_kid_has_an_invalid_signature() {
    let (emu, key) = setup();
    let assertion = crate::sign_with_kid(&key, "0123456789abcdef", &good_claims(&emu, &key));
    assert_error(&jwt_grant(&emu, &assertion).await, 400, "invalid_grant", BAD_SIGNATURE);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_alongside_the_first() {
    let (emu, first) = setup();
    let second = emu.add_service_account(SA);
    assert_ne!(first.private_key_id(), second.private_key_id());
    assert_eq!(first.json()["client_id"], second.json()["client_id"]);
    assert_eq!(grant_edited(&emu, &first, |_| {}).await.0, 200);
    assert_eq!(grant_edited(&emu, &second, |_| {}).await.0, 200);
}

#[tokio::test]
async fn an_unregistered_issuer_is_rejected() {
    let (emu, key) = setup();
    let got = grant_edited(&emu, &key, |c| c["iss"] = json!("nobody@example.com")).await;
    assert_error(&got, 400, "invalid_grant", "Invalid grant: account not found");
}

#[tokio::test]
async fn a_wrong_audience_is_rejected() {
    let (emu, key) = setup();
    let got = grant_edited(&emu, &key, |c| c["aud"] = json!("https://example.com/token")).await;
    let msg = format!("Invalid JWT: Failed audience check. The right audience is {}", emu.token_uri());
    assert_error(&got, 400, "invalid_grant", &msg);
}

#[tokio::test]
async fn an_assertion_living_longer_than_an_hour_is_rejected() {
    let (emu, key) = setup();
    let got = grant_edited(&emu, &key, |c| c["exp"] = json!(now() + 3601)).await;
    assert_error(&got, 400, "invalid_grant", BAD_TIMES);
}

#[tokio::test]
async fn an_expired_assertion_is_rejected() {
    let (emu, key) = setup();
    let got = grant_edited(&emu, &key, |c| {
        c["iat"] = json!(now() - 4000);
        c["exp"] = json!(now() - 400);
    })
    .await;
    assert_error(&got, 400, "invalid_grant", BAD_TIMES);
}

#[tokio::test]
async fn an_assertion_issued_in_the_future_is_rejected() {
    let (emu, key) = setup();
    let got = grant_edited(&emu, &key, |c| {
        c["iat"] = json!(now() + 600);
        c["exp"] = json!(now() + 1200);
    })
    .await;
    assert_error(&got, 400, "invalid_grant", BAD_TIMES);
}

#[tokio::test]
async fn an_assertion_without_scope_or_audience_is_an_invalid_scope() {
    let (emu, key) = setup();
    let got = grant_edited(&emu, &key, |c| drop(c.as_object_mut().map(|o| o.remove("scope")))).await;
    assert_error(&got, 400, "invalid_scope", BAD_SCOPE);
}

#[tokio::test]
async fn an_assertion_with_both_scope_and_target_audience_is_an_invalid_scope() {
    let (emu, key) = setup();
    let got = grant_edited(&emu, &key, |c| c["target_audience"] = json!("https://svc")).await;
    assert_error(&got, 400, "invalid_scope", BAD_SCOPE);
}

#[tokio::test]
async fn comma_joined_or_bare_word_scopes_are_an_invalid_scope() {
    let (emu, key) = setup();
    for scope in [format!("{CLOUD_PLATFORM},openid"), "cloud-platform".into(), String::new()] {
        let got = grant_edited(&emu, &key, |c| c["scope"] = json!(scope)).await;
        assert_error(&got, 400, "invalid_scope", BAD_SCOPE);
    }
}

#[tokio::test]
async fn an_unknown_claim_is_an_invalid_grant() {
    let (emu, key) = setup();
    let got = grant_edited(&emu, &key, |c| c["jti"] = json!("x")).await;
    assert_error(&got, 400, "invalid_grant", "Invalid JWT: Unexpected claim: jti");
}

#[tokio::test]
async fn an_unknown_form_field_is_an_invalid_request() {
    let (emu, key) = setup();
    let assertion = sign(&key, &good_claims(&emu, &key));
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let form = [("grant_type", grant), ("assertion", &assertion), ("scope", CLOUD_PLATFORM)];
    let got = post_token(&emu, &form).await;
    assert_error(&got, 400, "invalid_request", "Unknown parameter: scope");
}

#[tokio::test]
async fn an_unsupported_grant_type_is_named_in_the_error() {
    let emu = Emulator::start();
    let got = post_token(&emu, &[("grant_type", "password")]).await;
    assert_error(&got, 400, "unsupported_grant_type", "Invalid grant_type: password");
}

#[tokio::test]
async fn a_json_body_is_an_invalid_request() {
    let emu = Emulator::start();
    let response = reqwest::Client::new()
        .post(emu.token_uri())
        .json(&json!({ "grant_type": "refresh_token" }))
        .send()
        .await
        .expect("request");
    let body: Value = response.json().await.expect("JSON error");
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn a_subject_needs_domain_wide_delegation() {
    let (emu, key) = setup();
    let delegated = |c: &mut Value| c["sub"] = json!("alice@example.com");
    let got = grant_edited(&emu, &key, delegated).await;
    let msg = "Client is unauthorized to retrieve access tokens using this method, or client \
        not authorized for any of the scopes requested.";
    assert_error(&got, 401, "unauthorized_client", msg);
    emu.allow_domain_wide_delegation(SA);
    let (status, body) = grant_edited(&emu, &key, delegated).await;
    assert_eq!(status, 200, "{body}");
    let issued = emu.issued(body["access_token"].as_str().expect("token")).expect("issued");
    assert_eq!(issued.subject.as_deref(), Some("alice@example.com"));
}

#[tokio::test]
async fn a_target_audience_assertion_gets_an_id_token_that_verifies() {
    let (emu, key) = setup();
    emu.set_token_lifetime(600);
    let (status, body) = grant_edited(&emu, &key, |c| {
        c.as_object_mut().map(|o| o.remove("scope"));
        c["target_audience"] = json!("https://svc.example.com");
    })
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "only id_token: {body}");
    let jwt = body["id_token"].as_str().expect("id_token");
    let header = jsonwebtoken::decode_header(jwt).expect("header");
    assert_eq!(header.kid.as_deref(), Some(ID_TOKEN_KID));
    let claims = emu.verify_id_token(jwt).expect("verifies");
    assert_eq!(claims["aud"], "https://svc.example.com");
    assert_eq!((&claims["email"], &claims["azp"]), (&json!(SA), &json!(SA)));
    assert_eq!(claims["sub"], key.json()["client_id"]);
    let lifetime = claims["exp"].as_u64().zip(claims["iat"].as_u64()).map(|(e, i)| e - i);
    assert_eq!(lifetime, Some(600));
    let issued = emu.issued(jwt).expect("ID token recorded");
    assert_eq!(issued.audience.as_deref(), Some("https://svc.example.com"));
}

#[tokio::test]
async fn a_token_not_signed_by_the_emulator_does_not_verify() {
    let (emu, key) = setup();
    let foreign = sign(&key, &good_claims(&emu, &key));
    assert!(emu.verify_id_token(&foreign).is_err());
    assert!(emu.verify_id_token("not.a.jwt").is_err());
}
