//! `grant_type=authorization_code`: redeeming a consent page's code with
//! the PKCE verifier, and what the refresh token it yields can do.

use serde_json::Value;

use crate::authorization::{Flow, REDIRECT, SCOPES};
use crate::{assert_error, post_token};

const ALICE: &str = "alice@example.com";

/// The exchange a correct client sends for `code`.
fn exchange_form<'a>(flow: &'a Flow, code: &'a str, secret: &'a str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "authorization_code".into()),
        ("code", code.into()),
        ("client_id", flow.field("client_id")),
        ("client_secret", secret.into()),
        ("redirect_uri", REDIRECT.into()),
        ("code_verifier", flow.verifier.clone()),
    ]
}

async fn redeem(flow: &Flow, form: &[(&'static str, String)]) -> (u16, Value) {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post_token(&flow.emu, &form).await
}

fn set(form: &mut [(&'static str, String)], name: &str, value: &str) {
    form.iter_mut().filter(|(k, _)| *k == name).for_each(|(_, v)| *v = value.to_string());
}

#[tokio::test]
async fn a_code_yields_tokens_for_the_consenting_user_and_a_working_refresh_token() {
    let flow = Flow::new("installed");
    flow.emu.set_consenting_user(ALICE);
    let code = flow.code().await;
    let (status, body) = redeem(&flow, &exchange_form(&flow, &code, &flow.field("client_secret"))).await;
    assert_eq!(status, 200, "{body}");
    let mut fields: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["access_token", "expires_in", "id_token", "refresh_token", "scope", "token_type"]);
    assert_eq!((body["token_type"].as_str(), body["scope"].as_str()), (Some("Bearer"), Some(SCOPES)));
    let issued = flow.emu.issued(body["access_token"].as_str().expect("token")).expect("issued");
    assert_eq!(issued.principal_email, ALICE);
    let claims = flow.emu.verify_id_token(body["id_token"].as_str().expect("id_token")).expect("verifies");
    assert_eq!(
        (claims["email"].as_str(), claims["aud"].as_str()),
        (Some(ALICE), Some(&*flow.field("client_id")))
    );

    let refresh = [
        ("grant_type", "refresh_token".to_string()),
        ("client_id", flow.field("client_id")),
        ("client_secret", flow.field("client_secret")),
        ("refresh_token", body["refresh_token"].as_str().expect("refresh_token").to_string()),
    ];
    let (status, refreshed) = redeem(&flow, &refresh).await;
    assert_eq!(status, 200, "{refreshed}");
    let issued = flow.emu.issued(refreshed["access_token"].as_str().expect("token")).expect("issued");
    assert_eq!((issued.principal_email.as_str(), issued.scopes.join(" ")), (ALICE, SCOPES.to_string()));
    let again =
        flow.emu.verify_id_token(refreshed["id_token"].as_str().expect("id_token")).expect("verifies");
    assert_eq!(again["sub"], claims["sub"], "one user keeps one sub");
}

#[tokio::test]
async fn a_code_is_single_use() {
    let flow = Flow::new("installed");
    let code = flow.code().await;
    let form = exchange_form(&flow, &code, &flow.field("client_secret"));
    assert_eq!(redeem(&flow, &form).await.0, 200);
    assert_error(&redeem(&flow, &form).await, 400, "invalid_grant", "Bad Request");
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_refused_and_burns_the_code() {
    let flow = Flow::new("installed");
    let code = flow.code().await;
    let mut form = exchange_form(&flow, &code, &flow.field("client_secret"));
    let right = flow.verifier.clone();
    set(&mut form, "code_verifier", &format!("{}x", &right[1..]));
    assert_error(&redeem(&flow, &form).await, 400, "invalid_grant", "Invalid code verifier.");
    set(&mut form, "code_verifier", &right);
    assert_error(&redeem(&flow, &form).await, 400, "invalid_grant", "Bad Request");

    let code = flow.code().await;
    let mut form = exchange_form(&flow, &code, &flow.field("client_secret"));
    form.retain(|(k, _)| *k != "code_verifier");
    assert_error(&redeem(&flow, &form).await, 400, "invalid_grant", "Missing code verifier.");
}

#[tokio::test]
async fn the_redirect_uri_must_be_the_one_the_code_was_issued_for() {
    let flow = Flow::new("installed");
    let code = flow.code().await;
    let mut form = exchange_form(&flow, &code, &flow.field("client_secret"));
    set(&mut form, "redirect_uri", "http://127.0.0.1:43124/");
    assert_error(&redeem(&flow, &form).await, 400, "redirect_uri_mismatch", "Bad Request");
    form.retain(|(k, _)| *k != "redirect_uri");
    let got = redeem(&flow, &form).await;
    assert_error(&got, 400, "invalid_request", "Missing required parameter: redirect_uri");
}

#[tokio::test]
async fn the_client_must_authenticate_and_own_the_code() {
    let flow = Flow::new("installed");
    let code = flow.code().await;
    let form = exchange_form(&flow, &code, "GOCSPX-wrong");
    assert_error(&redeem(&flow, &form).await, 401, "invalid_client", "Unauthorized");
    let other = flow.emu.add_oauth_client("installed")["installed"].clone();
    let mut form = exchange_form(&flow, &code, other["client_secret"].as_str().expect("secret"));
    set(&mut form, "client_id", other["client_id"].as_str().expect("id"));
    assert_error(&redeem(&flow, &form).await, 400, "invalid_grant", "Bad Request");
    let form = exchange_form(&flow, &code, &flow.field("client_secret"));
    assert_eq!(redeem(&flow, &form).await.0, 200, "another client's attempt did not burn the code");
}

#[tokio::test]
async fn unknown_and_expired_codes_are_bad_grants() {
    let flow = Flow::new("web");
    let secret = flow.field("client_secret");
    let form = exchange_form(&flow, "4/0Anever-issued", &secret);
    assert_error(&redeem(&flow, &form).await, 400, "invalid_grant", "Bad Request");
    let code = flow.code().await;
    flow.emu.expire_authorization_codes();
    let form = exchange_form(&flow, &code, &secret);
    assert_error(&redeem(&flow, &form).await, 400, "invalid_grant", "Bad Request");
}

#[tokio::test]
async fn unknown_parameters_are_refused() {
    let flow = Flow::new("installed");
    let code = flow.code().await;
    let mut form = exchange_form(&flow, &code, &flow.field("client_secret"));
    form.push(("scope", SCOPES.into()));
    assert_error(&redeem(&flow, &form).await, 400, "invalid_request", "Unknown parameter: scope");
}

#[tokio::test]
async fn online_access_gets_no_refresh_token_and_no_openid_no_id_token() {
    let flow = Flow::new("installed");
    let mut params = flow.params();
    params.iter_mut().filter(|(k, _)| *k == "access_type").for_each(|(_, v)| *v = "online".into());
    params
        .iter_mut()
        .filter(|(k, _)| *k == "scope")
        .for_each(|(_, v)| *v = "https://www.googleapis.com/auth/cloud-platform".into());
    let code = flow.code_for(&params).await;
    let (status, body) = redeem(&flow, &exchange_form(&flow, &code, &flow.field("client_secret"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none(), "{body}");
}
