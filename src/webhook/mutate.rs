//! The mutation, as a pure function over the pod exactly as the API server sent it: the raw
//! JSON and the injection context in, RFC 6902 `add`/`replace` operations out. No typed round
//! trip, so fields no model knows (newer Kubernetes, other webhooks) stay where they are.
//! Every review wires whatever is not wired yet and adds nothing else, so reinvocations pick
//! up containers that later webhooks added, and a review of the result is a no-op.

use serde_json::{Map, Value, json};

use super::{
    agent,
    annotations::{self, DEFAULT_OUTPUT_PATH, GKE_GSA_ANNOTATION, METADATA_PROVIDER, PodSettings},
    wire,
};
use crate::{
    config::{IdTokenSpec, OptIn},
    validate::{ProjectId, ServiceAccountEmail},
};

/// The injected container's name; its presence means the pod is already injected.
pub(crate) const AGENT_CONTAINER: &str = "gcp-token-agent";
/// The projected Kubernetes token volume.
pub(crate) const KSA_VOLUME: &str = "gcp-token-agent-ksa-token";
/// The in-memory volume the token files live in.
pub(crate) const TOKENS_VOLUME: &str = "gcp-token-agent-tokens";
/// The ConfigMap volume of an extra CA bundle for the agent.
pub(crate) const CA_VOLUME: &str = "gcp-token-agent-ca";
/// The kubelet rotates projected tokens at 80% of this; Google's STS accepts up to 48 h.
const DEFAULT_TOKEN_EXPIRATION: i64 = 3600;

/// Everything the mutation depends on besides the pod.
#[derive(Debug, Clone)]
pub(crate) struct InjectContext {
    pub(crate) agent_image: String,
    /// The provider used when the pod names none (`metadata` proxies the node's server).
    pub(crate) default_provider: Option<String>,
    /// Native sidecar (init container with `restartPolicy: Always`) or a classic container.
    pub(crate) native_sidecar: bool,
    /// `GOOGLE_CLOUD_PROJECT` when the pod names none.
    pub(crate) project_id: Option<ProjectId>,
    /// The agent's loopback metadata port inside the pod.
    pub(crate) metadata_port: u16,
    /// The agent's admin (probe) port inside the pod.
    pub(crate) admin_port: u16,
    /// The KSA's `iam.gke.io/gcp-service-account`, looked up by the handler.
    pub(crate) ksa_service_account: Option<String>,
    /// How the agent container itself is set up.
    pub(crate) agent: agent::AgentSettings,
    /// How pods ask for the agent, named in denials of pods that cannot have it.
    pub(crate) opt_in: OptIn,
}

/// A successful review: the operations (none when nothing changes) and warnings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    /// RFC 6902 operations, in the order they apply.
    pub(crate) patch: Vec<Value>,
    /// Shown to the client that created the pod.
    pub(crate) warnings: Vec<String>,
}

/// Computes the patch for the raw `pod`, or a denial message naming what to fix.
pub(crate) fn mutate(pod: &Value, ctx: &InjectContext) -> Result<Outcome, String> {
    let spec = pod.get("spec").and_then(Value::as_object).ok_or("the pod has no spec")?;
    let containers = list(spec, "containers");
    if containers.is_empty() {
        return Err("the pod has no containers".to_owned());
    }
    refuse_unsafe(spec, &ctx.opt_in)?;
    let settings = annotations::parse(pod.pointer("/metadata/annotations").and_then(Value::as_object))?;
    let plan = Plan::new(settings, ctx)?;
    let init = list(spec, "initContainers");
    plan.check_ports(containers.iter().chain(init))?;
    let injected = containers.iter().chain(init).any(is_agent);
    let mut out = Outcome::default();
    if !injected {
        plan.add_volumes(spec, &mut out.patch)?;
    }
    plan.warn_about_skips(containers.iter().chain(init), &mut out.warnings);
    if !plan.federated() && plan.settings.service_account.is_some() {
        out.warnings.push(
            "gcp-token-agent.io/service-account is ignored with the metadata provider: GKE's metadata \
             server answers as the Kubernetes service account's iam.gke.io/gcp-service-account"
                .to_owned(),
        );
    }
    let wanted = plan.app_env();
    for (field, list) in [("containers", containers), ("initContainers", init)] {
        for (i, container) in list.iter().enumerate() {
            let skipped = plan.settings.skip_containers.iter().any(|s| Some(s.as_str()) == name(container));
            if !is_agent(container) && !skipped {
                let base = format!("/spec/{field}/{i}");
                wire::container(container, &base, &wanted, &plan.output_path, &mut out.patch);
            }
        }
    }
    if !injected {
        if !ctx.native_sidecar && !init.is_empty() {
            out.warnings.push(
                "classic sidecar mode: init containers run before the agent starts and cannot get tokens"
                    .to_owned(),
            );
        }
        plan.add_agent(spec, &mut out.patch);
    }
    Ok(out)
}

