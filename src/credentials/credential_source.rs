//! `credential_source` of `external_account` files: where the subject token comes from.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use serde::Deserialize;

use super::service_account::{missing, required};
use crate::{
    error::{Error, Origin, Result},
    secret::Secret,
};

/// Where a subject token is read from.
#[derive(Debug, Clone)]
pub(crate) enum CredentialSource {
    /// A file, re-read on every exchange (a projected Kubernetes token).
    File {
        /// The file.
        path: PathBuf,
        /// How to find the token in it.
        format: Format,
    },
    /// A URL answering the token to a GET.
    Url {
        /// The URL.
        url: String,
        /// Headers to send.
        headers: BTreeMap<String, Secret>,
        /// How to find the token in the answer.
        format: Format,
    },
    /// A program that prints Google's executable-response JSON.
    Executable(Executable),
}

/// `credential_source.format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format {
    /// The whole content, whitespace trimmed.
    Text,
    /// A JSON object; the token is in this field.
    Json(String),
}

/// `credential_source.executable`.
#[derive(Debug, Clone)]
pub(crate) struct Executable {
    /// The command line, split on whitespace (no shell), as Google's libraries do.
    pub command: String,
    /// How long it may run.
    pub timeout: Duration,
    /// Where it caches its response, if anywhere.
    pub output_file: Option<PathBuf>,
}

impl CredentialSource {
    /// Parses and validates `credential_source`, naming the bad field.
    pub(crate) fn from_json(origin: &Origin, value: Option<serde_json::Value>) -> Result<Self> {
        #[derive(Deserialize)]
        struct Raw {
            file: Option<PathBuf>,
            url: Option<String>,
            headers: Option<BTreeMap<String, Secret>>,
            format: Option<RawFormat>,
            executable: Option<RawExecutable>,
            environment_id: Option<String>,
            certificate: Option<serde_json::Value>,
        }
        #[derive(Deserialize)]
        struct RawFormat {
            #[serde(rename = "type")]
            kind: Option<String>,
            subject_token_field_name: Option<String>,
        }
        #[derive(Deserialize)]
        struct RawExecutable {
            command: Option<String>,
            timeout_millis: Option<u64>,
            output_file: Option<PathBuf>,
        }
        let value = value.ok_or_else(|| Error::parse(origin, missing("credential_source")))?;
        let raw: Raw = serde_json::from_value(value)
            .map_err(|e| Error::malformed(origin, "field \"credential_source\" is malformed", &e))?;
        let format = || -> Result<Format> {
            match raw.format.as_ref().map(|f| (f.kind.as_deref(), f.subject_token_field_name.clone())) {
                None | Some((None | Some("text"), _)) => Ok(Format::Text),
                Some((Some("json"), Some(field))) if !field.is_empty() => Ok(Format::Json(field)),
                Some((Some("json"), _)) => {
                    Err(Error::parse(origin, missing("credential_source.format.subject_token_field_name")))
                }
                Some((Some(other), _)) => Err(Error::parse(
                    origin,
                    format!(
                        "field \"credential_source.format.type\" is \"{other}\"; expected \"text\" or \"json\""
                    ),
                )),
            }
        };
        let unsupported = |what: &str| {
            Error::parse(
                origin,
                format!(
                    "credential_source \"{what}\" is not supported; use \"file\", \"url\" or \"executable\""
                ),
            )
        };
        match (raw.file.clone(), raw.url.clone(), raw.executable) {
            (Some(path), None, None) => Ok(CredentialSource::File { path, format: format()? }),
            (None, Some(url), None) => {
                crate::validate::fetch_url(&url)
                    .map_err(|why| Error::parse(origin, format!("field \"credential_source.url\": {why}")))?;
                Ok(CredentialSource::Url {
                    url,
                    headers: raw.headers.clone().unwrap_or_default(),
                    format: format()?,
                })
            }
            (None, None, Some(exe)) => {
                let command = required(origin, "credential_source.executable.command", exe.command)?;
                let millis = exe.timeout_millis.unwrap_or(30_000);
                if !(5_000..=120_000).contains(&millis) {
                    return Err(Error::parse(
                        origin,
                        format!(
                            "field \"credential_source.executable.timeout_millis\" is {millis}; expected 5000 to 120000"
                        ),
                    ));
                }
                let timeout = Duration::from_millis(millis);
                Ok(CredentialSource::Executable(Executable {
                    command,
                    timeout,
                    output_file: exe.output_file,
                }))
            }
            (None, None, None) if raw.environment_id.is_some() => Err(unsupported("aws")),
            (None, None, None) if raw.certificate.is_some() => Err(unsupported("certificate")),
            (None, None, None) => Err(Error::parse(
                origin,
                "field \"credential_source\" needs one of \"file\", \"url\" or \"executable\"",
            )),
            _ => Err(Error::parse(
                origin,
                "field \"credential_source\" sets more than one of \"file\", \"url\", \"executable\"",
            )),
        }
    }
}
