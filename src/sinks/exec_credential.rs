//! The kubectl exec-credential protocol: read `KUBERNETES_EXEC_INFO`, print an `ExecCredential`.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::json;

use crate::{
    error::{Error, Result},
    token::{Token, rfc3339},
};

/// client-go's current version, and the default when `KUBERNETES_EXEC_INFO` is absent.
pub(crate) const V1: &str = "client.authentication.k8s.io/v1";
/// The version older kubeconfigs (and gke-gcloud-auth-plugin) use.
pub(crate) const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// client-go re-runs a plugin only once `expirationTimestamp` has passed, with no margin of
/// its own; reporting expiry this much early keeps it from sending a token about to die.
pub(crate) const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);

/// What kubectl told the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExecInfo {
    /// The apiVersion to answer in.
    pub api_version: String,
    /// The cluster's API server, when the kubeconfig sets `provideClusterInfo: true`.
    pub cluster_server: Option<String>,
}

impl ExecInfo {
    /// Parses `KUBERNETES_EXEC_INFO`; absent means v1 and no cluster.
    pub(crate) fn parse(value: Option<&str>) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Input {
            api_version: Option<String>,
            spec: Option<Spec>,
        }
        #[derive(Deserialize)]
        struct Spec {
            cluster: Option<Cluster>,
        }
        #[derive(Deserialize)]
        struct Cluster {
            server: Option<String>,
        }
        let Some(text) = value else {
            return Ok(Self { api_version: V1.to_owned(), cluster_server: None });
        };
        if text == crate::credentials::NOT_UTF8 {
            return Err(Error::usage("KUBERNETES_EXEC_INFO", "is not UTF-8"));
        }
        let input: Input = serde_json::from_str(text).map_err(|e| {
            Error::usage("KUBERNETES_EXEC_INFO", format!("is not an ExecCredential JSON object ({e})"))
        })?;
        let api_version = input.api_version.unwrap_or_default();
        if api_version != V1 && api_version != V1BETA1 {
            return Err(Error::usage(
                "KUBERNETES_EXEC_INFO",
                format!("asks for apiVersion \"{api_version}\"; this plugin speaks {V1} and {V1BETA1}"),
            ));
        }
        let cluster_server = input.spec.and_then(|s| s.cluster).and_then(|c| c.server);
        Ok(Self { api_version, cluster_server })
    }
}

/// The `ExecCredential` JSON for `token`, expiry reported [`EXPIRY_MARGIN`] early.
pub(crate) fn render(info: &ExecInfo, token: &Token) -> String {
    let reported = token.expires_at.checked_sub(EXPIRY_MARGIN).unwrap_or(SystemTime::UNIX_EPOCH);
    let credential = json!({
        "apiVersion": info.api_version,
        "kind": "ExecCredential",
        "status": { "token": token.value.expose(), "expirationTimestamp": rfc3339(reported) },
    });
    format!("{credential}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::UNIX_EPOCH;

    #[test]
    fn absent_info_means_v1_without_a_cluster() {
        let info = ExecInfo::parse(None).expect("ok");
        assert_eq!(info, ExecInfo { api_version: V1.to_owned(), cluster_server: None });
    }

    #[test]
    fn the_cluster_server_and_version_are_read() {
        let text = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1",
            "spec":{"interactive":false,"cluster":{"server":"https://10.0.0.1","certificate-authority-data":"x"}}}"#;
        let info = ExecInfo::parse(Some(text)).expect("ok");
        assert_eq!(info.api_version, V1BETA1);
        assert_eq!(info.cluster_server.as_deref(), Some("https://10.0.0.1"));
    }

    #[test]
    fn unknown_versions_and_garbage_are_refused() {
        let alpha = r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1","kind":"ExecCredential"}"#;
        assert!(ExecInfo::parse(Some(alpha)).expect_err("must fail").to_string().contains("v1alpha1"));
        assert!(ExecInfo::parse(Some("{")).is_err());
    }

    #[test]
    fn expiry_is_reported_early() {
        let token =
            Token { value: Secret::new("t"), expires_at: UNIX_EPOCH + Duration::from_secs(1_795_000_000) };
        let out: serde_json::Value =
            serde_json::from_str(&render(&ExecInfo::parse(None).expect("ok"), &token)).expect("json");
        assert_eq!(out["status"]["expirationTimestamp"], "2026-11-18T11:01:40Z");
        assert_eq!(out["kind"], "ExecCredential");
    }
}
