//! Which credential a face uses, checked once: the `--credentials`/`--source`/federation/
//! impersonation flags every face shares, and the access token request the one-shot faces make.

use std::time::Duration;

use crate::{
    cli::{SourceArgs, SourceKind},
    credentials::{Choice, Endpoints, ImpersonationFlags, Selection},
    error::Error,
    exchange::AccessRequest,
    validate::{Scope, ServiceAccountEmail},
};

/// The credential the flags select, checked once: which source, what to impersonate on top,
/// which endpoints. Loading it (reading files) happens later, on every mint.
pub(crate) fn selection(args: &SourceArgs) -> Result<Selection, Error> {
    let provider = &args.workload_identity_provider;
    // Every face checks the emails as `run` does: a typo is exit 64 at once, not an IAM 404.
    let email = |flag: &str, value: &Option<String>| {
        value.as_deref().map(ServiceAccountEmail::parse).transpose().map_err(|why| Error::usage(flag, why))
    };
    let choice = match (&args.credentials, args.source, &args.subject_token_file) {
        (Some(path), _, None) => Choice::File(path.clone()),
        (None, _, Some(file)) => Choice::Federation {
            subject_token_file: file.clone(),
            audience: provider.clone().ok_or_else(|| {
                Error::usage("--subject-token-file", "needs the workload identity provider (--audience)")
            })?,
            service_account: email("--service-account", &args.service_account)?,
        },
        (Some(_), _, Some(_)) => {
            return Err(Error::usage("--credentials", "cannot be combined with --subject-token-file"));
        }
        (None, SourceKind::Metadata, None) => Choice::Metadata,
        (None, SourceKind::Adc, None) => Choice::Adc,
        (None, SourceKind::Gcloud, None) => Choice::Gcloud,
    };
    if args.subject_token_file.is_none() && (provider.is_some() || args.service_account.is_some()) {
        return Err(Error::usage("--audience/--service-account", "need --subject-token-file"));
    }
    let impersonate = ImpersonationFlags {
        email: email("--impersonate-service-account", &args.impersonate_service_account)?,
        delegates: args.delegates.clone(),
        lifetime_secs: args.lifetime.map(|d| d.as_secs()),
    };
    for (flag, url) in [("--sts-endpoint", &args.sts_endpoint), ("--iam-endpoint", &args.iam_endpoint)] {
        if let Some(Err(why)) = url.as_deref().map(crate::validate::endpoint_url) {
            return Err(Error::usage(flag, why));
        }
    }
    let defaults = Endpoints::default();
    let endpoints = Endpoints {
        sts: args.sts_endpoint.clone().unwrap_or(defaults.sts),
        iam: args.iam_endpoint.clone().unwrap_or(defaults.iam),
    };
    Ok(Selection { choice, impersonate, endpoints })
}

/// A one-shot face's credential: the checked selection and the flags that go with it.
#[derive(Debug, Clone)]
pub(crate) struct SourceConfig {
    /// What to load the credential from.
    pub(crate) selection: Selection,
    /// `--no-cache`: neither read nor write the disk cache.
    pub(crate) no_cache: bool,
    /// `--http-timeout`: each call to Google.
    pub(crate) http_timeout: Duration,
}

impl SourceConfig {
    /// Checks `args`, `audience` (the provider's `--audience` alias, where the face has one)
    /// folded into `--workload-identity-provider`.
    pub(crate) fn from_args(args: &SourceArgs, audience: Option<&String>) -> Result<Self, Error> {
        let args = args.with_provider_alias(audience);
        Ok(Self { selection: selection(&args)?, no_cache: args.no_cache, http_timeout: args.http_timeout })
    }
}

/// The access token `print-access-token` and the credential helpers ask for, checked.
#[derive(Debug, Clone)]
pub(crate) struct AccessConfig {
    /// The credential.
    pub(crate) source: SourceConfig,
    /// The scopes (checked and expanded as `run` does) and the subject.
    pub(crate) request: AccessRequest,
}

impl AccessConfig {
    /// Checks the scopes first, then the credential: `--scopes 'a b'` is exit 64, not a mint.
    pub(crate) fn from_args(
        source: &SourceArgs,
        audience: Option<&String>,
        scopes: Option<&[String]>,
        subject: Option<&String>,
    ) -> Result<Self, Error> {
        let scopes = scopes.map(Scope::parse_list).transpose();
        let scopes = scopes.map_err(|why| Error::usage("--scopes", why))?;
        let source = SourceConfig::from_args(source, audience)?;
        Ok(Self { source, request: AccessRequest { scopes, subject: subject.cloned() } })
    }
}
