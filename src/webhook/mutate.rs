//! The mutation, as a pure function: a Pod and the injection context in, a JSON patch out.
//! Applying it twice adds nothing; other containers (native sidecars included), user
//! settings and existing env vars are left as they are.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{
        Capabilities, Container, EmptyDirVolumeSource, EnvVar, HTTPGetAction, Pod, Probe,
        ProjectedVolumeSource, ResourceRequirements, SeccompProfile, SecurityContext,
        ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
    },
    apimachinery::pkg::{api::resource::Quantity, util::intstr::IntOrString},
};

use super::annotations::{self, DEFAULT_OUTPUT_PATH, METADATA_PROVIDER, PodSettings};

/// The injected container's name; its presence makes the mutation a no-op.
pub const AGENT_CONTAINER: &str = "gcp-token-agent";
/// The projected Kubernetes token volume.
pub const KSA_VOLUME: &str = "gcp-token-agent-ksa-token";
/// The in-memory volume the token files live in.
pub const TOKENS_VOLUME: &str = "gcp-token-agent-tokens";
const KSA_MOUNT: &str = "/var/run/secrets/gcp-token-agent/ksa";
/// The kubelet rotates projected tokens at 80% of this; Google's STS accepts up to 48 h.
const DEFAULT_TOKEN_EXPIRATION: i64 = 3600;

/// Everything the mutation depends on besides the pod.
#[derive(Debug, Clone)]
pub struct InjectContext {
    /// The agent image.
    pub agent_image: String,
    /// The provider used when the pod names none (`metadata` proxies the node's server).
    pub default_provider: Option<String>,
    /// Native sidecar (init container with `restartPolicy: Always`) or a classic container.
    pub native_sidecar: bool,
    /// `GOOGLE_CLOUD_PROJECT` when the pod names none.
    pub project_id: Option<String>,
    /// The agent's loopback metadata port inside the pod.
    pub metadata_port: u16,
    /// The agent's admin (probe) port inside the pod.
    pub admin_port: u16,
    /// The KSA's `iam.gke.io/gcp-service-account`, looked up by the handler.
    pub ksa_service_account: Option<String>,
}

/// A successful review: the patch (empty when nothing changes) and warnings for the user.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// RFC 6902 operations.
    pub patch: json_patch::Patch,
    /// Shown to the client that created the pod.
    pub warnings: Vec<String>,
}

/// Computes the patch for `pod`, or a denial message naming what to fix.
pub fn mutate(pod: &Pod, ctx: &InjectContext) -> Result<Outcome, String> {
    let spec = pod.spec.as_ref().ok_or("the pod has no spec")?;
    if spec.containers.is_empty() {
        return Err("the pod has no containers".to_owned());
    }
    let already = |c: &Container| c.name == AGENT_CONTAINER;
    if spec.containers.iter().any(already) || spec.init_containers.iter().flatten().any(already) {
        return Ok(Outcome::default());
    }
    for name in [KSA_VOLUME, TOKENS_VOLUME] {
        if spec.volumes.iter().flatten().any(|v| v.name == name) {
            return Err(format!(
                "the pod already has a volume named \"{name}\", which the injected agent needs; rename it"
            ));
        }
    }
    let no_annotations = BTreeMap::new();
    let settings = annotations::parse(pod.metadata.annotations.as_ref().unwrap_or(&no_annotations))?;
    let plan = Plan::new(&settings, ctx)?;
    let mut patched = pod.clone();
    let warnings = plan.apply(&mut patched, &settings);
    let before = serde_json::to_value(pod).map_err(|e| e.to_string())?;
    let after = serde_json::to_value(&patched).map_err(|e| e.to_string())?;
    Ok(Outcome { patch: json_patch::diff(&before, &after), warnings })
}

/// The resolved injection for one pod.
struct Plan<'a> {
    ctx: &'a InjectContext,
    provider: String,
    service_account: Option<String>,
    output_path: String,
    project_id: Option<String>,
    token_expiration: i64,
}

impl<'a> Plan<'a> {
    fn new(settings: &PodSettings, ctx: &'a InjectContext) -> Result<Self, String> {
        let provider = settings.provider.clone().or_else(|| ctx.default_provider.clone()).ok_or(
            "no workload identity provider: set annotation gcp-token-agent.io/workload-identity-provider, \
             or the webhook's --workload-identity-provider (chart value workloadIdentityProvider)",
        )?;
        Ok(Self {
            ctx,
            provider,
            service_account: settings.service_account.clone().or_else(|| ctx.ksa_service_account.clone()),
            output_path: settings.output_path.clone().unwrap_or_else(|| DEFAULT_OUTPUT_PATH.to_owned()),
            project_id: settings.project_id.clone().or_else(|| ctx.project_id.clone()),
            token_expiration: settings.token_expiration.unwrap_or(DEFAULT_TOKEN_EXPIRATION),
        })
    }

    fn federated(&self) -> bool {
        self.provider != METADATA_PROVIDER
    }

    fn apply(&self, pod: &mut Pod, settings: &PodSettings) -> Vec<String> {
        let spec = pod.spec.get_or_insert_with(Default::default);
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        if self.federated() {
            volumes.push(self.ksa_volume());
        }
        volumes.push(tokens_volume());
        let mut warnings = Vec::new();
        for name in &settings.skip_containers {
            if !spec.containers.iter().any(|c| &c.name == name) {
                warnings.push(format!("gcp-token-agent.io/skip-containers names \"{name}\", which is not a container of this pod"));
            }
        }
        for container in spec.containers.iter_mut().filter(|c| !settings.skip_containers.contains(&c.name)) {
            self.wire_app_container(container);
        }
        let agent = self.agent_container(settings);
        if self.ctx.native_sidecar {
            spec.init_containers.get_or_insert_with(Vec::new).insert(0, agent);
        } else {
            spec.containers.push(agent);
        }
        warnings
    }

