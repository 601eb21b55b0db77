//! `configure-docker`'s flags checked into its settings.

use std::path::PathBuf;

use crate::{cli::ConfigureDockerArgs, error::Error, validate};

/// Configured when no registry is named: Container Registry's hosts and Artifact Registry's
/// multi-regions.
pub(crate) const DEFAULT_REGISTRIES: [&str; 7] = [
    "gcr.io",
    "us.gcr.io",
    "eu.gcr.io",
    "asia.gcr.io",
    "us-docker.pkg.dev",
    "europe-docker.pkg.dev",
    "asia-docker.pkg.dev",
];

/// `configure-docker`'s settings.
#[derive(Debug, Clone)]
pub struct ConfigureDockerConfig {
    /// The registry hosts, checked, without repeats.
    pub(crate) registries: Vec<String>,
    /// `--install-links`: where to make the helpers' symlinks (checked when they are made).
    pub(crate) install_links: Option<PathBuf>,
    /// `--replace-gke-plugin`: link `gke-gcloud-auth-plugin` even over, or before on PATH,
    /// another program of that name.
    pub(crate) replace_gke_plugin: bool,
}

impl ConfigureDockerConfig {
    /// Checks the registries, reporting every bad one at once.
    pub fn from_args(args: &ConfigureDockerArgs) -> Result<Self, Error> {
        Ok(Self {
            registries: registries(&args.registries)?,
            install_links: args.install_links.clone(),
            replace_gke_plugin: args.replace_gke_plugin,
        })
    }
}

/// The registries asked for, checked, without repeats; the defaults when none are.
fn registries(given: &[String]) -> Result<Vec<String>, Error> {
    if given.is_empty() {
        return Ok(DEFAULT_REGISTRIES.map(str::to_owned).to_vec());
    }
    let checked: Vec<Result<String, String>> =
        given.iter().filter(|r| !r.trim().is_empty()).map(|r| validate::registry_host(r)).collect();
    let problems: Vec<&String> = checked.iter().filter_map(|r| r.as_ref().err()).collect();
    if !problems.is_empty() {
        let list: Vec<&str> = problems.iter().map(|p| p.as_str()).collect();
        return Err(Error::usage("REGISTRY", list.join("; ")));
    }
    let mut registries: Vec<String> = checked.into_iter().flatten().collect();
    let mut seen = std::collections::HashSet::new();
    registries.retain(|r| seen.insert(r.clone()));
    if registries.is_empty() {
        return Err(Error::usage("REGISTRY", "is empty; name a registry host such as us-docker.pkg.dev"));
    }
    Ok(registries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn registries_default_are_checked_and_deduplicated() {
        assert_eq!(registries(&[]).expect("defaults").len(), DEFAULT_REGISTRIES.len());
        let given = strings(&["https://gcr.io/", "gcr.io", "127.0.0.1:5000", ""]);
        assert_eq!(registries(&given).expect("ok"), ["gcr.io", "127.0.0.1:5000"]);
        let error = registries(&strings(&["gcr.io/p/i", "oci://x"])).expect_err("bad").to_string();
        assert!(
            error.starts_with("REGISTRY: ") && error.contains("gcr.io/p/i") && error.contains("oci://x"),
            "{error}"
        );
        assert!(registries(&strings(&[" "])).is_err());
    }
}
