//! Per-pod settings from `gcp-token-agent.io/` annotations, each checked exactly as `run`
//! checks the flag it becomes (the same functions), with a message naming the annotation.

use serde_json::{Map, Value};

use crate::{
    config::{IdTokenSpec, parse_id_tokens},
    credentials::external_account::check_audience,
    validate::{self, ProjectId, Scope, ServiceAccountEmail, Zone},
};

/// The annotation prefix (the opt-in's check refuses keys under it too).
pub(crate) use crate::config::SETTINGS_PREFIX as PREFIX;
/// GKE's Kubernetes-service-account annotation naming the Google service account.
pub(crate) const GKE_GSA_ANNOTATION: &str = "iam.gke.io/gcp-service-account";
/// Provider value meaning "proxy the node's metadata server" (GKE Workload Identity).
pub(crate) const METADATA_PROVIDER: &str = "metadata";
/// Where token files appear in app containers by default.
pub(crate) const DEFAULT_OUTPUT_PATH: &str = "/var/run/gcp-token-agent";

/// Every annotation the webhook reads; any other `gcp-token-agent.io/` key is a typo.
const KNOWN: [&str; 15] = [
    "service-account",
    "workload-identity-provider",
    "scopes",
    "id-tokens",
    "skip-containers",
    "output-path",
    "project-id",
    "token-expiration",
    "cpu-request",
    "memory-request",
    "cpu-limit",
    "memory-limit",
    "port",
    "admin-port",
    "zone",
];

/// What a pod asked for, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PodSettings {
    pub(crate) service_account: Option<ServiceAccountEmail>,
    pub(crate) provider: Option<String>,
    /// Expanded scope URLs.
    pub(crate) scopes: Option<Vec<Scope>>,
    pub(crate) id_tokens: Vec<IdTokenSpec>,
    pub(crate) skip_containers: Vec<String>,
    pub(crate) output_path: Option<String>,
    pub(crate) project_id: Option<ProjectId>,
    /// Seconds.
    pub(crate) token_expiration: Option<i64>,
    /// `cpu-request`, `memory-request`, `cpu-limit`, `memory-limit`, in that order.
    pub(crate) resources: [Option<String>; 4],
    pub(crate) port: Option<u16>,
    pub(crate) admin_port: Option<u16>,
    /// The zone the agent reports (`run --zone`).
    pub(crate) zone: Option<Zone>,
}

/// The resource annotations, in [`PodSettings::resources`] order.
pub(crate) const RESOURCE_KEYS: [&str; 4] = ["cpu-request", "memory-request", "cpu-limit", "memory-limit"];

/// Reads and validates the annotations; every bad value is reported, naming its annotation.
pub(crate) fn parse(annotations: Option<&Map<String, Value>>) -> Result<PodSettings, String> {
    let empty = Map::new();
    let annotations = annotations.unwrap_or(&empty);
    let mut problems = Vec::new();
    let mut reader = Reader { annotations, problems: &mut problems };
    let settings = reader.settings();
    for key in annotations.keys().filter_map(|k| k.strip_prefix(PREFIX)) {
        if !KNOWN.contains(&key) && key != "inject" {
            problems.push(format!("annotation {PREFIX}{key} is not one gcp-token-agent reads (a typo?)"));
        }
    }
    if problems.is_empty() { Ok(settings) } else { Err(problems.join("; ")) }
}

/// A comma-separated annotation value as a list.
pub(crate) fn split(value: &str) -> Vec<String> {
    value.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

struct Reader<'a> {
    annotations: &'a Map<String, Value>,
    problems: &'a mut Vec<String>,
}

