//! `authorized_user` files: a person's refresh token, as gcloud and `login` write them.

use serde::Deserialize;

use super::service_account::{GOOGLE_TOKEN_URI, missing, required};
use crate::{
    error::{Error, Origin, Result},
    secret::Secret,
    validate::ProjectId,
};

/// A parsed `authorized_user` credential.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizedUser {
    /// The file it came from, for messages.
    pub origin: Origin,
    /// The OAuth client the refresh token belongs to.
    pub client_id: String,
    /// That client's secret.
    pub client_secret: Secret,
    /// The long-lived refresh token.
    pub refresh_token: Secret,
    /// Where the refresh grant is posted (Go's rule: the file's `token_uri`, else Google's).
    pub token_uri: String,
    /// Billing project for quota, if set; carried as the file gives it (see `ProjectId`).
    pub quota_project_id: Option<ProjectId>,
}

#[derive(Deserialize)]
struct UserFile {
    client_id: Option<String>,
    client_secret: Option<Secret>,
    refresh_token: Option<Secret>,
    token_uri: Option<String>,
    quota_project_id: Option<String>,
}

impl AuthorizedUser {
    /// Validates an `authorized_user` file's JSON, naming the missing field.
    pub(crate) fn from_json(origin: &Origin, json: serde_json::Value) -> Result<Self> {
        let file: UserFile = serde_json::from_value(json)
            .map_err(|e| Error::malformed(origin, "not an authorized_user file", &e))?;
        let secret = |field: &str, value: Option<Secret>| {
            value.filter(|s| !s.is_empty()).ok_or_else(|| Error::parse(origin, missing(field)))
        };
        if let Some(Err(why)) =
            file.token_uri.as_deref().filter(|u| !u.trim().is_empty()).map(crate::validate::endpoint_url)
        {
            return Err(Error::parse(origin, format!("field \"token_uri\" {why}")));
        }
        Ok(Self {
            origin: origin.clone(),
            client_id: required(origin, "client_id", file.client_id)?,
            client_secret: secret("client_secret", file.client_secret)?,
            refresh_token: secret("refresh_token", file.refresh_token)?,
            token_uri: file
                .token_uri
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned()),
            quota_project_id: file.quota_project_id.map(ProjectId::as_given),
        })
    }
}
