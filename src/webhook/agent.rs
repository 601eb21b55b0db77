//! The injected agent container: `run` with the flags the pod's plan resolves to, probes,
//! a restricted security context, resources, and the operator's extra env and CA bundle.

use serde_json::{Value, json};

pub(crate) use crate::config::AgentSettings;
use crate::{telemetry::LogFormat, validate::Scope};

use super::{
    annotations::DEFAULT_OUTPUT_PATH,
    mutate::{AGENT_CONTAINER, CA_VOLUME, KSA_VOLUME, Plan, TOKENS_VOLUME},
};

const KSA_MOUNT: &str = "/var/run/secrets/gcp-token-agent/ksa";
/// Where `--agent-ca-configmap` is mounted in the agent.
pub(crate) const CA_MOUNT: &str = "/etc/gcp-token-agent/ca";

/// The agent's admin port's name, which the chart's PodMonitor selects.
pub(crate) const METRICS_PORT: &str = "metrics";

/// The container for `plan`.
pub(crate) fn container(plan: &Plan<'_>) -> Value {
    let ctx = plan.ctx;
    let native = ctx.native_sidecar;
    let mut mounts = vec![json!({"name": TOKENS_VOLUME, "mountPath": DEFAULT_OUTPUT_PATH})];
    if plan.federated() {
        mounts.push(json!({"name": KSA_VOLUME, "mountPath": KSA_MOUNT, "readOnly": true}));
    }
    if ctx.agent.ca_configmap.is_some() {
        mounts.push(json!({"name": CA_VOLUME, "mountPath": CA_MOUNT, "readOnly": true}));
    }
    let mut container = serde_json::Map::new();
    let mut set = |key: &str, value: Value| container.insert(key.to_owned(), value);
    set("name", json!(AGENT_CONTAINER));
    set("image", json!(ctx.agent_image));
    set("args", json!(args(plan)));
    // Named so a PodMonitor selects the agent's /metrics by port (the chart's podMonitor);
    // the admin listener serves it beside the probes.
    set("ports", json!([{"name": METRICS_PORT, "containerPort": plan.admin_port, "protocol": "TCP"}]));
    set("livenessProbe", probe("/healthz", plan.admin_port, 10, 3));
    set("securityContext", security_context(ctx.agent.run_as_user));
    set("resources", resources(&plan.settings.resources, &ctx.agent.resources));
    set("volumeMounts", Value::Array(mounts));
    if native {
        set("restartPolicy", json!("Always"));
        set("startupProbe", probe("/readyz", plan.admin_port, 1, 60));
    } else {
        set("readinessProbe", probe("/readyz", plan.admin_port, 5, 3));
    }
    let env = env(&ctx.agent);
    if !env.is_empty() {
        set("env", Value::Array(env));
    }
    Value::Object(container)
}

/// The `run` command line. Every flag here is checked by a test that parses it with `run`'s
/// own parser, so a renamed flag cannot ship broken sidecars.
pub(crate) fn args(plan: &Plan<'_>) -> Vec<String> {
    let mut args = vec!["run".to_owned()];
    if plan.federated() {
        args.push(format!("--subject-token-file={KSA_MOUNT}/token"));
        args.push(format!("--workload-identity-provider={}", plan.provider));
        if let Some(email) = &plan.service_account {
            args.push(format!("--service-account={}", email.as_str()));
        }
    } else {
        // GKE's metadata server already answers as the KSA's annotated service account.
        args.push("--source=metadata".to_owned());
    }
    args.push(format!("--output-dir={DEFAULT_OUTPUT_PATH}"));
    // The files live in the pod's own memory volume; app containers run as any user.
    args.push("--file-mode=0644".to_owned());
    args.push(format!("--listen=127.0.0.1:{}", plan.metadata_port));
    // Dual stack: kubelet probes the pod IP, which is IPv6 on IPv6-only clusters.
    args.push(format!("--admin-listen=[::]:{}", plan.admin_port));
    if let Some(scopes) = &plan.settings.scopes {
        args.push(format!("--scopes={}", Scope::joined(scopes, ",")));
    }
    for spec in plan.id_tokens() {
        args.push(format!("--id-token={}={}", spec.name, spec.audience));
    }
    if let Some(project) = &plan.project_id {
        args.push(format!("--project-id={project}"));
    }
    let agent = &plan.ctx.agent;
    if let Some(zone) = plan.settings.zone.as_ref().or(agent.zone.as_ref()) {
        args.push(format!("--zone={zone}"));
    }
    if let Some(name) = &agent.cluster_name {
        args.push(format!("--cluster-name={name}"));
    }
    if let Some(location) = &agent.cluster_location {
        args.push(format!("--cluster-location={location}"));
    }
    if let Some(level) = &agent.log_level {
        args.push(format!("--log-level={level}"));
    }
    match agent.log_format {
        Some(LogFormat::Json) => args.push("--log-format=json".to_owned()),
        Some(LogFormat::Text) => args.push("--log-format=text".to_owned()),
        None => {}
    }
    args
}

/// `instance/name` is the pod's name, known only once the pod exists (a Deployment's pods are
/// named by the API server after admission), so it comes from the downward API.
const INSTANCE_NAME_ENV: &str = "GCP_TOKEN_AGENT_INSTANCE_NAME";

fn env(agent: &AgentSettings) -> Vec<Value> {
    let set = |name: &str| agent.env.iter().any(|(n, _)| n == name);
    let mut env = Vec::new();
    if !set(INSTANCE_NAME_ENV) {
        env.push(
            json!({"name": INSTANCE_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        );
    }
    env.extend(agent.env.iter().map(|(name, value)| json!({"name": name, "value": value})));
    if agent.ca_configmap.is_some() && !set("SSL_CERT_FILE") {
        env.push(json!({"name": "SSL_CERT_FILE", "value": format!("{CA_MOUNT}/{}", agent.ca_key)}));
    }
    env
}

fn probe(path: &str, port: u16, period: u32, failures: u32) -> Value {
    json!({"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures})
}

/// Non-root, read-only, no privileges: the agent needs none.
fn security_context(run_as_user: Option<i64>) -> Value {
    let mut context = json!({
        "runAsNonRoot": true,
        "readOnlyRootFilesystem": true,
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    });
    if let (Some(uid), Some(map)) = (run_as_user, context.as_object_mut()) {
        map.insert("runAsUser".to_owned(), json!(uid));
    }
    context
}

/// The pod's annotation wins over the operator's default, one quantity at a time.
fn resources(pod: &[Option<String>; 4], defaults: &[Option<String>; 4]) -> Value {
    let pick = |i: usize| pod.get(i).cloned().flatten().or_else(|| defaults.get(i).cloned().flatten());
    let pair = |cpu: Option<String>, memory: Option<String>| {
        let mut map = serde_json::Map::new();
        if let Some(cpu) = cpu {
            map.insert("cpu".to_owned(), Value::String(cpu));
        }
        if let Some(memory) = memory {
            map.insert("memory".to_owned(), Value::String(memory));
        }
        map
    };
    let mut out = serde_json::Map::new();
    for (key, map) in [("requests", pair(pick(0), pick(1))), ("limits", pair(pick(2), pick(3)))] {
        if !map.is_empty() {
            out.insert(key.to_owned(), Value::Object(map));
        }
    }
    Value::Object(out)
}
