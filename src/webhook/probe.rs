//! `webhook-probe`: what the chart's `helm test` hook runs (the image holds only this binary).
//! It sends the webhook what the API server would for a dry-run creation of a synthetic pod
//! that opted in, over TLS checked against the CA the API server trusts, and accepts only a
//! well-formed allowed review whose patch injects the agent and wires the app container.
//!
//! The pod asks for the `metadata` provider, so the answer does not depend on the chart's
//! federation settings; its ServiceAccount (`default`) is looked up as for any pod, so the
//! webhook's API access is exercised too.

use std::{error::Error as _, time::Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::{
    annotations::{METADATA_PROVIDER, PREFIX},
    mutate::AGENT_CONTAINER,
};
use crate::{
    config::ProbeConfig,
    error::{Error, Result},
    validate::shown_url,
};

/// The most of an answer read: a review answer is a few KiB.
const MAX_ANSWER: usize = 1 << 20;

/// Runs the probe; the line for stdout, or the fault (exit 1).
pub fn probe(config: ProbeConfig) -> Result<String> {
    let client = client(&config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let uid = format!("gcp-token-agent-probe-{:016x}", fastrand::u64(..));
    let review = review(&uid, &config);
    let started = Instant::now();
    let (status, body) = runtime.block_on(async {
        let response = client
            .post(&config.url)
            .header("content-type", "application/json")
            .body(review.to_string())
            .send()
            .await
            .map_err(|e| fault(&config, format!("did not answer: {}", chain(e))))?;
        let status = response.status().as_u16();
        let body = read_capped(response).await.map_err(|why| fault(&config, why))?;
        Ok::<_, Error>((status, body))
    })?;
    let elapsed = started.elapsed();
    if status != 200 {
        let text = String::from_utf8_lossy(body.get(..body.len().min(300)).unwrap_or_default()).into_owned();
        return Err(fault(&config, format!("answered HTTP {status}: {}", crate::scrub::escape(text.trim()))));
    }
    let answer: Value = serde_json::from_slice(&body)
        .map_err(|e| fault(&config, format!("answered with something that is not JSON: {e}")))?;
    let operations = check(&answer, &uid).map_err(|why| fault(&config, why))?;
    Ok(format!(
        "ok: {} allowed a dry-run review of an opted-in pod and injects the agent ({operations} patch \
         operations, {} ms)\n",
        shown_url(&config.url),
        elapsed.as_millis()
    ))
}

fn fault(config: &ProbeConfig, what: String) -> Error {
    Error::CheckFailed(format!("webhook-probe: the webhook at {} {what}", shown_url(&config.url)))
}

/// The answer's body, refused past [`MAX_ANSWER`] (checked as it arrives).
async fn read_capped(mut response: reqwest::Response) -> std::result::Result<Vec<u8>, String> {
    let too_big = || format!("answered with more than {} KiB", MAX_ANSWER / 1024);
    if response.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("broke off: {}", chain(e)))? {
        if body.len().saturating_add(chunk.len()) > MAX_ANSWER {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error and its causes, as one line (reqwest's own text hides the TLS or DNS reason); the
/// URL is left out (the fault names it, masked).
fn chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A client that trusts only `--ca-file` and never goes through a proxy (the Service is inside
/// the cluster).
fn client(config: &ProbeConfig) -> Result<reqwest::Client> {
    let shown = config.ca_file.display();
    // Capped and non-blocking: a FIFO or a huge file is refused, never waited on.
    let pem = crate::input::read_file(&config.ca_file)
        .map_err(|e| Error::usage("--ca-file", format!("cannot read {shown}: {e}")))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem)
        .ok()
        .filter(|roots| !roots.is_empty())
        .ok_or_else(|| Error::usage("--ca-file", format!("{shown} holds no PEM certificate")))?;
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .no_proxy()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gcp-token-agent-probe/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Internal(format!("cannot set up the HTTPS client: {e}")))
}

/// The review the API server sends for `kubectl create --dry-run=server` of the synthetic pod.
fn review(uid: &str, config: &ProbeConfig) -> Value {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "gcp-token-agent-probe",
            "namespace": "default",
            "annotations": {
                config.opt_in_key.as_str(): config.opt_in_value,
                format!("{PREFIX}workload-identity-provider"): METADATA_PROVIDER,
            },
        },
        "spec": {
            "serviceAccountName": "default",
            "containers": [{"name": "app", "image": "registry.invalid/probe:1"}],
        },
    });
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "gcp-token-agent-probe",
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "gcp-token-agent-probe"},
            "object": pod,
            "dryRun": true,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "dryRun": ["All"]},
        },
    })
}

