//! `login`'s flags as its settings.

use std::{path::PathBuf, time::Duration};

use crate::{
    cli::LoginArgs,
    error::Error,
    exchange::CLOUD_PLATFORM,
    validate::{ProjectId, Scope},
};

/// What `login` asks for by default: what `gcloud auth application-default login` asks for.
pub(crate) const DEFAULT_SCOPES: [&str; 3] = ["openid", super::exec::USERINFO_EMAIL, CLOUD_PLATFORM];

/// `login`'s settings. The files and the port are checked when the flow uses them.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// `--client-secrets`: the OAuth client JSON.
    pub(crate) client_secrets: PathBuf,
    /// The scopes to ask consent for, defaults applied; passed to Google's consent screen as
    /// given, unchecked as they always were (see `Scope`).
    pub(crate) scopes: Vec<Scope>,
    /// `--output`, else gcloud's ADC file.
    pub(crate) output: Option<PathBuf>,
    /// Only print the URL.
    pub(crate) no_browser: bool,
    /// The loopback port for the redirect (0: any).
    pub(crate) port: u16,
    /// How long to wait for the sign-in.
    pub(crate) timeout: Duration,
    /// Billing project recorded as `quota_project_id`, as given (see `ProjectId`).
    pub(crate) quota_project: Option<ProjectId>,
}

impl LoginConfig {
    /// `login`'s flags, defaults applied.
    pub fn from_args(args: &LoginArgs) -> Result<Self, Error> {
        let scopes = match &args.scopes {
            Some(scopes) => scopes.iter().map(|s| Scope::as_given(s.as_str())).collect(),
            None => DEFAULT_SCOPES.map(Scope::as_given).to_vec(),
        };
        Ok(Self {
            client_secrets: args.client_secrets.clone(),
            scopes,
            output: args.output.clone(),
            no_browser: args.no_browser,
            port: args.port,
            timeout: args.timeout,
            quota_project: args.quota_project.as_deref().map(ProjectId::as_given),
        })
    }
}