/// Pods the agent cannot serve safely are refused, saying why and how to stop asking.
fn refuse_unsafe(spec: &Map<String, Value>, opt_in: &OptIn) -> Result<(), String> {
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        return Err(format!(
            "the pod sets hostNetwork: true, so the agent's loopback token API would serve every \
             process on the node; run the pod without hostNetwork, or {}",
            opt_in.how_to_leave()
        ));
    }
    let os = spec.get("os").and_then(|os| os.get("name")).and_then(Value::as_str);
    let selected = spec.get("nodeSelector").and_then(|s| s.get("kubernetes.io/os")).and_then(Value::as_str);
    if os == Some("windows") || selected == Some("windows") {
        return Err(format!(
            "the pod runs on Windows nodes, and the agent image is Linux only; {}",
            opt_in.how_to_leave()
        ));
    }
    Ok(())
}

/// The array `spec[key]`, or an empty slice.
fn list<'a>(spec: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    spec.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn name(container: &Value) -> Option<&str> {
    container.get("name").and_then(Value::as_str)
}

fn is_agent(container: &Value) -> bool {
    name(container) == Some(AGENT_CONTAINER)
}

/// The resolved injection for one pod.
pub(crate) struct Plan<'a> {
    pub(crate) ctx: &'a InjectContext,
    pub(crate) settings: PodSettings,
    pub(crate) provider: String,
    pub(crate) service_account: Option<ServiceAccountEmail>,
    pub(crate) output_path: String,
    pub(crate) project_id: Option<ProjectId>,
    pub(crate) token_expiration: i64,
    pub(crate) metadata_port: u16,
    pub(crate) admin_port: u16,
}

impl<'a> Plan<'a> {
    fn new(settings: PodSettings, ctx: &'a InjectContext) -> Result<Self, String> {
        let provider = settings.provider.clone().or_else(|| ctx.default_provider.clone()).ok_or(
            "no workload identity provider: set annotation gcp-token-agent.io/workload-identity-provider, \
             or the webhook's --workload-identity-provider (chart value agent.workloadIdentityProvider)",
        )?;
        // The KSA's annotation is the cluster's text, read per review: parsed here, once.
        let ksa = ctx.ksa_service_account.as_deref().map(ServiceAccountEmail::parse).transpose();
        let ksa = ksa.map_err(|why| {
            format!("the Kubernetes service account's annotation {GKE_GSA_ANNOTATION}: {why}")
        })?;
        let service_account = settings.service_account.clone().or(ksa);
        let project_id = settings
            .project_id
            .clone()
            .or_else(|| ctx.project_id.clone())
            .or_else(|| service_account.as_ref().and_then(|email| ProjectId::of_email(email.as_str())));
        let metadata_port = settings.port.unwrap_or(ctx.metadata_port);
        let admin_port = settings.admin_port.unwrap_or(ctx.admin_port);
        if metadata_port == admin_port {
            return Err(format!(
                "the agent's metadata and admin ports are both {metadata_port}; set annotation \
                 gcp-token-agent.io/port or gcp-token-agent.io/admin-port"
            ));
        }
        Ok(Self {
            ctx,
            provider,
            service_account,
            output_path: settings.output_path.clone().unwrap_or_else(|| DEFAULT_OUTPUT_PATH.to_owned()),
            project_id,
            token_expiration: settings.token_expiration.unwrap_or(DEFAULT_TOKEN_EXPIRATION),
            metadata_port,
            admin_port,
            settings,
        })
    }

    pub(crate) fn federated(&self) -> bool {
        self.provider != METADATA_PROVIDER
    }

    pub(crate) fn id_tokens(&self) -> &[IdTokenSpec] {
        &self.settings.id_tokens
    }

