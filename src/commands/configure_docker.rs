//! `configure-docker`: point Docker's `credHelpers` at this binary, like
//! `gcloud auth configure-docker`, and optionally install the helpers' symlinks (and kubectl's
//! `gke-gcloud-auth-plugin` one).

use std::path::{Path, PathBuf};

use crate::{
    cli::{ConfigureDockerArgs, DOCKER_HELPER, GIT_HELPER},
    config::GKE_PLUGIN,
    credentials::Env,
    error::{Error, Result},
    sinks::{
        docker_config::DockerConfig,
        links::{self, Made},
    },
    validate,
};

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

/// Updates config.json (and makes the links); returns the paths written, one a line.
pub fn configure_docker(args: &ConfigureDockerArgs, env: &Env) -> Result<String> {
    let registries = registries(&args.registries)?;
    let links = match &args.install_links {
        Some(dir) => install_links(dir, args.replace_gke_plugin, env)?,
        None => Vec::new(),
    };
    let config = DockerConfig::locate(env)?;
    for change in config.add_helpers(&registries)? {
        if let Some(previous) = change.previous {
            tracing::warn!(
                "credHelpers: {} used helper {previous}; it now uses gcp-token-agent",
                change.registry
            );
        }
    }
    if !links::on_path(env.path.as_deref(), DOCKER_HELPER) {
        tracing::warn!(
            "{DOCKER_HELPER} is not on PATH, so Docker cannot run it: pass --install-links DIR with a DIR on \
             PATH, or ln -s \"$(command -v gcp-token-agent)\" DIR/{DOCKER_HELPER}"
        );
    }
    let written = std::iter::once(config.path).chain(links);
    Ok(written.map(|p| format!("{}\n", p.display())).collect())
}

/// The registries asked for, checked, without repeats; the defaults when none are.
fn registries(given: &[String]) -> Result<Vec<String>> {
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

/// Both helpers' symlinks in `dir`, to the running binary, and the `gke-gcloud-auth-plugin`
/// one unless Google's plugin is there or elsewhere on PATH (then only with `--replace-gke-plugin`).
fn install_links(dir: &Path, replace_plugin: bool, env: &Env) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::usage(
            "--install-links",
            format!("{} is not an existing directory", dir.display()),
        ));
    }
    let binary = std::env::current_exe()
        .map_err(|e| Error::Internal(format!("cannot find the running binary to link to: {e}")))?;
    let plugin =
        links::Plugin { name: GKE_PLUGIN, replace_foreign: replace_plugin, path: env.path.as_deref() };
    let (mut made, plugin) = links::install(dir, &[DOCKER_HELPER, GIT_HELPER], &plugin, &binary)?;
    match plugin {
        Made::Linked(link) => made.push(link),
        Made::LeftAlone(link) => tracing::warn!(
            "{} is another program (Google's plugin?), so it was left alone and kubectl still runs it: \
             pass --replace-gke-plugin to replace it with a link to this binary",
            link.display()
        ),
        Made::WouldHide(found) => tracing::warn!(
            "{} is another {GKE_PLUGIN} on PATH (Google's plugin?), so none was made in {}, where it \
             could come first and kubectl would stop running that one: pass --replace-gke-plugin to make it",
            found.display(),
            dir.display()
        ),
    }
    Ok(made)
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
