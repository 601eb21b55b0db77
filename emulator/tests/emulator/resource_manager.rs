//! Cloud Resource Manager `projects.get`: a project's number for a caller holding a live token
//! the emulator issued, Google's 403 for a project it does not know.

use serde_json::Value;

use crate::support::emulator::{DEFAULT_PROJECT_NUMBER, Emulator, PROJECT_ID};
use crate::{CLOUD_PLATFORM, access_token_for, assert_api_error};

const CALLER: &str = "caller@emulator-project.iam.gserviceaccount.com";
const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 access \
    token, login cookie or other valid authentication credential.";

async fn get_project(emu: &Emulator, project: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("{}/v1/projects/{project}", emu.url()));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.expect("projects.get");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_known_project_answers_its_number_as_a_string() {
    let emu = Emulator::start();
    let key = emu.add_service_account(CALLER);
    let token = access_token_for(&emu, &key, CLOUD_PLATFORM).await;
    let (status, body) = get_project(&emu, PROJECT_ID, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["projectNumber"], DEFAULT_PROJECT_NUMBER.to_string());
    assert_eq!(
        (body["projectId"].as_str(), body["lifecycleState"].as_str()),
        (Some(PROJECT_ID), Some("ACTIVE"))
    );
    emu.add_project("other-project", 42);
    assert_eq!(get_project(&emu, "other-project", Some(&token)).await.1["projectNumber"], "42");
    assert_eq!(emu.calls("resource_manager"), 2);
}

#[tokio::test]
async fn unknown_projects_and_bad_tokens_are_refused_as_google_refuses_them() {
    let emu = Emulator::start();
    let key = emu.add_service_account(CALLER);
    let token = access_token_for(&emu, &key, CLOUD_PLATFORM).await;
    let denied = "Permission 'resourcemanager.projects.get' denied on resource \
                  '//cloudresourcemanager.googleapis.com/projects/nobodys-project' (or it may not exist).";
    assert_api_error(
        &get_project(&emu, "nobodys-project", Some(&token)).await,
        403,
        "PERMISSION_DENIED",
        denied,
    );
    for bearer in [None, Some("ya29.never-issued")] {
        let got = get_project(&emu, PROJECT_ID, bearer).await;
        assert_api_error(&got, 401, "UNAUTHENTICATED", UNAUTHENTICATED);
    }
    let narrow = access_token_for(&emu, &key, "https://www.googleapis.com/auth/devstorage.read_only").await;
    let got = get_project(&emu, PROJECT_ID, Some(&narrow)).await;
    assert_api_error(&got, 403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.");
}
