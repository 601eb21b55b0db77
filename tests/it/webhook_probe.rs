//! `helm test` without a cluster: the chart's test hook is rendered, and its command (the
//! image's entrypoint, our binary, with the hook's args) runs against a local webhook, with only
//! the Service's host and port and the CA file's path swapped for the local ones. It passes
//! against a webhook that answers, and fails (exit 1, saying why) against one that is down or
//! serves a certificate the CA did not sign.

use std::process::Command;

use serde_json::Value;

use super::webhook::{Webhook, start_webhook, write_certificate};
use crate::support::{
    agent::{Output, Sandbox},
    apiserver::ApiServer,
};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/gcp-token-agent");
/// What the hook calls: clientConfig.service of the default release (`helm install
/// gcp-token-agent ... -n gcp-token-agent`).
const SERVICE: &str = "https://gcp-token-agent.gcp-token-agent.svc:443";
const HOOK: &str = "templates/tests/webhook-probe.yaml";

/// `helm template` of one template with a values file from the chart's ci/, as JSON.
pub(crate) fn render(values: Option<&str>, template: &str) -> Value {
    let mut helm = Command::new("helm");
    helm.args(["template", "gcp-token-agent", CHART, "-n", "gcp-token-agent", "--show-only", template]);
    if let Some(values) = values {
        helm.args(["-f", &format!("{CHART}/ci/{values}")]);
    }
    let output = helm.output().expect("helm (scripts/setup/install-test-deps.sh)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "helm template: {}", String::from_utf8_lossy(&output.stderr));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{template} is one YAML document: {e}\n{text}"))
}

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).expect("a list of strings")
}

/// The hook's command line, with the Service and the CA swapped for the local webhook's.
fn hook_args(values: Option<&str>, webhook: &Webhook, ca_file: &str) -> Vec<String> {
    let pod = render(values, HOOK);
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["annotations"]["helm.sh/hook"], "test");
    let container = &pod["spec"]["containers"][0];
    assert!(container.get("command").is_none(), "the image's entrypoint, our binary, runs the args");
    let local = format!("https://{}", webhook.agent.metadata.expect("listener"));
    let args = strings(&container["args"]);
    assert!(args.contains(&format!("--url={SERVICE}/mutate")), "{args:?}");
    args.into_iter()
        .map(|arg| match arg.split_once('=') {
            Some(("--url", url)) => format!("--url={}", url.replacen(SERVICE, &local, 1)),
            Some(("--ca-file", _)) => format!("--ca-file={ca_file}"),
            _ => arg,
        })
        .collect()
}

/// The flags the chart gives the webhook for its opt-in.
fn opt_in_flags(values: Option<&str>) -> Vec<String> {
    let deployment = render(values, "templates/deployment.yaml");
    let args = strings(&deployment["spec"]["template"]["spec"]["containers"][0]["args"]);
    args.into_iter().filter(|a| a.starts_with("--opt-in")).collect()
}

fn run(sandbox: &Sandbox, args: &[String]) -> Output {
    Output::of(sandbox.command().args(args), b"")
}

/// A webhook as the chart would start it for `values` (its opt-in flags), and its CA file,
/// written in `sandbox` (the probe's).
fn start(api: &ApiServer, values: Option<&str>, sandbox: &Sandbox) -> (Webhook, String) {
    let flags = opt_in_flags(values);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (webhook, pem) = start_webhook(Sandbox::new(), Some(api), &flags);
    let ca = sandbox.write("ca.crt", pem);
    (webhook, ca)
}

#[test]
#[ignore = "needs helm: scripts/setup/install-test-deps.sh"]
fn the_helm_test_hook_passes_against_a_running_webhook_for_each_opt_in_style() {
    let api = ApiServer::start();
    let sandbox = Sandbox::new();
    for values in
        [None, Some("opt-in-namespace-label-values.yaml"), Some("opt-in-pod-annotation-values.yaml")]
    {
        let (webhook, ca) = start(&api, values, &sandbox);
        let out = run(&sandbox, &hook_args(values, &webhook, &ca));
        let line = out.ok();
        assert_eq!(line.lines().count(), 1, "{values:?}: one line: {line}");
        assert!(line.starts_with("ok: ") && line.contains("injects the agent"), "{values:?}: {line}");
    }
}

#[test]
#[ignore = "needs helm: scripts/setup/install-test-deps.sh"]
fn the_helm_test_hook_fails_when_the_synthetic_pod_is_not_opted_in_as_the_webhook_expects() {
    // The hook of the default chart against a webhook told another annotation: the review comes
    // back allowed but untouched, which is not a working injection.
    let api = ApiServer::start();
    let sandbox = Sandbox::new();
    let (webhook, ca) = start(&api, Some("opt-in-pod-annotation-values.yaml"), &sandbox);
    let out = run(&sandbox, &hook_args(None, &webhook, &ca));
    let error = out.fails_with(1);
    assert!(error.contains("without a JSONPatch"), "{error}");
}

#[test]
#[ignore = "needs helm: scripts/setup/install-test-deps.sh"]
fn the_helm_test_hook_fails_against_a_webhook_that_is_down_or_signed_by_another_ca() {
    let api = ApiServer::start();
    let sandbox = Sandbox::new();
    let (webhook, ca) = start(&api, None, &sandbox);
    let args = hook_args(None, &webhook, &ca);
    // Another CA: the handshake fails, whatever the webhook would answer.
    let other = tempfile::tempdir().expect("dir");
    let other_ca = sandbox.write("other-ca.crt", write_certificate(other.path(), "someone-else"));
    let wrong_ca: Vec<String> = args
        .iter()
        .map(|a| if a.starts_with("--ca-file=") { format!("--ca-file={other_ca}") } else { a.clone() })
        .collect();
    let error = run(&sandbox, &wrong_ca).fails_with(1).to_owned();
    assert!(error.contains("did not answer") && error.contains("certificate"), "{error}");
    drop(webhook);
    let error = run(&sandbox, &args).fails_with(1).to_owned();
    assert!(
        error.contains("webhook-probe: the webhook at https://127.0.0.1:")
            && error.contains("did not answer"),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
}

#[test]
fn the_probe_refuses_a_ca_file_that_is_a_fifo_or_huge_naming_ca_file() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.path("fifo.crt");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let huge = sandbox.write("huge.crt", vec![b'x'; 2 << 20]);
    for (ca_file, why) in [(fifo.display().to_string(), "FIFO"), (huge, "larger than")] {
        let out =
            sandbox.run(&["webhook-probe", "--url", "https://127.0.0.1:1/mutate", "--ca-file", &ca_file]);
        let error = out.fails_with(64);
        assert!(error.contains("--ca-file:") && error.contains(why), "{error}");
    }
}

#[test]
fn the_probe_refuses_credentials_in_its_url_and_a_key_under_the_settings_prefix() {
    let sandbox = Sandbox::new();
    let ca = sandbox.write("ca.crt", "");
    let probe = |extra: &[&str]| sandbox.run(&[&["webhook-probe", "--ca-file", &ca][..], extra].concat());
    let out = probe(&["--url", "https://user:hunter2@127.0.0.1:1/mutate"]);
    let error = out.fails_with(64);
    assert!(
        error.contains("--url:") && error.contains("user:password@") && !error.contains("hunter2"),
        "{error}"
    );
    let out = probe(&["--url", "https://127.0.0.1:1/mutate", "--opt-in-key", "gcp-token-agent.io/enabled"]);
    assert!(out.fails_with(64).contains("--opt-in-key:"), "{}", out.stderr);
}
