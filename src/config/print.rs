//! `print-access-token`'s and `print-identity-token`'s flags checked into their settings.

use super::{AccessConfig, SourceConfig};
use crate::{
    cli::{self, PrintAccessArgs, PrintIdentityArgs},
    error::Error,
    exchange::IdRequest,
};

/// How a print command writes its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    /// The token and a newline.
    Bare,
    /// A JSON object with the expiry.
    Json,
}

impl From<cli::OutputFormat> for OutputFormat {
    fn from(format: cli::OutputFormat) -> Self {
        match format {
            cli::OutputFormat::Bare => Self::Bare,
            cli::OutputFormat::Json => Self::Json,
        }
    }
}

/// `print-access-token`'s settings.
#[derive(Debug, Clone)]
pub struct PrintAccessConfig {
    /// The credential, scopes and subject.
    pub(crate) access: AccessConfig,
    /// How to print it.
    pub(crate) format: OutputFormat,
}

impl PrintAccessConfig {
    /// Checks the flags: scopes, then the credential.
    pub fn from_args(args: &PrintAccessArgs) -> Result<Self, Error> {
        let access = AccessConfig::from_args(
            &args.source,
            args.audience.as_ref(),
            args.scopes.as_deref(),
            args.subject.as_ref(),
        )?;
        Ok(Self { access, format: args.format.into() })
    }
}

/// `print-identity-token`'s settings.
#[derive(Debug, Clone)]
pub struct PrintIdentityConfig {
    /// The credential (its `--audience` is the token's, not the provider's alias).
    pub(crate) source: SourceConfig,
    /// The audience and whether to ask for the email claims.
    pub(crate) request: IdRequest,
    /// How to print it.
    pub(crate) format: OutputFormat,
}

impl PrintIdentityConfig {
    /// Checks the flags: the audience, then the credential.
    pub fn from_args(args: &PrintIdentityArgs) -> Result<Self, Error> {
        if args.audience.trim().is_empty() {
            return Err(Error::usage(
                "--audience",
                "is required (or GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE); it must not be empty",
            ));
        }
        let source = SourceConfig::from_args(&args.source, None)?;
        let request = IdRequest { audience: args.audience.clone(), include_email: args.include_email };
        Ok(Self { source, request, format: args.format.into() })
    }
}
