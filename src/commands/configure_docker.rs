//! `configure-docker`: point Docker's `credHelpers` at this binary, like
//! `gcloud auth configure-docker`, and optionally install the helpers' symlinks.

use std::path::{Path, PathBuf};

use crate::{
    config::ConfigureDockerConfig,
    credentials::Env,
    error::{Error, Result},
    sinks::{
        docker_config::DockerConfig,
        links::{self, DOCKER_HELPER, GIT_HELPER},
    },
};

/// Updates config.json (and makes the links); returns the paths written, one a line.
pub fn configure_docker(settings: &ConfigureDockerConfig, env: &Env) -> Result<String> {
    let links = match &settings.install_links {
        Some(dir) => install_links(dir)?,
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

/// Both helpers' symlinks in `dir`, to the running binary.
fn install_links(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::usage(
            "--install-links",
            format!("{} is not an existing directory", dir.display()),
        ));
    }
    let binary = std::env::current_exe()
        .map_err(|e| Error::Internal(format!("cannot find the running binary to link to: {e}")))?;
    links::install(dir, &[DOCKER_HELPER, GIT_HELPER], &binary)
}
