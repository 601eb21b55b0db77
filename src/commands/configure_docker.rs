//! `configure-docker`: point Docker's `credHelpers` at this binary, like
//! `gcloud auth configure-docker`, and optionally install the helpers' symlinks (and kubectl's
//! `gke-gcloud-auth-plugin` one).

use std::path::{Path, PathBuf};

use crate::{
    config::{ConfigureDockerConfig, GKE_PLUGIN},
    credentials::Env,
    error::{Error, Result},
    sinks::{
        docker_config::DockerConfig,
        links::{self, DOCKER_HELPER, GIT_HELPER, Made},
    },
};

/// Updates config.json (and makes the links); returns the paths written, one a line.
pub fn configure_docker(settings: &ConfigureDockerConfig, env: &Env) -> Result<String> {
    let links = match &settings.install_links {
        Some(dir) => install_links(dir, settings.replace_gke_plugin, env)?,
        None => Vec::new(),
    };
    let config = DockerConfig::locate(env)?;
    for change in config.add_helpers(&settings.registries)? {
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