    /// The KSA token, with the audience Google's providers accept by default.
    fn ksa_volume(&self) -> Volume {
        let audience =
            self.provider.strip_prefix("//").map_or(self.provider.clone(), |rest| format!("https://{rest}"));
        let projection = ServiceAccountTokenProjection {
            audience: Some(audience),
            expiration_seconds: Some(self.token_expiration),
            path: "token".to_owned(),
        };
        Volume {
            name: KSA_VOLUME.to_owned(),
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![VolumeProjection {
                    service_account_token: Some(projection),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn wire_app_container(&self, container: &mut Container) {
        let host = format!("127.0.0.1:{}", self.ctx.metadata_port);
        let mut wanted = vec![
            ("GCE_METADATA_HOST", host.clone()),
            ("GCE_METADATA_IP", host.clone()),
            ("GCE_METADATA_ROOT", host),
            ("GCP_ACCESS_TOKEN_FILE", format!("{}/token", self.output_path)),
        ];
        if let Some(project) = &self.project_id {
            wanted.push(("GOOGLE_CLOUD_PROJECT", project.clone()));
        }
        let env = container.env.get_or_insert_with(Vec::new);
        for (name, value) in wanted {
            // The user's own setting wins.
            if !env.iter().any(|e| e.name == name) {
                env.push(EnvVar { name: name.to_owned(), value: Some(value), value_from: None });
            }
        }
        let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
        if !mounts.iter().any(|m| m.mount_path == self.output_path) {
            mounts.push(VolumeMount {
                name: TOKENS_VOLUME.to_owned(),
                mount_path: self.output_path.clone(),
                read_only: Some(true),
                ..Default::default()
            });
        }
    }

    fn agent_container(&self, settings: &PodSettings) -> Container {
        let mut mounts = vec![VolumeMount {
            name: TOKENS_VOLUME.to_owned(),
            mount_path: DEFAULT_OUTPUT_PATH.to_owned(),
            ..Default::default()
        }];
        if self.federated() {
            mounts.push(VolumeMount {
                name: KSA_VOLUME.to_owned(),
                mount_path: KSA_MOUNT.to_owned(),
                read_only: Some(true),
                ..Default::default()
            });
        }
        Container {
            name: AGENT_CONTAINER.to_owned(),
            image: Some(self.ctx.agent_image.clone()),
            args: Some(self.agent_args(settings)),
            restart_policy: self.ctx.native_sidecar.then(|| "Always".to_owned()),
            startup_probe: self.ctx.native_sidecar.then(|| probe("/readyz", self.ctx.admin_port, 1, 60)),
            readiness_probe: (!self.ctx.native_sidecar).then(|| probe("/readyz", self.ctx.admin_port, 5, 3)),
            liveness_probe: Some(probe("/healthz", self.ctx.admin_port, 10, 3)),
            security_context: Some(restricted()),
            resources: Some(resources()),
            volume_mounts: Some(mounts),
            ..Default::default()
        }
    }

    fn agent_args(&self, settings: &PodSettings) -> Vec<String> {
        let mut args = vec!["run".to_owned()];
        if self.federated() {
            args.push(format!("--subject-token-file={KSA_MOUNT}/token"));
            args.push(format!("--workload-identity-provider={}", self.provider));
            if let Some(email) = &self.service_account {
                args.push(format!("--service-account={email}"));
            }
        } else {
            // GKE's metadata server already answers as the KSA's annotated service account.
            args.push("--source=metadata".to_owned());
        }
        args.push(format!("--output-dir={DEFAULT_OUTPUT_PATH}"));
        // The files live in the pod's own memory volume; app containers run as any user.
        args.push("--file-mode=0644".to_owned());
        args.push(format!("--listen=127.0.0.1:{}", self.ctx.metadata_port));
        args.push(format!("--admin-listen=0.0.0.0:{}", self.ctx.admin_port));
        if let Some(scopes) = &settings.scopes {
            args.push(format!("--scopes={scopes}"));
        }
        for spec in settings.id_tokens.as_deref().map(annotations::split).unwrap_or_default() {
            args.push(format!("--id-token={spec}"));
        }
        if let Some(project) = &self.project_id {
            args.push(format!("--project-id={project}"));
        }
        args
    }
}

fn tokens_volume() -> Volume {
    Volume {
        name: TOKENS_VOLUME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".to_owned()),
            size_limit: Some(Quantity("1Mi".to_owned())),
        }),
        ..Default::default()
    }
}

fn probe(path: &str, port: u16, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(i32::from(port)),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

/// Non-root, read-only, no privileges: the agent needs none.
fn restricted() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65532),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), add: None }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), localhost_profile: None }),
        ..Default::default()
    }
}

fn resources() -> ResourceRequirements {
    let quantities = |cpu: &str, memory: &str| {
        Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
        ]))
    };
    ResourceRequirements {
        requests: quantities("10m", "16Mi"),
        limits: quantities("200m", "64Mi"),
        ..Default::default()
    }
}
