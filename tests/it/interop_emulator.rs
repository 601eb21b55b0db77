//! The emulator is cross-checked with real clients nobody here wrote: Python google-auth
//! and gcloud obtain tokens from it with the same key files the agent uses, so it accepts
//! what Google's own libraries send, not only what ours sends.

use crate::support;

use support::{
    agent::Sandbox,
    clients::{Gcloud, python},
    emulator::Emulator,
};

const EMAIL: &str = "interop@emulator-project.iam.gserviceaccount.com";

const PYTHON_ACCESS: &str = r#"
import sys
import google.auth.transport.requests as transport
from google.oauth2 import service_account
creds = service_account.Credentials.from_service_account_file(sys.argv[1], scopes=sys.argv[2].split(","))
creds.refresh(transport.Request())
print(creds.token)
"#;

const PYTHON_ID: &str = r#"
import sys
import google.auth.transport.requests as transport
from google.oauth2 import service_account
creds = service_account.IDTokenCredentials.from_service_account_file(sys.argv[1], target_audience=sys.argv[2])
creds.refresh(transport.Request())
print(creds.token)
"#;

#[test]
#[ignore = "needs python3 with google-auth: scripts/setup/install-test-deps.sh"]
fn python_google_auth_gets_access_and_id_tokens_from_the_emulator_with_our_key_file() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let path = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&path).expect("write key");
    let key = path.to_str().expect("utf8");
    let scopes = "https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/pubsub";
    let token = python(PYTHON_ACCESS, &[key, scopes], &[]);
    let issued = emulator.issued(token.trim()).expect("python got an emulator token");
    assert_eq!(issued.principal_email, EMAIL);
    assert_eq!(issued.scopes.len(), 2);
    let id = python(PYTHON_ID, &[key, "https://svc.example.com"], &[]);
    let claims = emulator.verify_id_token(id.trim()).expect("signed by the emulator");
    assert_eq!(claims["aud"], "https://svc.example.com");
    // Python always uses Google's constant audience; the emulator accepts it, like Google.
    let python_aud = emulator.requests_to("token")[0].jwt_claims.clone().expect("claims")["aud"].clone();
    assert_eq!(python_aud, "https://oauth2.googleapis.com/token");
    // And the agent, with the same file, is accepted too.
    let ours = sandbox.run(&["print-access-token", "--credentials", key]);
    assert!(emulator.issued(ours.ok().trim()).is_some());
}

#[test]
#[ignore = "needs gcloud: scripts/setup/install-test-deps.sh"]
fn gcloud_gets_an_access_token_from_the_emulator_with_our_key_file() {
    let emulator = Emulator::start();
    let sandbox = Sandbox::new();
    let path = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&path).expect("write key");
    let gcloud = Gcloud::new();
    gcloud.ok(&["config", "set", "auth/token_host", &emulator.token_uri()], &[]);
    gcloud.ok(&["auth", "activate-service-account", "--key-file", path.to_str().expect("utf8")], &[]);
    let token = gcloud.ok(&["auth", "print-access-token"], &[]);
    let issued = emulator.issued(token.trim()).expect("gcloud got an emulator token");
    assert_eq!(issued.principal_email, EMAIL);
}
