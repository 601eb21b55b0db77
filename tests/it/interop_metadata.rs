//! Unmodified Google clients against a live `run` on loopback: Python google-auth, Node
//! google-auth-library, gcloud and gke-gcloud-auth-plugin each receive exactly the token the
//! emulator issued to the agent.

use crate::support;

use std::{path::PathBuf, time::Duration};

use serde_json::Value;
use support::{
    agent::Sandbox,
    clients::{Gcloud, python},
    emulator::Emulator,
    running::RunningAgent,
};

const EMAIL: &str = "interop@emulator-project.iam.gserviceaccount.com";
const AUDIENCE: &str = "https://service.example.com";

struct Live {
    emulator: Emulator,
    sandbox: Sandbox,
    agent: RunningAgent,
    host: String,
}

impl Live {
    fn start(scopes: &str) -> Self {
        Self::start_with(scopes, &[])
    }

    fn start_with(scopes: &str, extra: &[&str]) -> Self {
        Self::start_on(Emulator::start(), scopes, extra)
    }

    fn start_on(emulator: Emulator, scopes: &str, extra: &[&str]) -> Self {
        let sandbox = Sandbox::new();
        let key = sandbox.path("key.json");
        emulator.add_service_account(EMAIL).write_to(&key).expect("write key");
        let out = sandbox.path("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        let args = [
            "--credentials",
            key.to_str().expect("utf8"),
            "--output-dir",
            out.to_str().expect("utf8"),
            "--scopes",
            scopes,
        ];
        let agent = RunningAgent::start(&sandbox, &[&args[..], extra].concat());
        agent.wait_ready();
        let host = agent.metadata.expect("listener").to_string();
        Self { emulator, sandbox, agent, host }
    }

    fn file_token(&self) -> String {
        std::fs::read_to_string(self.sandbox.path("out").join("token")).expect("token file")
    }

    fn envs(&self) -> Vec<(&'static str, String)> {
        ["GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT"].map(|k| (k, self.host.clone())).to_vec()
    }

    fn assert_agents_id_token(&self, jwt: &str) {
        let claims = self.emulator.verify_id_token(jwt.trim()).expect("an ID token the emulator signed");
        assert_eq!(claims["aud"], AUDIENCE);
        assert_eq!(claims["email"], EMAIL);
    }
}

const PYTHON: &str = r#"
import sys
import google.auth
from google.auth.transport.requests import Request
from google.oauth2 import id_token
creds, project = google.auth.default()
creds.refresh(Request())
print(type(creds).__module__)
print(creds.token)
print(project)
print(id_token.fetch_id_token(Request(), sys.argv[1]))
"#;

#[test]
#[ignore = "needs python3 with google-auth: scripts/setup/install-test-deps.sh"]
fn python_google_auth_uses_the_agent_as_its_metadata_server() {
    let live = Live::start("https://www.googleapis.com/auth/cloud-platform");
    let envs = live.envs();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = python(PYTHON, &[AUDIENCE], &envs);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "google.auth.compute_engine.credentials");
    assert_eq!(lines[1], live.file_token(), "exactly the agent's token");
    assert_eq!(lines[2], "emulator-project");
    live.assert_agents_id_token(lines[3]);
}

