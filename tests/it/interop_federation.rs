//! Workload identity federation and impersonation, cross-checked: real Python
//! google-auth and our binary read the same `external_account` and
//! `impersonated_service_account` files against the emulator's STS and IAM
//! Credentials, and must end up with tokens for the same principal.

use crate::support;

use serde_json::{Value, json};
use support::{
    agent::Sandbox,
    clients::python,
    emulator::{Emulator, OidcIssuer, sts_principal, write_private_json},
};

const ISSUER: &str =
    "https://container.googleapis.com/v1/projects/emulator-project/locations/us-central1/clusters/c";
const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/k8s";
const SUB: &str = "system:serviceaccount:default:app";
const TARGET: &str = "target@emulator-project.iam.gserviceaccount.com";
const SOURCE: &str = "source@emulator-project.iam.gserviceaccount.com";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const AUDIENCE: &str = "https://svc.example.com";

/// Loads a credentials file and prints a fresh access token.
/// `external_account` files go through `identity_pool.Credentials.from_file`:
/// `load_credentials_from_file` would also ask Cloud Resource Manager for the
/// project id, which no emulator serves. `impersonated_service_account`
/// files ignore their URL's host in google-auth (it always calls
/// iamcredentials.googleapis.com), so the optional second argument points its
/// IAM endpoint at the emulator.
const PYTHON_ACCESS: &str = r#"
import json, sys
import google.auth
import google.auth.iam as iam
import google.auth.transport.requests as transport
from google.auth import identity_pool
scopes = ["https://www.googleapis.com/auth/cloud-platform"]
if len(sys.argv) > 2:
    iam._IAM_ENDPOINT = sys.argv[2] + "/v1/projects/-/serviceAccounts/{}:generateAccessToken"
if json.load(open(sys.argv[1]))["type"] == "external_account":
    creds = identity_pool.Credentials.from_file(sys.argv[1], scopes=scopes)
else:
    creds, _ = google.auth.load_credentials_from_file(sys.argv[1], scopes=scopes)
creds.refresh(transport.Request())
print(creds.token)
"#;

/// An ID token with the email claim through `impersonated_credentials`.
const PYTHON_IMPERSONATED_ID: &str = r#"
import sys
import google.auth
import google.auth.iam as iam
import google.auth.transport.requests as transport
from google.auth import impersonated_credentials
iam._IAM_ENDPOINT = sys.argv[2] + "/v1/projects/-/serviceAccounts/{}:generateAccessToken"
iam._IAM_IDTOKEN_ENDPOINT = sys.argv[2] + "/v1/projects/-/serviceAccounts/{}:generateIdToken"
creds, _ = google.auth.load_credentials_from_file(sys.argv[1], scopes=["https://www.googleapis.com/auth/cloud-platform"])
id_creds = impersonated_credentials.IDTokenCredentials(creds, target_audience=sys.argv[3], include_email=True)
id_creds.refresh(transport.Request())
print(id_creds.token)
"#;

/// An emulator trusting a cluster issuer, a sandbox holding that cluster's
/// projected token, and the target service account.
struct Federation {
    emulator: Emulator,
    sandbox: Sandbox,
    subject_path: String,
}

fn federation() -> Federation {
    let emulator = Emulator::start();
    let issuer: OidcIssuer = emulator.add_oidc_issuer(ISSUER);
    emulator.add_workload_provider(PROVIDER, &issuer);
    emulator.add_service_account(TARGET);
    emulator.grant_token_creator(TARGET, &sts_principal(PROVIDER, SUB));
    let sandbox = Sandbox::new();
    // Kubernetes projects the token without a trailing newline.
    let subject_path = sandbox.write("token", issuer.mint(SUB, PROVIDER, 3600));
    Federation { emulator, sandbox, subject_path }
}

impl Federation {
    /// What `gcloud iam workload-identity-pools create-cred-config PROVIDER
    /// --credential-source-file=... [--service-account=TARGET]` writes, with
    /// the Google URLs swapped for the emulator's.
    fn external_account(&self, impersonate: bool) -> String {
        let name = if impersonate { "impersonating.json" } else { "federated.json" };
        self.write(name, &self.external_account_json(impersonate))
    }

    fn external_account_json(&self, impersonate: bool) -> Value {
        self.emulator.external_account_config(PROVIDER, &self.subject_path, impersonate.then_some(TARGET))
    }

    fn write(&self, name: &str, config: &Value) -> String {
        let path = self.sandbox.path(name);
        write_private_json(&path, config).expect("write credentials");
        path.to_str().expect("utf8").to_string()
    }

    /// Whom the emulator issued `token` to.
    fn principal(&self, token: &str) -> String {
        let issued = self.emulator.issued(token.trim());
        issued.unwrap_or_else(|| panic!("not an emulator token: {token:?}")).principal_email
    }
}

/// What `gcloud auth application-default login --impersonate-service-account`
/// writes, with a new service-account key (granted on the target) as the source.
fn impersonated_json(fed: &Federation) -> Value {
    let key = fed.emulator.add_service_account(SOURCE);
    fed.emulator.grant_token_creator(TARGET, SOURCE);
    json!({
        "delegates": [],
        "service_account_impersonation_url": fed.emulator.iam_url(TARGET, "generateAccessToken"),
        "source_credentials": key.json(),
        "type": "impersonated_service_account",
    })
}

fn impersonated_file(fed: &Federation) -> String {
    fed.write("impersonated.json", &impersonated_json(fed))
}

