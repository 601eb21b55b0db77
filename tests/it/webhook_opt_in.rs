//! The opt-in styles over HTTPS. With `--opt-in pod-annotation` the API server sends every pod
//! in scope: only pods carrying the annotation are reviewed, and a pod without it comes back
//! allowed and untouched even when its ServiceAccount cannot be read, its annotations are bad
//! or it is too big to parse. With a label style, denials name that label. The chart renders
//! each style's selector and flags, and refuses the annotation style with `failurePolicy: Fail`
//! unless the namespaces are narrowed.

use serde_json::{Value, json};

use super::webhook::{client, fixture, patched_pod, post, runtime, start_webhook};
use crate::support::{self, agent::Sandbox, apiserver::ApiServer};

const KEY: &str = "example.com/gcp-credentials";
const ANNOTATION_OPT_IN: [&str; 6] =
    ["--opt-in", "pod-annotation", "--opt-in-key", KEY, "--opt-in-value", "please inject"];

/// The recorded review `name`, its pod annotated with the opt-in.
fn opted_in(name: &str) -> Value {
    let mut review = fixture(name);
    review["request"]["object"]["metadata"]["annotations"][KEY] = json!("please inject");
    review
}

fn untouched(answer: &Value) -> bool {
    answer["response"]["allowed"] == true
        && answer["response"].get("patch").is_none()
        && answer["response"].get("status").is_none()
}

