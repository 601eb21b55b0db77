//! Service-account impersonation on top of another credential: the
//! `impersonated_service_account` file type and `--impersonate-service-account`.

use serde::Deserialize;

use super::{
    Source,
    external_account::{Impersonation, impersonation_from_url},
    service_account::{missing, required},
};
use crate::error::{Error, Origin, Result};

/// A source credential whose tokens are exchanged for a target service account's.
#[derive(Debug, Clone)]
pub(crate) struct Impersonated {
    /// Who calls IAM Credentials.
    pub source: Source,
    /// Whom it impersonates.
    pub target: Impersonation,
    /// Whether `source` came from the `source_credentials` of an impersonated_service_account
    /// file (rather than from `--impersonate-service-account` on top of a credential): its
    /// problems are reported as that field's.
    pub nested: bool,
}

impl Impersonated {
    /// Decodes the source's private keys ([`Source::check_private_keys`]).
    pub(crate) fn check_private_keys(&self) -> Result<()> {
        let checked = self.source.check_private_keys();
        if self.nested { checked.map_err(in_source_credentials) } else { checked }
    }
}

/// A problem with the nested credential, as a problem of the `source_credentials` field.
fn in_source_credentials(error: Error) -> Error {
    match error {
        Error::ParseCredentials { origin, reason } => {
            Error::ParseCredentials { origin, reason: format!("in \"source_credentials\": {reason}") }
        }
        other => other,
    }
}

#[derive(Deserialize)]
struct File {
    service_account_impersonation_url: Option<String>,
    source_credentials: Option<serde_json::Value>,
    #[serde(default)]
    delegates: Vec<String>,
}

/// Parses an `impersonated_service_account` file; `parse_nested` turns `source_credentials`
/// into a [`Source`] (any type but another impersonation).
pub(crate) fn from_json(
    origin: &Origin,
    json: serde_json::Value,
    parse_nested: impl FnOnce(serde_json::Value) -> Result<Source>,
) -> Result<Impersonated> {
    let file: File = serde_json::from_value(json)
        .map_err(|e| Error::malformed(origin, "not an impersonated_service_account file", &e))?;
    let url = required(origin, "service_account_impersonation_url", file.service_account_impersonation_url)?;
    let target = impersonation_from_url(origin, &url, file.delegates, None)?;
    let nested =
        file.source_credentials.ok_or_else(|| Error::parse(origin, missing("source_credentials")))?;
    let source = parse_nested(nested).map_err(in_source_credentials)?;
    if matches!(source, Source::Impersonated(_)) {
        return Err(Error::parse(
            origin,
            "\"source_credentials\" cannot itself be an impersonated_service_account",
        ));
    }
    Ok(Impersonated { source, target, nested: true })
}
