//! IAM Credentials: who may mint tokens for whom, and the exact Google API
//! errors for everything else.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::support::emulator::{Emulator, Fault, KeyFile, sts_principal};
use crate::{CLOUD_PLATFORM, access_token_for, assert_api_error, post_iam, post_sts};

const CALLER: &str = "caller@emulator-project.iam.gserviceaccount.com";
const TARGET: &str = "target@emulator-project.iam.gserviceaccount.com";
const HOP: &str = "hop@emulator-project.iam.gserviceaccount.com";
const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 access \
    token, login cookie or other valid authentication credential.";
const DENIED: &str =
    "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).";

/// An emulator with a caller granted Token Creator on a target, and the
/// caller's cloud-platform token.
async fn setup() -> (Emulator, KeyFile, String) {
    let emu = Emulator::start();
    let key = emu.add_service_account(CALLER);
    emu.add_service_account(TARGET);
    emu.grant_token_creator(TARGET, CALLER);
    let token = access_token_for(&emu, &key, CLOUD_PLATFORM).await;
    (emu, key, token)
}

async fn access(emu: &Emulator, bearer: &str, body: Value) -> (u16, Value) {
    post_iam(&emu.iam_url(TARGET, "generateAccessToken"), Some(bearer), &body).await
}

fn expire_time(body: &Value) -> SystemTime {
    let text = body["expireTime"].as_str().expect("expireTime");
    let at: jiff::Timestamp = text.parse().expect("RFC 3339");
    SystemTime::from(at)
}