#[test]
fn with_the_annotation_opt_in_an_annotated_pod_is_mutated_and_a_labelled_one_is_left_alone() {
    let api = ApiServer::start();
    api.add_service_account(
        "team-a",
        "api",
        &[("iam.gke.io/gcp-service-account", "api@my-project.iam.gserviceaccount.com")],
    );
    let (webhook, pem) = start_webhook(Sandbox::new(), Some(&api), &ANNOTATION_OPT_IN);
    let (rt, http) = (runtime(), client(&pem));
    let review = opted_in("pod.json");
    let (status, answer) = post(&rt, &http, &webhook, review.to_string());
    assert_eq!((status, &answer["response"]["allowed"]), (200, &Value::Bool(true)), "{answer}");
    let pod = patched_pod(&review, &answer);
    let args = pod["spec"]["initContainers"][0]["args"].to_string();
    assert!(args.contains("--service-account=api@my-project.iam.gserviceaccount.com"), "{args}");
    // The fixture's own label is not the opt-in in this style, nor is another value.
    let (status, answer) = post(&rt, &http, &webhook, fixture("pod.json").to_string());
    assert!(status == 200 && untouched(&answer), "{answer}");
    let mut other_value = fixture("pod.json");
    other_value["request"]["object"]["metadata"]["annotations"][KEY] = json!("true");
    let (status, answer) = post(&rt, &http, &webhook, other_value.to_string());
    assert!(status == 200 && untouched(&answer), "{answer}");
    let metrics = support::running::get(webhook.agent.admin.expect("admin"), "/metrics", &[]).body;
    assert!(
        metrics.contains(r#"gcp_token_agent_admissions_total{namespace="team-a",result="skipped"} 2"#),
        "{metrics}"
    );
}

#[test]
fn a_pod_without_the_annotation_passes_untouched_whatever_would_fail_for_it() {
    // No API server answers: every ServiceAccount lookup fails.
    let (webhook, pem) = start_webhook(Sandbox::new(), None, &ANNOTATION_OPT_IN);
    let (rt, http) = (runtime(), client(&pem));
    // Opted in, the same pods fail: the lookup (503, the failure policy decides) or the checks.
    let (status, _) = post(&rt, &http, &webhook, opted_in("pod.json").to_string());
    assert_eq!(status, 503, "an opted-in pod needs its ServiceAccount");
    let mut named = opted_in("pod-bad-annotation.json");
    named["request"]["object"]["metadata"]["annotations"]["gcp-token-agent.io/service-account"] =
        json!("app@my-project.iam.gserviceaccount.com");
    let (_, answer) = post(&rt, &http, &webhook, named.to_string());
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    // Not opted in: allowed and untouched, before any of that.
    for name in ["pod.json", "pod-bad-annotation.json", "pod-volume-conflict.json", "pod-no-containers.json"]
    {
        let (status, answer) = post(&rt, &http, &webhook, fixture(name).to_string());
        assert!(status == 200 && untouched(&answer), "{name}: {status} {answer}");
    }
    // Too many JSON values to parse (an opted-in pod is denied 413 unparsed): still untouched.
    let mut review = fixture("pod.json");
    review["request"]["object"]["metadata"]["annotations"]["x"] = Value::Null;
    let zeros = format!("{{\"pad\":[{}0]}}", "0,".repeat(1_400_000));
    let body = review.to_string().replacen(r#""x":null"#, &format!(r#""x":{zeros}"#), 1);
    let (status, answer) = post(&rt, &http, &webhook, body);
    assert!(status == 200 && untouched(&answer), "{status} {answer}");
}

#[test]
fn denials_name_the_opt_in_in_use() {
    let api = ApiServer::start();
    let cases: [(&[&str], &str); 3] = [
        (&[], "remove the pod label gcp-token-agent.io/inject: \"true\""),
        (
            &["--opt-in", "namespace-label", "--opt-in-key", "team", "--opt-in-value", "payments"],
            "run it in a namespace without the label team: \"payments\"",
        ),
        (&ANNOTATION_OPT_IN, "remove the pod annotation example.com/gcp-credentials: \"please inject\""),
    ];
    for (flags, wanted) in cases {
        let (webhook, pem) = start_webhook(Sandbox::new(), Some(&api), flags);
        let (rt, http) = (runtime(), client(&pem));
        let mut review = opted_in("pod.json");
        review["request"]["object"]["spec"]["hostNetwork"] = json!(true);
        let (status, answer) = post(&rt, &http, &webhook, review.to_string());
        let message = answer["response"]["status"]["message"].as_str().unwrap_or_default();
        assert_eq!(status, 200);
        assert!(message.contains("hostNetwork") && message.contains(wanted), "{flags:?}: {message}");
    }
}

#[test]
fn a_bad_opt_in_flag_is_refused_at_start_naming_it() {
    let sandbox = Sandbox::new();
    let common = ["webhook", "--tls-cert", "c", "--tls-key", "k", "--agent-image", "example.com/a:1"];
    for (extra, flag) in [
        (["--opt-in-key", "not a key"], "--opt-in-key"),
        // The webhook reads every gcp-token-agent.io/ annotation as a setting, or refuses it.
        (["--opt-in-key", "gcp-token-agent.io/enabled"], "--opt-in-key"),
        (["--opt-in-key", "gcp-token-agent.io/service-account"], "--opt-in-key"),
        (["--opt-in-value", "not a label value"], "--opt-in-value"),
    ] {
        let out = sandbox.run(&[&common[..], &extra[..]].concat());
        assert!(out.fails_with(64).contains(&format!("{flag}:")), "{}", out.stderr);
    }
}

/// `helm template` with `--set` values; the output, or the error.
fn helm_template(sets: &[&str]) -> Result<String, String> {
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/gcp-token-agent");
    let mut helm = std::process::Command::new("helm");
    helm.args(["template", "gcp-token-agent", chart, "-n", "gcp-token-agent"]);
    for set in sets {
        helm.args(["--set", set]);
    }
    let output = helm.output().expect("helm (scripts/setup/install-test-deps.sh)");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    if output.status.success() { Ok(text(&output.stdout)) } else { Err(text(&output.stderr)) }
}

#[test]
#[ignore = "needs helm: scripts/setup/install-test-deps.sh"]
fn each_opt_in_style_renders_its_selector_and_the_webhook_its_flag() {
    use super::webhook_probe::render;
    let webhook = |values| render(values, "templates/webhook.yaml")["webhooks"][0].clone();
    let args = |values| {
        render(values, "templates/deployment.yaml")["spec"]["template"]["spec"]["containers"][0]["args"]
            .to_string()
    };
    let default = webhook(None);
    assert_eq!(default["objectSelector"], json!({"matchLabels": {"gcp-token-agent.io/inject": "true"}}));
    assert!(default["namespaceSelector"].get("matchLabels").is_none());
    assert!(!args(None).contains("--opt-in"), "the default renders as before");
    let label = webhook(Some("opt-in-pod-label-values.yaml"));
    assert_eq!(label["objectSelector"], json!({"matchLabels": {"example.com/gcp-credentials": "enabled"}}));
    let namespace = webhook(Some("opt-in-namespace-label-values.yaml"));
    assert!(namespace.get("objectSelector").is_none(), "{namespace}");
    assert_eq!(namespace["namespaceSelector"]["matchLabels"], json!({"gcp-token-agent.io/inject": "true"}));
    assert!(args(Some("opt-in-namespace-label-values.yaml")).contains("--opt-in=namespace-label"));
    let annotation = webhook(Some("opt-in-pod-annotation-values.yaml"));
    assert!(
        annotation.get("objectSelector").is_none()
            && annotation["namespaceSelector"].get("matchLabels").is_none()
    );
    let flags = args(Some("opt-in-pod-annotation-values.yaml"));
    for flag in [
        "--opt-in=pod-annotation",
        "--opt-in-key=example.com/gcp-credentials",
        "--opt-in-value=please inject",
    ] {
        assert!(flags.contains(flag), "{flag} in {flags}");
    }
}

#[test]
#[ignore = "needs helm: scripts/setup/install-test-deps.sh"]
fn the_chart_refuses_the_annotation_opt_in_with_fail_unless_the_namespaces_are_narrowed() {
    let style = "webhook.optIn.style=podAnnotation";
    let error = helm_template(&[style]).expect_err("refused");
    for named in [
        "webhook.optIn.style=podAnnotation",
        "webhook.failurePolicy=Fail",
        "webhook.namespaceSelectorExpressions",
    ] {
        assert!(error.contains(named), "{named} in {error}");
    }
    let not_in = [
        "webhook.namespaceSelectorExpressions[0].key=team",
        "webhook.namespaceSelectorExpressions[0].operator=NotIn",
        "webhook.namespaceSelectorExpressions[0].values[0]=a",
    ];
    assert!(helm_template(&[&[style][..], &not_in[..]].concat()).is_err(), "NotIn narrows nothing");
    let exists = [
        "webhook.namespaceSelectorExpressions[0].key=team",
        "webhook.namespaceSelectorExpressions[0].operator=Exists",
    ];
    assert!(helm_template(&[&[style][..], &exists[..]].concat()).is_ok());
    assert!(helm_template(&[style, "webhook.failurePolicy=Ignore"]).is_ok());
}