#[test]
#[ignore = "needs python3 with google-auth: scripts/setup/install-test-deps.sh"]
fn python_exchanges_a_projected_token_at_sts_for_the_pool_principal() {
    let fed = federation();
    let path = fed.external_account(false);
    let token = python(PYTHON_ACCESS, &[&path], &[]);
    assert_eq!(fed.principal(&token), sts_principal(PROVIDER, SUB));
    let sent = fed.emulator.requests_to("sts").pop().expect("an STS request").form;
    assert_eq!(sent["scope"], CLOUD_PLATFORM);
    assert_eq!(sent["subject_token_type"], "urn:ietf:params:oauth:token-type:jwt");
}

#[test]
fn the_agent_exchanges_the_same_file_for_the_same_principal() {
    let fed = federation();
    let path = fed.external_account(false);
    let out = fed.sandbox.run(&["print-access-token", "--credentials", &path]);
    assert_eq!(fed.principal(out.ok()), sts_principal(PROVIDER, SUB));
}

#[test]
#[ignore = "needs python3 with google-auth: scripts/setup/install-test-deps.sh"]
fn python_impersonates_the_target_through_sts_and_iam_credentials() {
    let fed = federation();
    let path = fed.external_account(true);
    let token = python(PYTHON_ACCESS, &[&path], &[]);
    assert_eq!(fed.principal(&token), TARGET);
    let body = fed.emulator.requests_to("iam_access").pop().expect("an IAM request").json;
    assert_eq!(body.expect("JSON body")["lifetime"], "1800s");
}

#[test]
fn the_agent_impersonates_the_target_with_the_same_file() {
    let fed = federation();
    let path = fed.external_account(true);
    let out = fed.sandbox.run(&["print-access-token", "--credentials", &path]);
    assert_eq!(fed.principal(out.ok()), TARGET);
    let id = fed.sandbox.run(&["print-identity-token", "--audience", AUDIENCE, "--credentials", &path]);
    let claims = fed.emulator.verify_id_token(id.ok().trim()).expect("signed by the emulator");
    assert_eq!((claims["aud"].as_str(), claims.get("email")), (Some(AUDIENCE), None));
    let args = ["print-identity-token", "--audience", AUDIENCE, "--include-email", "--credentials", &path];
    let id = fed.sandbox.run(&args);
    let claims = fed.emulator.verify_id_token(id.ok().trim()).expect("signed by the emulator");
    assert_eq!(claims["email"], TARGET);
}

#[test]
#[ignore = "needs python3 with google-auth: scripts/setup/install-test-deps.sh"]
fn python_impersonates_the_target_from_a_service_account_key() {
    let fed = federation();
    let path = impersonated_file(&fed);
    let token = python(PYTHON_ACCESS, &[&path, fed.emulator.url()], &[]);
    assert_eq!(fed.principal(&token), TARGET);
    // google-auth asks the token endpoint for the IAM scope for its source.
    let source = fed.emulator.requests_to("token").pop().expect("a token request");
    let scope = source.jwt_claims.expect("assertion")["scope"].clone();
    assert_eq!(scope, "https://www.googleapis.com/auth/iam");
    let id = python(PYTHON_IMPERSONATED_ID, &[&path, fed.emulator.url(), AUDIENCE], &[]);
    let claims = fed.emulator.verify_id_token(id.trim()).expect("signed by the emulator");
    assert_eq!((claims["aud"].as_str(), claims["email"].as_str()), (Some(AUDIENCE), Some(TARGET)));
}

#[test]
fn the_agent_impersonates_the_target_from_the_same_service_account_key_file() {
    let fed = federation();
    let path = impersonated_file(&fed);
    let out = fed.sandbox.run(&["print-access-token", "--credentials", &path]);
    assert_eq!(fed.principal(out.ok()), TARGET);
    let args = ["print-identity-token", "--audience", AUDIENCE, "--include-email", "--credentials", &path];
    let id = fed.sandbox.run(&args);
    let claims = fed.emulator.verify_id_token(id.ok().trim()).expect("signed by the emulator");
    assert_eq!((claims["aud"].as_str(), claims["email"].as_str()), (Some(AUDIENCE), Some(TARGET)));
    assert_eq!(fed.principal(id.ok()), TARGET);
}

/// The same two files with the impersonation URL on an `iamcredentials`
/// host, reached through the emulator acting as the HTTP proxy (it answers
/// absolute-form requests by path). This passes the agent's host check, so it
/// shows the agent's STS and IAM Credentials exchanges themselves work even
/// while the two tests above fail on that check.
#[test]
fn the_agent_impersonates_through_an_iamcredentials_host_behind_a_proxy() {
    let mut fed = federation();
    let url = format!(
        "http://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{TARGET}:generateAccessToken"
    );
    let mut external = fed.external_account_json(true);
    external["service_account_impersonation_url"] = json!(url);
    let mut impersonated = impersonated_json(&fed);
    impersonated["service_account_impersonation_url"] = json!(url);
    let paths = [fed.write("proxied-external.json", &external), fed.write("proxied-imp.json", &impersonated)];
    let proxy = fed.emulator.url().to_string();
    fed.sandbox.env("http_proxy", proxy);
    // Plain http to a Google host is refused unless explicitly allowed.
    fed.sandbox.env("GCP_TOKEN_AGENT_ALLOW_INSECURE_HTTP", "true");
    for path in paths {
        let out = fed.sandbox.run(&["print-access-token", "--credentials", &path]);
        assert_eq!(fed.principal(out.ok()), TARGET, "{path}");
        let args =
            ["print-identity-token", "--audience", AUDIENCE, "--include-email", "--credentials", &path];
        let id = fed.sandbox.run(&args);
        let claims = fed.emulator.verify_id_token(id.ok().trim()).expect("signed by the emulator");
        assert_eq!((claims["aud"].as_str(), claims["email"].as_str()), (Some(AUDIENCE), Some(TARGET)));
    }
    assert_eq!((fed.emulator.calls("iam_access"), fed.emulator.calls("iam_id")), (2, 2));
}
