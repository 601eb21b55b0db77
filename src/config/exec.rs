//! `exec-credential`'s flags and `KUBERNETES_EXEC_INFO` checked into its settings.

use std::path::PathBuf;

use super::SourceConfig;
use crate::{
    cli::ExecCredentialArgs, credentials::Env, error::Error, exchange::CLOUD_PLATFORM,
    sinks::exec_credential::ExecInfo, validate::Scope,
};

/// GKE maps the caller by email, so the plugin asks for it by default.
pub(crate) const USERINFO_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";

/// `exec-credential`'s settings.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// What kubectl told the plugin: which ExecCredential version to answer, which cluster.
    pub(crate) info: ExecInfo,
    /// Where the token comes from.
    pub(crate) token: ExecToken,
}

/// Where `exec-credential`'s token comes from.
#[derive(Debug, Clone)]
pub(crate) enum ExecToken {
    /// `--from-file`: a running agent's token.json; no credential is checked or loaded.
    FromFile(PathBuf),
    /// Minted (or cached) from the credential with these scopes, checked and expanded.
    Mint {
        /// The credential.
        source: Box<SourceConfig>,
        /// The scopes, defaults applied.
        scopes: Vec<Scope>,
    },
}

impl ExecConfig {
    /// Checks `KUBERNETES_EXEC_INFO`, then (unless `--from-file`) the scopes and the credential.
    pub fn from_args(args: &ExecCredentialArgs, env: &Env) -> Result<Self, Error> {
        let info = ExecInfo::parse(env.kubernetes_exec_info.as_deref())?;
        let token = match &args.from_file {
            Some(path) => ExecToken::FromFile(path.clone()),
            None => {
                // Checked and expanded as `run` does: `--scopes 'a b'` is exit 64, not a mint.
                let scopes = match &args.scopes {
                    Some(scopes) => Scope::parse_list(scopes).map_err(|why| Error::usage("--scopes", why))?,
                    None => vec![Scope::as_given(CLOUD_PLATFORM), Scope::as_given(USERINFO_EMAIL)],
                };
                ExecToken::Mint {
                    source: Box::new(SourceConfig::from_args(&args.source, args.audience.as_ref())?),
                    scopes,
                }
            }
        };
        Ok(Self { info, token })
    }
}