const NODE: &str = r#"
const { GoogleAuth } = require('google-auth-library');
(async () => {
  const auth = new GoogleAuth({ scopes: 'https://www.googleapis.com/auth/cloud-platform' });
  const client = await auth.getClient();
  const { token } = await client.getAccessToken();
  const project = await auth.getProjectId();
  const idClient = await auth.getIdTokenClient(process.argv[1]);
  const headers = await idClient.getRequestHeaders();
  const authorization = typeof headers.get === 'function' ? headers.get('authorization') : headers.Authorization;
  console.log(client.constructor.name);
  console.log(token);
  console.log(project);
  console.log(authorization.replace(/^Bearer /, ''));
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
#[ignore = "needs node with google-auth-library (tests/interop/node): scripts/setup/install-test-deps.sh"]
fn node_google_auth_library_uses_the_agent_as_its_metadata_server() {
    let live = Live::start("https://www.googleapis.com/auth/cloud-platform");
    let modules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/node/node_modules");
    let output = support::clients::clean_command("node")
        .args(["-e", NODE, AUDIENCE])
        .envs(live.envs())
        .env("NODE_PATH", &modules)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .expect("node runs");
    assert!(output.status.success(), "node: {}", String::from_utf8_lossy(&output.stderr));
    let out = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Compute");
    assert_eq!(lines[1], live.file_token());
    assert_eq!(lines[2], "emulator-project");
    live.assert_agents_id_token(lines[3]);
}

#[test]
#[ignore = "needs gcloud: scripts/setup/install-test-deps.sh"]
fn gcloud_prints_the_agents_tokens_through_gce_metadata_root() {
    // gcloud detects a metadata server by its project/numeric-project-id.
    let live = Live::start_with(
        "https://www.googleapis.com/auth/cloud-platform",
        &["--numeric-project-id", "123456"],
    );
    let gcloud = Gcloud::new();
    let root = [("GCE_METADATA_ROOT", live.host.as_str())];
    let token = gcloud.ok(&["auth", "print-access-token"], &root);
    assert_eq!(token.trim(), live.file_token());
    let id = gcloud.ok(&["auth", "print-identity-token", &format!("--audiences={AUDIENCE}")], &root);
    let claims = live.emulator.verify_id_token(id.trim()).expect("valid");
    assert_eq!(claims["aud"], AUDIENCE);
}

#[test]
#[ignore = "needs gcloud: scripts/setup/install-test-deps.sh"]
fn gcloud_detects_the_agent_once_it_has_looked_up_the_numeric_project_id() {
    // No --numeric-project-id: the agent learns it from (the emulator's) Resource Manager.
    let emulator = Emulator::start();
    let url = emulator.url().to_owned();
    let live = Live::start_on(
        emulator,
        "https://www.googleapis.com/auth/cloud-platform",
        &["--resource-manager-endpoint", &url],
    );
    let numeric = "/computeMetadata/v1/project/numeric-project-id";
    live.agent.wait_until(Duration::from_secs(20), "the numeric project id", || {
        live.agent.metadata_get(numeric).status == 200
    });
    assert_eq!(live.agent.metadata_get(numeric).body, "123456789012");
    let gcloud = Gcloud::new();
    let envs = [("GCE_METADATA_ROOT", live.host.as_str()), ("GCE_METADATA_IP", live.host.as_str())];
    let token = gcloud.ok(&["auth", "print-access-token"], &envs);
    assert_eq!(token.trim(), live.file_token());
    assert_eq!(live.emulator.calls("resource_manager"), 1);
}

#[test]
#[ignore = "needs gcloud: scripts/setup/install-test-deps.sh"]
fn gcloud_finds_no_credentials_while_the_numeric_project_id_is_unknown() {
    // A project Resource Manager refuses: the route stays 404, and gcloud does not take the
    // agent for a metadata server (why docs/metadata-api.md asks for --numeric-project-id then).
    let emulator = Emulator::start();
    let url = emulator.url().to_owned();
    let live = Live::start_on(
        emulator,
        "https://www.googleapis.com/auth/cloud-platform",
        &["--resource-manager-endpoint", &url, "--project-id", "not-my-project"],
    );
    live.agent.wait_until(Duration::from_secs(20), "the warning", || {
        live.agent.logs().contains("--numeric-project-id")
    });
    let gcloud = Gcloud::new();
    let envs = [("GCE_METADATA_ROOT", live.host.as_str()), ("GCE_METADATA_IP", live.host.as_str())];
    let output = gcloud.run(&["auth", "print-access-token"], &envs);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "gcloud took a server without a numeric project id");
    assert!(String::from_utf8_lossy(&output.stdout).trim().is_empty());
    assert!(stderr.contains("active account"), "no credentials, rather than another failure: {stderr}");
}

/// Google's Python metadata client reading the instance surface the flags configure.
const PYTHON_INSTANCE: &str = r#"
import json
import google.auth.transport.requests
from google.auth.compute_engine import _metadata
request = google.auth.transport.requests.Request()
print(_metadata.get(request, 'instance/zone'))
print(_metadata.get(request, 'instance/attributes/cluster-name'))
everything = _metadata.get(request, 'instance/', recursive=True)
print(json.dumps(everything, sort_keys=True))
print(_metadata.get_project_id(request))
"#;

/// gcp-metadata, which google-auth-library uses, reading the same.
const NODE_INSTANCE: &str = r#"
const gcpMetadata = require('gcp-metadata');
(async () => {
  console.log(await gcpMetadata.instance('zone'));
  console.log(await gcpMetadata.instance({ property: 'attributes/cluster-name' }));
  const all = await gcpMetadata.instance({ params: { recursive: 'true' } });
  console.log(String(all.id));
  console.log(JSON.stringify(all.attributes));
  console.log(String(await gcpMetadata.instance('id')));
  console.log(await gcpMetadata.isAvailable());
})().catch((e) => { console.error(e); process.exit(1); });
"#;

const INSTANCE_FLAGS: [&str; 7] = [
    "--numeric-project-id=123456",
    "--zone=us-central1-f",
    "--instance-name=web-7d9f-abcde",
    "--instance-id=4519681524354166001",
    "--cluster-name=prod",
    "--cluster-location=us-central1",
    "--attribute=team=payments",
];

#[test]
#[ignore = "needs python3 with google-auth: scripts/setup/install-test-deps.sh"]
fn python_google_auth_reads_the_instance_metadata() {
    let live = Live::start_with("https://www.googleapis.com/auth/cloud-platform", &INSTANCE_FLAGS);
    let envs = live.envs();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = python(PYTHON_INSTANCE, &[], &envs);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "projects/123456/zones/us-central1-f");
    assert_eq!(lines[1], "prod");
    let all: Value = serde_json::from_str(lines[2]).expect("a JSON object");
    assert_eq!(all["id"].as_u64(), Some(4_519_681_524_354_166_001), "a number, as on GCE");
    assert_eq!(all["name"], "web-7d9f-abcde");
    assert_eq!(all["region"], "projects/123456/regions/us-central1");
    assert_eq!(all["attributes"]["cluster-location"], "us-central1");
    assert_eq!(all["attributes"]["team"], "payments");
    assert_eq!(all["serviceAccounts"]["default"]["email"], EMAIL);
    assert_eq!(lines[3], "emulator-project");
}

