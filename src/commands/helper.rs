//! `docker-credential` and `git-credential`: the token `print-access-token` prints, answered
//! in Docker's and git's credential-helper protocols. Tokens are minted, never stored, so
//! `store` and `erase` only read what they are sent.

use std::io::{self, Read};

use super::print::cached_access_token;
use crate::{
    config::{DockerCredential, DockerCredentialConfig, GitCredential, GitCredentialConfig},
    credentials::Env,
    error::{Error, Result},
    sinks::{
        docker_config::DockerConfig,
        docker_credential::{self, MAX_SERVER_URL},
        git_credential, helper_scope,
    },
};

/// Returns what `docker-credential ACTION` prints.
pub fn docker_credential(config: &DockerCredentialConfig, env: &Env) -> Result<String> {
    match &config.action {
        DockerCredential::Get(access) => {
            let stdin = crate::input::read_to_end_capped(io::stdin().lock(), MAX_SERVER_URL)
                .map_err(|e| stdin_error("docker-credential get", &e.to_string()))?;
            let server_url = docker_credential::server_url(&stdin)
                .map_err(|why| stdin_error("docker-credential get", &why))?;
            // A config.json that cannot be read names no registry: Google's still work.
            let configured = DockerConfig::locate(env).and_then(|c| c.our_registries()).unwrap_or_default();
            helper_scope::docker(&server_url, &configured)
                .map_err(|reason| Error::HostNotAllowed { reason, answer: docker_credential::NOT_FOUND })?;
            let token = cached_access_token(access, env)?;
            Ok(docker_credential::render_get(&server_url, &token))
        }
        DockerCredential::List => {
            Ok(docker_credential::render_list(&DockerConfig::locate(env)?.our_registries()?))
        }
        DockerCredential::Discard => Ok(discard_stdin()),
    }
}

/// Returns what `git-credential ACTION` prints.
pub fn git_credential(config: &GitCredentialConfig, env: &Env) -> Result<String> {
    match &config.action {
        GitCredential::Get { allow_host, token } => {
            let request = git_credential::read_request(io::stdin().lock())
                .map_err(|why| stdin_error("git-credential get", &why))?;
            tracing::debug!(protocol = ?request.protocol, host = ?request.host, "git asks for a credential");
            helper_scope::git(request.protocol.as_deref(), request.host.as_deref(), allow_host)
                .map_err(|reason| Error::HostNotAllowed { reason, answer: "" })?;
            let token = cached_access_token(token, env)?;
            Ok(git_credential::render(&token))
        }
        GitCredential::Discard => Ok(discard_stdin()),
    }
}

/// Reads what the caller sends (so it never sees a closed pipe) and drops it; prints nothing.
fn discard_stdin() -> String {
    let _ = io::copy(&mut io::stdin().lock().take(crate::input::MAX_FILE), &mut io::sink());
    String::new()
}

fn stdin_error(action: &str, why: &str) -> Error {
    Error::usage(format!("{action}: stdin"), why)
}