impl Reader<'_> {
    fn settings(&mut self) -> PodSettings {
        PodSettings {
            service_account: self.check("service-account", ServiceAccountEmail::parse),
            provider: self.check("workload-identity-provider", |v| {
                if v == METADATA_PROVIDER {
                    Ok(v.to_owned())
                } else {
                    check_audience(v).map(|()| v.to_owned())
                }
            }),
            scopes: self.check("scopes", |v| Scope::parse_list(&split(v))),
            id_tokens: self.check("id-tokens", |v| parse_id_tokens(&split(v))).unwrap_or_default(),
            skip_containers: self.check("skip-containers", |v| Ok(split(v))).unwrap_or_default(),
            output_path: self.check("output-path", output_path),
            project_id: self.check("project-id", ProjectId::parse),
            token_expiration: self.check("token-expiration", |v| match v.parse::<i64>() {
                Ok(secs) if (600..=4_294_967_296).contains(&secs) => Ok(secs),
                _ => Err("must be a whole number of seconds, at least 600".to_owned()),
            }),
            resources: RESOURCE_KEYS
                .map(|key| self.check(key, |v| validate::quantity(v).map(|()| v.to_owned()))),
            port: self.check("port", port),
            admin_port: self.check("admin-port", port),
            zone: self.check("zone", Zone::parse),
        }
    }

    /// The trimmed, non-empty value of `PREFIX + key`, passed through `check`.
    fn check<T>(&mut self, key: &str, check: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let value = match self.annotations.get(&format!("{PREFIX}{key}"))? {
            Value::String(text) => text.trim(),
            _ => {
                self.problems.push(format!("annotation {PREFIX}{key}: must be a string"));
                return None;
            }
        };
        if value.is_empty() {
            return None;
        }
        check(value).map_err(|why| self.problems.push(format!("annotation {PREFIX}{key}: {why}"))).ok()
    }
}

fn output_path(path: &str) -> Result<String, String> {
    let clean = path.starts_with('/')
        && !path.trim_end_matches('/').is_empty()
        && !path.split('/').any(|s| s == ".." || s == ".")
        && !path.chars().any(|c| c.is_control() || c == ',');
    if clean {
        Ok(path.trim_end_matches('/').to_owned())
    } else {
        Err(format!("\"{path}\" must be an absolute path below / without \"..\""))
    }
}

fn port(text: &str) -> Result<u16, String> {
    text.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("\"{text}\" is not a port (1-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs.iter().map(|(k, v)| (format!("{PREFIX}{k}"), Value::String((*v).to_owned()))).collect()
    }

    #[test]
    fn good_annotations_are_read() {
        let settings = parse(Some(&annotations(&[
            ("service-account", "app@my-project.iam.gserviceaccount.com"),
            ("id-tokens", "api=https://api.example"),
            ("skip-containers", "istio-proxy, logger"),
            ("token-expiration", "7200"),
            ("scopes", "cloud-platform,https://www.googleapis.com/auth/pubsub"),
            ("memory-limit", "128Mi"),
            ("port", "9898"),
            ("zone", "europe-west4-b"),
        ])))
        .expect("valid");
        assert_eq!(settings.zone.as_ref().map(Zone::as_str), Some("europe-west4-b"));
        assert_eq!(settings.skip_containers, ["istio-proxy", "logger"]);
        assert_eq!(settings.token_expiration, Some(7200));
        assert_eq!(
            settings.scopes.as_ref().map(|s| s.iter().map(Scope::as_str).collect::<Vec<_>>()).as_deref(),
            Some(
                &["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/pubsub"]
                    [..]
            )
        );
        assert_eq!(settings.resources[3].as_deref(), Some("128Mi"));
        assert_eq!(settings.port, Some(9898));
    }

    #[test]
    fn every_bad_annotation_is_named() {
        let bad = [
            ("service-account", "a@b"),
            ("workload-identity-provider", "https://example.com"),
            ("id-tokens", "oops"),
            ("output-path", "relative/dir"),
            ("token-expiration", "60"),
            ("scopes", "not a scope"),
            ("project-id", "Bad Project!!"),
            ("cpu-limit", "lots"),
            ("port", "70000"),
            ("zone", "us-east-1a"),
            ("servce-account", "typo@my-project.iam.gserviceaccount.com"),
        ];
        let err = parse(Some(&annotations(&bad))).expect_err("invalid");
        for (key, _) in bad {
            assert!(err.contains(&format!("{PREFIX}{key}")), "{key} missing in {err}");
        }
    }
}