#[test]
#[ignore = "needs node with gcp-metadata (tests/interop/node): scripts/setup/install-test-deps.sh"]
fn node_gcp_metadata_reads_the_instance_metadata() {
    let live = Live::start_with("https://www.googleapis.com/auth/cloud-platform", &INSTANCE_FLAGS);
    let modules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/node/node_modules");
    let output = support::clients::clean_command("node")
        .args(["-e", NODE_INSTANCE])
        .envs(live.envs())
        .env("NODE_PATH", &modules)
        .output()
        .expect("node runs");
    assert!(output.status.success(), "node: {}", String::from_utf8_lossy(&output.stderr));
    let out = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "projects/123456/zones/us-central1-f");
    assert_eq!(lines[1], "prod");
    assert_eq!(lines[2], "4519681524354166001", "json-bigint keeps every digit of the id");
    let attributes: Value = serde_json::from_str(lines[3]).expect("JSON");
    assert_eq!(attributes["cluster-name"], "prod");
    assert_eq!(attributes["team"], "payments");
    assert_eq!(lines[4], "4519681524354166001");
    assert_eq!(lines[5], "true", "gcp-metadata takes the agent for a metadata server");
}

#[test]
#[ignore = "needs gke-gcloud-auth-plugin: scripts/setup/install-test-deps.sh"]
fn gke_gcloud_auth_plugin_in_adc_mode_gets_the_agents_token() {
    // The plugin asks for cloud-platform + userinfo.email; configure the agent the same way.
    let live = Live::start(
        "https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/userinfo.email",
    );
    let output = support::clients::clean_command("gke-gcloud-auth-plugin")
        .arg("--use_application_default_credentials")
        .envs(live.envs())
        .env("HOME", live.sandbox.root())
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("CLOUDSDK_CONFIG")
        .output()
        .expect("gke-gcloud-auth-plugin runs");
    assert!(output.status.success(), "plugin: {}", String::from_utf8_lossy(&output.stderr));
    let credential: Value = serde_json::from_slice(&output.stdout).expect("ExecCredential JSON");
    assert_eq!(credential["status"]["token"], live.file_token().as_str());
    assert_eq!(live.emulator.calls("token"), 1, "the plugin's request was answered from the agent's token");
    drop(live.agent);
}
