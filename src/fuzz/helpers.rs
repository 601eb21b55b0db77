//! Fuzz entry points for what the helper faces read from their callers: kubectl's
//! `KUBERNETES_EXEC_INFO`, git's and Docker's credential-helper requests and a Docker
//! config.json.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::{
    secret::Secret,
    sinks::{docker_config, docker_credential, exec_credential::ExecInfo, git_credential},
    token::Token,
    validate,
};

/// `KUBERNETES_EXEC_INFO` from kubectl, and the ExecCredential answered in its version:
/// always JSON, whatever the input held.
pub fn exec_info(data: &[u8]) {
    // Environment variables reach the parser only as UTF-8 (`std::env::var`).
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(info) = ExecInfo::parse(Some(text)) else { return };
    let token = Token::new(Secret::new("ya29.fuzz"), SystemTime::now(), Duration::from_secs(3600));
    let rendered = crate::sinks::exec_credential::render(&info, &token);
    assert!(serde_json::from_str::<Value>(&rendered).is_ok(), "not JSON: {rendered}");
}

/// What the credential helpers read: git's `key=value` request, Docker's registry line, a
/// `configure-docker` registry name and a Docker config.json merged with our entries. Docker's
/// answer stays JSON echoing the registry, a checked registry name checks again unchanged, and
/// the merge keeps every other key and writes JSON that reads back as what was merged.
pub fn credential_helpers(data: &[u8]) {
    let _ = git_credential::read_request(data);
    let token = Token::new(Secret::new("ya29.fuzz"), SystemTime::now(), Duration::from_secs(3600));
    if let Ok(url) = docker_credential::server_url(data) {
        let answer = docker_credential::render_get(&url, &token);
        let json = serde_json::from_str::<Value>(&answer).unwrap_or_default();
        assert!(json.get("ServerURL") == Some(&Value::from(url)), "not JSON echoing the registry: {answer}");
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(host) = validate::registry_host(&text) {
        assert!(validate::registry_host(&host).as_ref() == Ok(&host), "{text:?} checked as {host:?}");
    }
    let Ok(mut merged) = docker_config::parse(&text) else { return };
    let before = merged.clone();
    if docker_config::add_helpers(&mut merged, &["gcr.io".to_owned()]).is_err() {
        return;
    }
    for (key, value) in before.iter().filter(|(key, _)| *key != "credHelpers") {
        assert!(merged.get(key) == Some(value), "key {key:?} changed");
    }
    let written = docker_config::render(&merged);
    assert!(docker_config::parse(&written).as_ref() == Ok(&merged), "written file reads back differently");
}