/// The answer is an allowed review for `uid` whose JSON patch adds the agent container and the
/// metadata variables of the app container; the number of operations, or what is wrong.
fn check(answer: &Value, uid: &str) -> std::result::Result<usize, String> {
    if answer["kind"] != "AdmissionReview" || answer["apiVersion"] != "admission.k8s.io/v1" {
        return Err("did not answer with an admission.k8s.io/v1 AdmissionReview".to_owned());
    }
    let response = &answer["response"];
    if response["uid"] != uid {
        return Err(format!("answered for uid {}, not {uid}", response["uid"]));
    }
    if response["allowed"] != true {
        let message = response.pointer("/status/message").and_then(Value::as_str).unwrap_or("no message");
        return Err(format!("denied the synthetic pod: {}", crate::scrub::escape(message)));
    }
    if response["patchType"] != "JSONPatch" {
        return Err("allowed the pod without a JSONPatch (it did not inject the agent)".to_owned());
    }
    let operations: Vec<Value> = response["patch"]
        .as_str()
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("answered with a patch that is not base64 of a JSON array")?;
    let adds = |wanted: &dyn Fn(&Value) -> bool| {
        operations
            .iter()
            .any(|op| op["op"] == "add" && (wanted(&op["value"]) || any_item(&op["value"], wanted)))
    };
    if !adds(&|v| v["name"] == AGENT_CONTAINER && v["image"].is_string()) {
        return Err(format!("answered with a patch that adds no {AGENT_CONTAINER} container"));
    }
    let wires_app = operations.iter().any(|op| {
        op["path"].as_str().is_some_and(|p| p.starts_with("/spec/containers/0/env"))
            && op.get("value").is_some_and(|v| {
                v.get("name").is_some_and(|n| n == "GCE_METADATA_HOST")
                    || any_item(v, &|e| e.get("name").is_some_and(|n| n == "GCE_METADATA_HOST"))
            })
    });
    if !wires_app {
        return Err(
            "answered with a patch that does not set GCE_METADATA_HOST in the app container".to_owned()
        );
    }
    Ok(operations.len())
}

fn any_item(value: &Value, wanted: &dyn Fn(&Value) -> bool) -> bool {
    value.as_array().is_some_and(|items| items.iter().any(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{mutate::mutate, review::Answer, tests::context};

    fn config() -> ProbeConfig {
        ProbeConfig {
            url: "https://gcp-token-agent.gcp-token-agent.svc:443/mutate".to_owned(),
            ca_file: "ca.crt".into(),
            opt_in_key: "gcp-token-agent.io/inject".to_owned(),
            opt_in_value: "true".to_owned(),
            timeout: std::time::Duration::from_secs(1),
        }
    }

    /// What the webhook's mutation answers for the probe's own review.
    fn answered(uid: &str) -> Value {
        let sent = review(uid, &config());
        let outcome =
            mutate(&sent["request"]["object"], &context(true)).expect("the probe's pod is admitted");
        Answer::Allow { patch: outcome.patch, warnings: outcome.warnings }.review("admission.k8s.io/v1", uid)
    }

    #[test]
    fn the_webhooks_own_answer_to_the_probe_passes_the_check() {
        assert!(check(&answered("u1"), "u1").is_ok_and(|n| n > 2));
    }

    #[test]
    fn a_wrong_uid_a_denial_or_an_empty_patch_fails_the_check_saying_so() {
        assert!(check(&answered("u1"), "u2").expect_err("uid").contains("uid"));
        let denied = Answer::Deny { code: 403, message: "no".to_owned() }.review("admission.k8s.io/v1", "u");
        assert!(check(&denied, "u").expect_err("denied").contains("denied the synthetic pod: no"));
        let empty = Answer::Allow { patch: vec![], warnings: vec![] }.review("admission.k8s.io/v1", "u");
        assert!(check(&empty, "u").expect_err("no patch").contains("without a JSONPatch"));
        let unrelated = vec![json!({"op": "add", "path": "/metadata/labels", "value": {}})];
        let other = Answer::Allow { patch: unrelated, warnings: vec![] }.review("admission.k8s.io/v1", "u");
        assert!(check(&other, "u").expect_err("no agent").contains("adds no gcp-token-agent container"));
    }
}