#[tokio::test]
async fn a_token_creator_gets_an_access_token_for_the_target() {
    let (emu, _, token) = setup().await;
    let body = json!({"scope": [CLOUD_PLATFORM], "lifetime": "1200s", "delegates": null});
    let (status, answer) = access(&emu, &token, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let minted = answer["accessToken"].as_str().expect("accessToken");
    assert!(minted.starts_with("ya29.iam-"), "{minted}");
    let text = answer["expireTime"].as_str().expect("expireTime");
    assert!(text.len() == 20 && text.ends_with('Z'), "whole seconds by default: {text}");
    let left = expire_time(&answer).duration_since(SystemTime::now()).expect("in the future");
    assert!(left > Duration::from_secs(1190) && left <= Duration::from_secs(1200), "{left:?}");
    let issued = emu.issued(minted).expect("recorded as issued");
    assert_eq!((issued.principal_email.as_str(), issued.scopes), (TARGET, vec![CLOUD_PLATFORM.to_string()]));
    let recorded = emu.requests_to("iam_access").pop().expect("recorded");
    assert_eq!(recorded.json, Some(body));
    assert!(!recorded.headers.contains_key("authorization"));
    // An IAM token can itself call IAM (chained impersonation).
    emu.grant_token_creator(TARGET, TARGET);
    assert_eq!(access(&emu, minted, json!({"scope": [CLOUD_PLATFORM]})).await.0, 200);
}

#[tokio::test]
async fn a_bearer_the_emulator_never_issued_or_that_expired_is_unauthenticated() {
    let (emu, key, _) = setup().await;
    let body = json!({"scope": [CLOUD_PLATFORM]});
    let got = access(&emu, "ya29.not-ours", body.clone()).await;
    assert_api_error(&got, 401, "UNAUTHENTICATED", UNAUTHENTICATED);
    let got = post_iam(&emu.iam_url(TARGET, "generateAccessToken"), None, &body).await;
    assert_api_error(&got, 401, "UNAUTHENTICATED", UNAUTHENTICATED);
    emu.set_token_lifetime(0);
    let expired = access_token_for(&emu, &key, CLOUD_PLATFORM).await;
    assert_api_error(&access(&emu, &expired, body).await, 401, "UNAUTHENTICATED", UNAUTHENTICATED);
}

#[tokio::test]
async fn a_caller_without_the_permission_or_the_scope_is_denied() {
    let (emu, key, _) = setup().await;
    let stranger = emu.add_service_account(HOP);
    let token = access_token_for(&emu, &stranger, CLOUD_PLATFORM).await;
    let body = json!({"scope": [CLOUD_PLATFORM]});
    assert_api_error(&access(&emu, &token, body.clone()).await, 403, "PERMISSION_DENIED", DENIED);
    let narrow = access_token_for(&emu, &key, "https://www.googleapis.com/auth/userinfo.email").await;
    let msg = "Request had insufficient authentication scopes.";
    assert_api_error(&access(&emu, &narrow, body.clone()).await, 403, "PERMISSION_DENIED", msg);
    let iam_scope = access_token_for(&emu, &key, "https://www.googleapis.com/auth/iam").await;
    assert_eq!(access(&emu, &iam_scope, body).await.0, 200);
}

#[tokio::test]
async fn delegates_must_form_a_granted_chain_in_the_resource_form() {
    let (emu, key, _) = setup().await;
    emu.add_service_account(HOP);
    let outsider = emu.add_service_account("outsider@emulator-project.iam.gserviceaccount.com");
    let token = access_token_for(&emu, &outsider, CLOUD_PLATFORM).await;
    let hop = format!("projects/-/serviceAccounts/{HOP}");
    let body = json!({"scope": [CLOUD_PLATFORM], "delegates": [hop]});
    // outsider -> hop -> target: neither link granted yet.
    assert_api_error(&access(&emu, &token, body.clone()).await, 403, "PERMISSION_DENIED", DENIED);
    emu.grant_token_creator(TARGET, HOP);
    assert_api_error(&access(&emu, &token, body.clone()).await, 403, "PERMISSION_DENIED", DENIED);
    emu.grant_token_creator(HOP, outsider.email());
    let (status, answer) = access(&emu, &token, body).await;
    assert_eq!(status, 200, "{answer}");
    let issued = emu.issued(answer["accessToken"].as_str().expect("token")).expect("issued");
    assert_eq!(issued.principal_email, TARGET);
    let bare = json!({"scope": [CLOUD_PLATFORM], "delegates": [HOP]});
    let got = access(&emu, &access_token_for(&emu, &key, CLOUD_PLATFORM).await, bare).await;
    let msg = format!(
        "Invalid form of delegates: \"{HOP}\"; expected projects/-/serviceAccounts/{{ACCOUNT_EMAIL_OR_UNIQUEID}}"
    );
    assert_api_error(&got, 400, "INVALID_ARGUMENT", &msg);
}

#[tokio::test]
async fn lifetimes_over_one_hour_need_the_org_policy_and_never_exceed_twelve() {
    let (emu, _, token) = setup().await;
    let with = |lifetime: &str| json!({"scope": [CLOUD_PLATFORM], "lifetime": lifetime});
    let over_one = "can not have lifetimes of more than 1 hour. Use the Org Policy Constraint \
        constraints/iam.allowServiceAccountCredentialLifetimeExtension to allow up to 12 hours.";
    assert_api_error(&access(&emu, &token, with("3601s")).await, 400, "INVALID_ARGUMENT", over_one);
    assert_eq!(access(&emu, &token, with("3600s")).await.0, 200);
    let zero = "Lifetime of access token must be larger then zero.";
    assert_api_error(&access(&emu, &token, with("0s")).await, 400, "INVALID_ARGUMENT", zero);
    let malformed = "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), \"3600\"";
    assert_api_error(&access(&emu, &token, with("3600")).await, 400, "INVALID_ARGUMENT", malformed);
    emu.allow_extended_lifetime(TARGET);
    let (status, answer) = access(&emu, &token, with("43200s")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(expire_time(&answer) > SystemTime::now() + Duration::from_secs(43_000));
    let over_twelve = "can not have lifetimes of more than 12 hours.";
    assert_api_error(&access(&emu, &token, with("43201s")).await, 400, "INVALID_ARGUMENT", over_twelve);
}

#[tokio::test]
async fn expire_time_can_carry_microseconds() {
    let (emu, _, token) = setup().await;
    emu.set_iam_fractional_expire_time(true);
    let (status, answer) = access(&emu, &token, json!({"scope": [CLOUD_PLATFORM]})).await;
    assert_eq!(status, 200, "{answer}");
    let text = answer["expireTime"].as_str().expect("expireTime");
    let fraction = text.strip_suffix('Z').and_then(|t| t.rsplit_once('.')).map(|(_, f)| f);
    assert!(fraction.is_some_and(|f| f.len() == 6 && f.bytes().all(|b| b.is_ascii_digit())), "{text}");
    assert!(expire_time(&answer) > SystemTime::now() + Duration::from_secs(3590));
}

#[tokio::test]
async fn malformed_requests_are_invalid_arguments_and_unknown_targets_not_found() {
    let (emu, _, token) = setup().await;
    let url = emu.iam_url(TARGET, "generateAccessToken").replace("/projects/-/", "/projects/my-project/");
    let got = post_iam(&url, Some(&token), &json!({"scope": [CLOUD_PLATFORM]})).await;
    let msg = "Invalid resource name: projects/my-project; the project must be the wildcard \"-\".";
    assert_api_error(&got, 400, "INVALID_ARGUMENT", msg);
    let got = access(&emu, &token, json!({"scope": [CLOUD_PLATFORM], "scopes": []})).await;
    let msg = "Invalid JSON payload received. Unknown name \"scopes\": Cannot find field.";
    assert_api_error(&got, 400, "INVALID_ARGUMENT", msg);
    let got = access(&emu, &token, json!({"scope": []})).await;
    assert_api_error(&got, 400, "INVALID_ARGUMENT", "At least one scope must be specified.");
    let ghost = "ghost@emulator-project.iam.gserviceaccount.com";
    let url = emu.iam_url(ghost, "generateAccessToken");
    let got = post_iam(&url, Some(&token), &json!({"scope": [CLOUD_PLATFORM]})).await;
    let msg = format!("Not found; Gaia id not found for email {ghost}");
    assert_api_error(&got, 404, "NOT_FOUND", &msg);
}

#[tokio::test]
async fn id_tokens_carry_the_email_only_when_asked_even_as_a_string() {
    let (emu, _, token) = setup().await;
    let url = emu.iam_url(TARGET, "generateIdToken");
    for (include, email) in
        [(json!(true), true), (json!("true"), true), (json!(false), false), (Value::Null, false)]
    {
        let body = json!({"audience": "https://svc.example.com", "includeEmail": include, "delegates": null});
        let (status, answer) = post_iam(&url, Some(&token), &body).await;
        assert_eq!(status, 200, "{answer}");
        let jwt = answer["token"].as_str().expect("token");
        let claims = emu.verify_id_token(jwt).expect("signed by the emulator");
        assert_eq!(claims["aud"], "https://svc.example.com");
        assert_eq!(claims["sub"], claims["azp"]);
        assert_eq!(claims.get("email").is_some(), email, "{include}: {claims}");
        assert_eq!(emu.issued(jwt).expect("issued").principal_email, TARGET);
    }
    let got = post_iam(&url, Some(&token), &json!({"audience": "x", "includeEmail": "yes"})).await;
    let msg = "Invalid value at 'include_email' (TYPE_BOOL), \"yes\"";
    assert_api_error(&got, 400, "INVALID_ARGUMENT", msg);
    emu.add_service_account(HOP);
    let got = post_iam(&emu.iam_url(HOP, "generateIdToken"), Some(&token), &json!({"audience": "x"})).await;
    let msg = "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).";
    assert_api_error(&got, 403, "PERMISSION_DENIED", msg);
}

#[tokio::test]
async fn a_federated_principal_with_the_grant_can_impersonate() {
    let emu = Emulator::start();
    let provider = "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/p/providers/k";
    let issuer = emu.add_oidc_issuer("https://issuer.example.com");
    emu.add_workload_provider(provider, &issuer);
    emu.add_service_account(TARGET);
    emu.grant_token_creator(TARGET, &sts_principal(provider, "workload"));
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("audience", provider),
        ("scope", CLOUD_PLATFORM),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("subject_token", &issuer.mint("workload", provider, 3600)),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
    ];
    let (status, federated) = post_sts(&emu, &form).await;
    assert_eq!(status, 200, "{federated}");
    let (status, answer) =
        access(&emu, federated["access_token"].as_str().expect("token"), json!({"scope": [CLOUD_PLATFORM]}))
            .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn iam_faults_use_the_api_envelope_and_their_own_queues() {
    let (emu, _, token) = setup().await;
    emu.push_fault_to("iam_access", Fault::ErrorCode { status: 503, error: "UNAVAILABLE".into() });
    emu.push_fault_to("iam_id", Fault::RateLimited { retry_after_secs: 3 });
    emu.push_fault_to("iam_access", Fault::Reset);
    let body = json!({"scope": [CLOUD_PLATFORM]});
    assert_api_error(&access(&emu, &token, body.clone()).await, 503, "UNAVAILABLE", "emulated failure");
    let url = emu.iam_url(TARGET, "generateIdToken");
    let limited =
        reqwest::Client::new().post(&url).bearer_auth(&token).json(&json!({"audience": "a"})).send();
    let limited = limited.await.expect("429 arrives");
    assert_eq!((limited.status().as_u16(), limited.headers()["retry-after"].to_str().ok()), (429, Some("3")));
    let body_json: Value = limited.json().await.expect("envelope");
    assert_eq!(body_json["error"]["status"], "RESOURCE_EXHAUSTED");
    let reset = reqwest::Client::new().post(emu.iam_url(TARGET, "generateAccessToken")).json(&body).send();
    assert!(reset.await.is_err(), "Reset drops the connection");
    assert_eq!(emu.pending_faults(), 0);
    assert_eq!(access(&emu, &token, body).await.0, 200);
    assert_eq!((emu.calls("iam_access"), emu.calls("iam_id")), (3, 1));
}