    /// Containers share the pod's network: a declared port the agent needs is a conflict.
    fn check_ports<'v>(&self, containers: impl Iterator<Item = &'v Value>) -> Result<(), String> {
        for container in containers.filter(|c| !is_agent(c)) {
            let ports = container.get("ports").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            for port in ports.iter().filter_map(|p| p.get("containerPort").and_then(Value::as_u64)) {
                let (setting, ours) = if port == u64::from(self.metadata_port) {
                    ("gcp-token-agent.io/port", "metadata")
                } else if port == u64::from(self.admin_port) {
                    ("gcp-token-agent.io/admin-port", "admin")
                } else {
                    continue;
                };
                return Err(format!(
                    "container \"{}\" uses port {port}, which the agent's {ours} listener needs; \
                     set annotation {setting} to a free port",
                    name(container).unwrap_or("?")
                ));
            }
        }
        Ok(())
    }

    fn warn_about_skips<'v>(
        &self,
        containers: impl Iterator<Item = &'v Value> + Clone,
        warnings: &mut Vec<String>,
    ) {
        for skip in &self.settings.skip_containers {
            if !containers.clone().any(|c| name(c) == Some(skip.as_str())) {
                warnings.push(format!(
                    "gcp-token-agent.io/skip-containers names \"{skip}\", which is not a container of this pod"
                ));
            }
        }
    }

    /// The environment every app container gets (a value the container sets wins).
    fn app_env(&self) -> Vec<(&'static str, String)> {
        let host = format!("127.0.0.1:{}", self.metadata_port);
        let mut wanted = vec![
            ("GCE_METADATA_HOST", host.clone()),
            ("GCE_METADATA_IP", host.clone()),
            ("GCE_METADATA_ROOT", host),
            ("GCP_ACCESS_TOKEN_FILE", format!("{}/token", self.output_path)),
        ];
        if let Some(project) = &self.project_id {
            wanted.push(("GOOGLE_CLOUD_PROJECT", project.to_string()));
        }
        wanted
    }

    fn add_volumes(&self, spec: &Map<String, Value>, patch: &mut Vec<Value>) -> Result<(), String> {
        let mut volumes = vec![(TOKENS_VOLUME, tokens_volume())];
        if self.federated() {
            volumes.insert(0, (KSA_VOLUME, self.ksa_volume()));
        }
        if let Some(configmap) = &self.ctx.agent.ca_configmap {
            volumes.push((CA_VOLUME, json!({"name": CA_VOLUME, "configMap": {"name": configmap}})));
        }
        let existing = list(spec, "volumes");
        for (volume, _) in &volumes {
            if existing.iter().any(|v| v.get("name").and_then(Value::as_str) == Some(volume)) {
                return Err(format!(
                    "the pod already has a volume named \"{volume}\", which the injected agent needs; rename it"
                ));
            }
        }
        let values = volumes.into_iter().map(|(_, v)| v);
        append(patch, spec, "/spec", "volumes", values);
        Ok(())
    }

    fn add_agent(&self, spec: &Map<String, Value>, patch: &mut Vec<Value>) {
        let container = agent::container(self);
        if !self.ctx.native_sidecar {
            patch.push(add("/spec/containers/-", container));
        } else if spec.get("initContainers").is_some_and(Value::is_array) {
            // First, so app containers and the pod's own init containers start after it is ready.
            patch.push(add("/spec/initContainers/0", container));
        } else {
            patch.push(add("/spec/initContainers", json!([container])));
        }
    }

    /// The KSA token, with the audience Google's providers accept by default.
    fn ksa_volume(&self) -> Value {
        let audience =
            self.provider.strip_prefix("//").map_or(self.provider.clone(), |rest| format!("https://{rest}"));
        json!({
            "name": KSA_VOLUME,
            "projected": {"sources": [{"serviceAccountToken": {
                "audience": audience,
                "expirationSeconds": self.token_expiration,
                "path": "token",
            }}]},
        })
    }
}

fn tokens_volume() -> Value {
    json!({"name": TOKENS_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
}

/// An `add` operation.
pub(crate) fn add(path: &str, value: Value) -> Value {
    json!({"op": "add", "path": path, "value": value})
}

/// Appends `values` to the array `object[key]` at `base`: one `add` of the whole array when the
/// key is absent, else one `add .../-` per value, so existing items never move.
pub(crate) fn append(
    patch: &mut Vec<Value>,
    object: &Map<String, Value>,
    base: &str,
    key: &str,
    values: impl IntoIterator<Item = Value>,
) {
    let values: Vec<Value> = values.into_iter().collect();
    if values.is_empty() {
        return;
    }
    match object.get(key) {
        Some(Value::Array(_)) => patch.extend(values.into_iter().map(|v| add(&format!("{base}/{key}/-"), v))),
        _ => patch.push(add(&format!("{base}/{key}"), Value::Array(values))),
    }
}
