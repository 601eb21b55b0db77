//! Pods the webhook refuses, and the message that names the fix.

use super::*;

#[test]
fn unsafe_pods_are_denied_saying_why() {
    let ctx = context(true);
    let denied = |edit: &dyn Fn(&mut Value)| {
        let mut pod = fixture("pod.json");
        edit(&mut pod);
        mutate(&pod, &ctx).expect_err("denied")
    };
    assert!(denied(&|p| p["spec"]["hostNetwork"] = json!(true)).contains("hostNetwork"));
    assert!(denied(&|p| p["spec"]["os"] = json!({"name": "windows"})).contains("Windows"));
    assert!(
        denied(&|p| p["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "windows"})).contains("Windows")
    );
    let conflict = denied(&|p| p["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8990));
    assert!(conflict.contains("8990") && conflict.contains("gcp-token-agent.io/admin-port"), "{conflict}");
    let bad = denied(&|p| p["metadata"]["annotations"]["gcp-token-agent.io/scopes"] = json!("not a scope"));
    assert!(bad.contains("gcp-token-agent.io/scopes"), "{bad}");
}

#[test]
fn bad_pods_are_denied_with_a_message_naming_the_fix() {
    let ctx = context(true);
    let denied = |name: &str| mutate(&fixture(name), &ctx).expect_err("denied");
    assert!(denied("pod-volume-conflict.json").contains("gcp-token-agent-tokens"));
    assert!(denied("pod-no-containers.json").contains("no containers"));
    assert!(denied("pod-bad-annotation.json").contains("gcp-token-agent.io/token-expiration"));
    let mut no_provider = context(true);
    no_provider.default_provider = None;
    assert!(
        mutate(&fixture("pod.json"), &no_provider)
            .expect_err("denied")
            .contains("workload-identity-provider")
    );
    let mut bad_ksa = context(true);
    bad_ksa.ksa_service_account = Some("a@b".to_owned());
    assert!(
        mutate(&fixture("pod.json"), &bad_ksa)
            .expect_err("denied")
            .contains("iam.gke.io/gcp-service-account")
    );
}
