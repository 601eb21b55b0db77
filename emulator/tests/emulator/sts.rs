//! STS token exchange: a valid OIDC subject gets a federated token, and
//! every way a subject or request can be wrong gets STS's own error.

use serde_json::json;

use crate::support::emulator::{Emulator, Fault, OidcIssuer, sts_principal};
use crate::{CLOUD_PLATFORM, assert_error, now, post_sts};

const ISSUER: &str = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c";
const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/k8s";
const HTTPS_PROVIDER: &str = "https://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/k8s";
const SUB: &str = "system:serviceaccount:default:app";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

fn setup() -> (Emulator, OidcIssuer) {
    let emu = Emulator::start();
    let issuer = emu.add_oidc_issuer(ISSUER);
    emu.add_workload_provider(PROVIDER, &issuer);
    (emu, issuer)
}

/// The form Go and our binary send, for `subject`.
fn form(subject: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".into()),
        ("audience", PROVIDER.into()),
        ("scope", CLOUD_PLATFORM.into()),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token".into()),
        ("subject_token", subject.into()),
        ("subject_token_type", JWT_TYPE.into()),
    ]
}

async fn exchange(emu: &Emulator, form: &[(&'static str, String)]) -> (u16, serde_json::Value) {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post_sts(emu, &pairs).await
}

/// Exchanges `subject` with an otherwise valid form after `edit`.
async fn exchange_edited(
    emu: &Emulator,
    subject: &str,
    edit: impl FnOnce(&mut Vec<(&'static str, String)>),
) -> (u16, serde_json::Value) {
    let mut form = form(subject);
    edit(&mut form);
    exchange(emu, &form).await
}

fn set(form: &mut [(&'static str, String)], name: &str, value: &str) {
    form.iter_mut().filter(|(k, _)| *k == name).for_each(|(_, v)| *v = value.to_string());
}

#[tokio::test]
async fn a_valid_subject_gets_a_federated_token_for_the_pool_principal() {
    let (emu, issuer) = setup();
    let (status, body) = exchange(&emu, &form(&issuer.mint(SUB, PROVIDER, 3600))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!(body["token_type"], json!("Bearer"));
    // Capped by the subject's own expiry, which a second may already have eaten.
    let expires_in = body["expires_in"].as_u64().expect("expires_in");
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");
    let token = body["access_token"].as_str().expect("access_token");
    assert!(token.starts_with("ya29.sts-"), "{token}");
    let issued = emu.issued(token).expect("recorded as issued");
    assert_eq!(issued.principal_email, sts_principal(PROVIDER, SUB));
    let principal = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/subject/system:serviceaccount:default:app";
    assert_eq!(issued.principal_email, principal);
    assert_eq!(issued.scopes, [CLOUD_PLATFORM]);
    let recorded = emu.requests_to("sts").pop().expect("recorded");
    assert_eq!(recorded.jwt_claims.expect("subject decoded")["sub"], SUB);
    assert_eq!(recorded.jwt_header.expect("header")["kid"], issuer.kid());
    assert_eq!(emu.calls("sts"), 1);
}

#[tokio::test]
async fn the_https_form_of_the_provider_is_a_default_audience_and_id_token_type_works() {
    let (emu, issuer) = setup();
    let subject = issuer.mint(SUB, HTTPS_PROVIDER, 600);
    let id_token_type = "urn:ietf:params:oauth:token-type:id_token";
    let (status, body) =
        exchange_edited(&emu, &subject, |f| set(f, "subject_token_type", id_token_type)).await;
    assert_eq!(status, 200, "{body}");
    // STS never outlives the subject token.
    assert!(body["expires_in"].as_u64().expect("expires_in") <= 600);
}

#[tokio::test]
async fn a_subject_signed_by_another_key_under_the_right_kid_fails_the_signature_check() {
    let (emu, issuer) = setup();
    let got = exchange(&emu, &form(&issuer.mint_with_foreign_key(SUB, PROVIDER, 3600))).await;
    assert_error(&got, 400, "invalid_grant", "Unable to verify the ID Token signature.");
}

#[tokio::test]
async fn a_subject_from_an_issuer_the_provider_does_not_trust_is_refused() {
    let (emu, _) = setup();
    let other = emu.add_oidc_issuer("https://other.example.com");
    let got = exchange(&emu, &form(&other.mint(SUB, PROVIDER, 3600))).await;
    let msg = "The issuer in ID Token https://other.example.com does not match the expected one in config";
    assert_error(&got, 400, "invalid_grant", msg);
}

#[tokio::test]
async fn a_subject_with_an_unknown_kid_cannot_be_verified() {
    let (emu, issuer) = setup();
    let unregistered = Emulator::start().add_oidc_issuer(ISSUER);
    let got = exchange(&emu, &form(&unregistered.mint(SUB, PROVIDER, 3600))).await;
    assert_error(&got, 400, "invalid_grant", "Error connecting to the given credential's issuer.");
    // The registered key still works.
    assert_eq!(exchange(&emu, &form(&issuer.mint(SUB, PROVIDER, 3600))).await.0, 200);
}

#[tokio::test]
async fn a_subject_for_another_audience_is_refused() {
    let (emu, issuer) = setup();
    let got = exchange(&emu, &form(&issuer.mint(SUB, "sts.googleapis.com", 3600))).await;
    let msg = "The audience in ID Token [sts.googleapis.com] does not match the expected audience.";
    assert_error(&got, 400, "invalid_grant", msg);
    emu.set_allowed_audiences(PROVIDER, &["sts.googleapis.com"]);
    assert_eq!(exchange(&emu, &form(&issuer.mint(SUB, "sts.googleapis.com", 3600))).await.0, 200);
}

#[tokio::test]
async fn expired_and_overlong_subjects_are_refused() {
    let (emu, issuer) = setup();
    let claims =
        |iat: u64, exp: u64| json!({"iss": ISSUER, "sub": SUB, "aud": PROVIDER, "iat": iat, "exp": exp});
    // One reading of the clock: the message names the iat, which must not straddle a second.
    let t = now();
    let expired = issuer.mint_claims(&claims(t - 7200, t - 3600));
    let got = exchange(&emu, &form(&expired)).await;
    let msg = format!("ID Token issued at {} is stale to sign-in.", t - 7200);
    assert_error(&got, 400, "invalid_grant", &msg);
    let overlong = issuer.mint_claims(&claims(now(), now() + 48 * 3600 + 1));
    let got = exchange(&emu, &form(&overlong)).await;
    let msg = "The lifetime of the ID Token (exp - iat) must not exceed 48 hours.";
    assert_error(&got, 400, "invalid_grant", msg);
    assert_eq!(exchange(&emu, &form(&issuer.mint(SUB, PROVIDER, 48 * 3600))).await.0, 200);
}

#[tokio::test]
async fn an_unknown_provider_audience_is_an_invalid_request() {
    let (emu, issuer) = setup();
    let subject = issuer.mint(SUB, PROVIDER, 3600);
    let got = exchange_edited(&emu, &subject, |f| set(f, "audience", &PROVIDER.replace("k8s", "gh"))).await;
    let msg = "Invalid value for \"audience\". This value should be the full resource name of the Identity \
        Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of \
        possible formats.";
    assert_error(&got, 400, "invalid_request", msg);
}

#[tokio::test]
async fn scope_is_required_and_unknown_fields_are_refused() {
    let (emu, issuer) = setup();
    let subject = issuer.mint(SUB, PROVIDER, 3600);
    let got = exchange_edited(&emu, &subject, |f| f.retain(|(k, _)| *k != "scope")).await;
    assert_error(&got, 400, "invalid_request", "Scope(s) must be provided.");
    let commas = format!("{CLOUD_PLATFORM},https://www.googleapis.com/auth/iam");
    let got = exchange_edited(&emu, &subject, |f| set(f, "scope", &commas)).await;
    assert_error(&got, 400, "invalid_scope", "Invalid scope.");
    let got = exchange_edited(&emu, &subject, |f| f.push(("client_id", "x".into()))).await;
    assert_error(&got, 400, "invalid_request", "Unknown parameter: client_id");
    let got = exchange_edited(&emu, &subject, |f| set(f, "subject_token_type", "urn:x")).await;
    assert_error(&got, 400, "invalid_request", "Invalid value for \"subject_token_type\".");
    let got = exchange_edited(&emu, &subject, |f| set(f, "grant_type", "refresh_token")).await;
    assert_error(&got, 400, "unsupported_grant_type", "Invalid value for \"grant_type\".");
}

#[tokio::test]
async fn options_are_accepted_encoded_once_or_twice_but_must_be_known_json() {
    let (emu, issuer) = setup();
    let subject = issuer.mint(SUB, PROVIDER, 3600);
    let once = r#"{"userProject": "123"}"#;
    let twice = "%7B%22userProject%22%3A%20%22123%22%7D";
    for options in [once, twice] {
        let got = exchange_edited(&emu, &subject, |f| f.push(("options", options.into()))).await;
        assert_eq!(got.0, 200, "{options}: {got:?}");
    }
    for options in ["{", r#"{"nope": 1}"#] {
        let got = exchange_edited(&emu, &subject, |f| f.push(("options", options.into()))).await;
        assert_error(&got, 400, "invalid_request", "Invalid value for \"options\".");
    }
}

#[tokio::test]
async fn basic_client_auth_must_name_a_registered_client() {
    let (emu, issuer) = setup();
    emu.add_sts_client("client-1", "s3cret");
    let subject = issuer.mint(SUB, PROVIDER, 3600);
    let send = |id: &str, secret: &str| {
        let pairs: Vec<(&str, String)> = form(&subject);
        reqwest::Client::new().post(emu.sts_url()).basic_auth(id, Some(secret)).form(&pairs).send()
    };
    assert_eq!(send("client-1", "s3cret").await.expect("sent").status(), 200);
    let wrong = send("client-1", "nope").await.expect("sent");
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_client");
    let recorded = emu.requests_to("sts");
    assert!(recorded.iter().all(|r| !r.headers.contains_key("authorization")));
}

#[tokio::test]
async fn expires_in_can_be_left_out_like_google_does_for_google_subjects() {
    let (emu, issuer) = setup();
    emu.set_sts_omit_expires_in(true);
    let (status, body) = exchange(&emu, &form(&issuer.mint(SUB, PROVIDER, 3600))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("expires_in").is_none(), "{body}");
    assert!(emu.issued(body["access_token"].as_str().expect("token")).is_some());
}

#[tokio::test]
async fn sts_faults_have_their_own_queue() {
    let (emu, issuer) = setup();
    emu.push_fault_to("sts", Fault::ErrorCode { status: 503, error: "temporarily_unavailable".into() });
    emu.push_fault_to("sts", Fault::Status(500));
    emu.push_fault(Fault::Status(502));
    assert_eq!(emu.pending_faults(), 3);
    let subject = issuer.mint(SUB, PROVIDER, 3600);
    assert_error(&exchange(&emu, &form(&subject)).await, 503, "temporarily_unavailable", "emulated failure");
    let plain = reqwest::Client::new().post(emu.sts_url()).form(&form(&subject)).send().await.expect("sent");
    assert_eq!(
        (plain.status().as_u16(), plain.text().await.expect("body")),
        (500, "emulated failure".into())
    );
    // The shared queue is the token endpoint's, never STS's.
    assert_eq!(exchange(&emu, &form(&subject)).await.0, 200);
    let token = reqwest::Client::new().post(emu.token_uri()).form(&[("grant_type", "x")]).send().await;
    assert_eq!(token.expect("sent").status(), 502);
    assert_eq!((emu.calls("sts"), emu.pending_faults()), (3, 0));
}
