//! Per-pod settings from `gcp-token-agent.io/` annotations, each validated with a message
//! that names the annotation to fix.

use std::collections::BTreeMap;

use crate::{config::parse_id_tokens, credentials::external_account::check_audience};

/// The annotation prefix.
pub const PREFIX: &str = "gcp-token-agent.io/";
/// The opt-in label.
pub const INJECT_LABEL: &str = "gcp-token-agent.io/inject";
/// GKE's Kubernetes-service-account annotation naming the Google service account.
pub const GKE_GSA_ANNOTATION: &str = "iam.gke.io/gcp-service-account";
/// Provider value meaning "proxy the node's metadata server" (GKE Workload Identity).
pub const METADATA_PROVIDER: &str = "metadata";
/// Where token files appear in app containers by default.
pub const DEFAULT_OUTPUT_PATH: &str = "/var/run/gcp-token-agent";

/// What a pod asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSettings {
    /// `service-account`: the Google service account to impersonate.
    pub service_account: Option<String>,
    /// `workload-identity-provider`.
    pub provider: Option<String>,
    /// `scopes`, comma-separated.
    pub scopes: Option<String>,
    /// `id-tokens`, `name=aud,...`.
    pub id_tokens: Option<String>,
    /// `skip-containers`.
    pub skip_containers: Vec<String>,
    /// `output-path`.
    pub output_path: Option<String>,
    /// `project-id`.
    pub project_id: Option<String>,
    /// `token-expiration`, seconds.
    pub token_expiration: Option<i64>,
}

/// Reads and validates the annotations; every bad value is reported, naming its annotation.
pub fn parse(annotations: &BTreeMap<String, String>) -> Result<PodSettings, String> {
    let get = |key: &str| {
        annotations.get(&format!("{PREFIX}{key}")).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    };
    let mut problems = Vec::new();
    let mut bad = |key: &str, why: String| problems.push(format!("annotation {PREFIX}{key}: {why}"));
    let settings = PodSettings {
        service_account: get("service-account"),
        provider: get("workload-identity-provider"),
        scopes: get("scopes"),
        id_tokens: get("id-tokens"),
        skip_containers: get("skip-containers")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default(),
        output_path: get("output-path"),
        project_id: get("project-id"),
        token_expiration: None,
    };
    if let Some(email) = settings.service_account.as_deref().filter(|e| !e.contains('@')) {
        bad("service-account", format!("\"{email}\" is not a service account email"));
    }
    if let Some(Err(why)) =
        settings.provider.as_deref().filter(|p| *p != METADATA_PROVIDER).map(check_audience)
    {
        bad("workload-identity-provider", why);
    }
    if let Some(Err(why)) = settings.id_tokens.as_deref().map(|v| parse_id_tokens(&split(v))) {
        bad("id-tokens", why);
    }
    if let Some(path) =
        settings.output_path.as_deref().filter(|p| !p.starts_with('/') || p.split('/').any(|s| s == ".."))
    {
        bad("output-path", format!("\"{path}\" must be an absolute path without \"..\""));
    }
    let token_expiration = match get("token-expiration").map(|v| v.parse::<i64>()) {
        None => None,
        Some(Ok(secs)) if (600..=4_294_967_296).contains(&secs) => Some(secs),
        Some(_) => {
            bad("token-expiration", "must be a whole number of seconds, at least 600".to_owned());
            None
        }
    };
    if problems.is_empty() {
        Ok(PodSettings { token_expiration, ..settings })
    } else {
        Err(problems.join("; "))
    }
}

/// A comma-separated annotation value as a list.
pub fn split(value: &str) -> Vec<String> {
    value.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (format!("{PREFIX}{k}"), (*v).to_owned())).collect()
    }

    #[test]
    fn good_annotations_are_read() {
        let settings = parse(&annotations(&[
            ("service-account", "app@p.iam.gserviceaccount.com"),
            ("id-tokens", "api=https://api.example"),
            ("skip-containers", "istio-proxy, logger"),
            ("token-expiration", "7200"),
        ]))
        .expect("valid");
        assert_eq!(settings.skip_containers, ["istio-proxy", "logger"]);
        assert_eq!(settings.token_expiration, Some(7200));
    }

    #[test]
    fn every_bad_annotation_is_named() {
        let err = parse(&annotations(&[
            ("service-account", "not-an-email"),
            ("workload-identity-provider", "https://example.com"),
            ("id-tokens", "oops"),
            ("output-path", "relative/dir"),
            ("token-expiration", "60"),
        ]))
        .expect_err("invalid");
        for key in
            ["service-account", "workload-identity-provider", "id-tokens", "output-path", "token-expiration"]
        {
            assert!(err.contains(&format!("{PREFIX}{key}")), "{key} missing in {err}");
        }
    }
}
