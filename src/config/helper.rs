//! The Docker and git credential helpers' flags checked into their settings, and the names
//! the binary answers to as a helper.

use std::{ffi::OsString, path::Path};

use super::AccessConfig;
use crate::{
    cli::{DockerAction, DockerCredentialArgs, GitAction, GitCredentialArgs, HelperTokenArgs},
    error::Error,
    sinks::links::{DOCKER_HELPER, GIT_HELPER},
};

/// `docker-credential ACTION`'s settings: only `get` needs a credential, so only `get`'s
/// flags are checked.
#[derive(Debug, Clone)]
pub struct DockerCredentialConfig {
    /// What to do.
    pub(crate) action: DockerCredential,
}

/// A `docker-credential` action with what it needs.
#[derive(Debug, Clone)]
pub(crate) enum DockerCredential {
    /// Answer for the registry on stdin with this token.
    Get(Box<AccessConfig>),
    /// List the registries config.json sends here.
    List,
    /// `store` and `erase`: read stdin, do nothing.
    Discard,
}

impl DockerCredentialConfig {
    /// Checks `get`'s scopes and credential.
    pub fn from_args(args: &DockerCredentialArgs) -> Result<Self, Error> {
        let action = match args.action {
            DockerAction::Get => DockerCredential::Get(access(&args.token)?),
            DockerAction::List => DockerCredential::List,
            DockerAction::Store | DockerAction::Erase => DockerCredential::Discard,
        };
        Ok(Self { action })
    }
}

/// `git-credential ACTION`'s settings: only `get` needs a credential.
#[derive(Debug, Clone)]
pub struct GitCredentialConfig {
    /// What to do.
    pub(crate) action: GitCredential,
}

/// A `git-credential` action with what it needs.
#[derive(Debug, Clone)]
pub(crate) enum GitCredential {
    /// Answer the request on stdin, for Google's hosts and `allow_host`, with this token.
    Get {
        /// `--allow-host`: further hosts to answer for.
        allow_host: Vec<String>,
        /// The token's credential and scopes.
        token: Box<AccessConfig>,
    },
    /// `store` and `erase`: read stdin, do nothing.
    Discard,
}

impl GitCredentialConfig {
    /// Checks `get`'s scopes and credential.
    pub fn from_args(args: &GitCredentialArgs) -> Result<Self, Error> {
        let action = match args.action {
            GitAction::Get => {
                GitCredential::Get { allow_host: args.allow_host.clone(), token: access(&args.token)? }
            }
            GitAction::Store | GitAction::Erase => GitCredential::Discard,
        };
        Ok(Self { action })
    }
}

/// The token `print-access-token` with the same flags prints, so both share a cache entry.
fn access(args: &HelperTokenArgs) -> Result<Box<AccessConfig>, Error> {
    AccessConfig::from_args(&args.source, args.audience.as_ref(), args.scopes.as_deref(), None).map(Box::new)
}

/// The arguments of a binary run as [`DOCKER_HELPER`] or [`GIT_HELPER`] (by a symlink, as
/// Docker and git name helpers), rewritten as the subcommand they stand for; others as given.
pub(crate) fn expand_helper_name(argv: Vec<OsString>) -> Vec<OsString> {
    let name = argv.first().and_then(|a| Path::new(a).file_name()).and_then(|n| n.to_str());
    let subcommand = match name {
        Some(DOCKER_HELPER) => "docker-credential",
        Some(GIT_HELPER) => "git-credential",
        _ => return argv,
    };
    let rest = argv.into_iter().skip(1);
    [OsString::from("gcp-token-agent"), subcommand.into()].into_iter().chain(rest).collect()
}
