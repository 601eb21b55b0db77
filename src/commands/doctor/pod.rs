//! Inside a pod the webhook injected: the agent's metadata API answers (with the numeric
//! project id gcloud needs), and its token files are fresh.

use std::{
    path::Path,
    time::{Duration, SystemTime},
};

use super::finding::Finding;
use crate::{
    credentials::{Env, MetadataServer},
    error::Endpoint,
    exchange::{self, Http, probe::probe},
};

/// The agent's API at `GCE_METADATA_HOST`, when it is set.
/// `probed` is what the endpoint check found when the server is also the credential.
pub(super) async fn agent_api(http: &Http, env: &Env, probed: Option<bool>, out: &mut Vec<Finding>) {
    let Some(host) = env.gce_metadata_host.as_deref().map(str::trim) else { return };
    let server = MetadataServer { host: host.to_owned(), explicit: true };
    if probed == Some(false) {
        return;
    }
    if probed.is_none() {
        let url = format!("http://{host}/");
        match probe(http, Endpoint::Metadata, &url, None).await {
            Ok(answer) if answer.metadata_flavor => {
                out.push(Finding::ok(
                    "agent-api",
                    format!("the metadata API at {host} (GCE_METADATA_HOST) answers"),
                ));
            }
            Ok(answer) => {
                let message = format!(
                    "{host} (GCE_METADATA_HOST) answered HTTP {} without Metadata-Flavor: Google",
                    answer.status
                );
                out.push(Finding::fail(
                    "agent-api",
                    message,
                    "point GCE_METADATA_HOST at the agent's --metadata-listen address",
                ));
                return;
            }
            Err(e) => {
                let fix = "is the agent container running? `kubectl logs POD -c gcp-token-agent`; a pod the webhook \
                           did not inject has no agent (see docs/troubleshooting.md)";
                out.push(Finding::fail("agent-api", format!("GCE_METADATA_HOST: {e}"), fix));
                return;
            }
        }
    }
    match exchange::metadata::text(http, &server, "project/numeric-project-id").await {
        Ok(number) if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
            out.push(Finding::ok("agent-api", format!("the numeric project id is {number}")));
        }
        Ok(_) | Err(_) => out.push(Finding::warn(
            "agent-api",
            format!("{host} does not answer project/numeric-project-id; gcloud and some libraries need it"),
            "give the agent --numeric-project-id (or --project-id with Resource Manager reachable)",
        )),
    }
}

/// `token` and `token.json` in the agent's `--output-dir`, and how long the token has left.
pub(super) fn token_files(dir: &Path, out: &mut Vec<Finding>) {
    #[derive(serde::Deserialize)]
    struct Expiry {
        expiry: String,
    }
    let json = dir.join("token.json");
    let shown = json.display();
    let fix = "the agent is not refreshing: `kubectl logs POD -c gcp-token-agent` and its /readyz say why";
    let text = match crate::input::read_text(&json) {
        Ok(text) => text,
        Err(e) => {
            let fix = "pass the agent's --output-dir as --token-dir; in a pod, is the agent running?";
            out.push(Finding::fail("token-files", format!("cannot read {shown}: {e}"), fix));
            return;
        }
    };
    let expiry =
        serde_json::from_str::<Expiry>(&text).ok().and_then(|e| e.expiry.parse::<jiff::Timestamp>().ok());
    let Some(expiry) = expiry else {
        out.push(Finding::fail("token-files", format!("{shown} has no \"expiry\" in RFC 3339"), fix));
        return;
    };
    let left = SystemTime::from(expiry).duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
    if !dir.join("token").is_file() {
        out.push(Finding::fail("token-files", format!("{} is missing", dir.join("token").display()), fix));
    } else if left.is_zero() {
        out.push(Finding::fail("token-files", format!("the token in {shown} expired at {expiry}"), fix));
    } else if left < Duration::from_secs(5 * 60) {
        out.push(Finding::warn(
            "token-files",
            format!("the token in {shown} expires in {}s", left.as_secs()),
            fix,
        ));
    } else {
        out.push(Finding::ok(
            "token-files",
            format!("the token in {shown} is fresh: {} min left", left.as_secs() / 60),
        ));
    }
}
