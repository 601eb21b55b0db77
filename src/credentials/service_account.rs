//! `service_account` key files: who we are and the key we sign with.

use serde::Deserialize;

use crate::{
    error::{Error, Origin, Result},
    secret::Secret,
    validate::ProjectId,
};

/// The token endpoint of the default universe.
pub(crate) const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The default universe; others have no OAuth endpoint and use self-signed JWTs.
pub(crate) const DEFAULT_UNIVERSE: &str = "googleapis.com";

/// A parsed and validated service-account key file.
#[derive(Debug, Clone)]
pub(crate) struct ServiceAccountKey {
    /// The file it came from, for messages.
    pub origin: Origin,
    /// The service account's email; the JWT `iss`.
    pub client_email: String,
    /// The PEM private key.
    pub private_key: Secret,
    /// The key id; the JWT header's `kid`.
    pub private_key_id: Option<String>,
    /// Where the JWT-bearer grant is posted.
    pub token_uri: String,
    /// `googleapis.com` unless the key says otherwise.
    pub universe_domain: String,
    /// The key's project, if it names one; carried as the file gives it (see `ProjectId`).
    pub project_id: Option<ProjectId>,
}

#[derive(Deserialize)]
struct KeyFile {
    client_email: Option<String>,
    private_key: Option<Secret>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
    universe_domain: Option<String>,
    project_id: Option<String>,
}

impl ServiceAccountKey {
    /// Validates a key file's JSON, naming the missing or bad field; the private key itself is
    /// decoded by [`check_private_key`](Self::check_private_key).
    pub(crate) fn from_json(origin: &Origin, json: serde_json::Value) -> Result<Self> {
        let file: KeyFile = serde_json::from_value(json)
            .map_err(|e| Error::malformed(origin, "not a service_account key file", &e))?;
        let client_email = required(origin, "client_email", file.client_email)?;
        let private_key = file
            .private_key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Error::parse(origin, missing("private_key")))?;
        match private_key.expose().matches("-----BEGIN").count() {
            0 => return Err(Error::parse(origin, "field \"private_key\" is not a PEM private key")),
            1 => {}
            _ => return Err(Error::parse(origin, "field \"private_key\" holds more than one PEM block")),
        }
        let token_uri = required(origin, "token_uri", file.token_uri)?;
        crate::validate::endpoint_url(&token_uri)
            .map_err(|why| Error::parse(origin, format!("field \"token_uri\" {why}")))?;
        let universe_domain = file
            .universe_domain
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_UNIVERSE.to_owned());
        Ok(Self {
            origin: origin.clone(),
            client_email,
            private_key,
            private_key_id: file.private_key_id.filter(|k| !k.is_empty()),
            token_uri,
            universe_domain,
            project_id: file.project_id.map(ProjectId::as_given),
        })
    }

    /// Decodes the PEM private key, naming the field if it is not an RSA key. Apart from
    /// [`from_json`](Self::from_json), because a CLI answer from the disk cache needs only the
    /// key file's identity: decoding is most of the cost of loading a key.
    pub(crate) fn check_private_key(&self) -> Result<()> {
        jsonwebtoken::EncodingKey::from_rsa_pem(self.private_key.expose().as_bytes()).map(drop).map_err(|e| {
            Error::parse(&self.origin, format!("field \"private_key\" is not an RSA private key ({e})"))
        })
    }

    /// Whether the key lives in Google's default universe (googleapis.com).
    pub(crate) fn is_default_universe(&self) -> bool {
        self.universe_domain == DEFAULT_UNIVERSE
    }
}

/// A required, non-empty string field.
pub(crate) fn required(origin: &Origin, field: &str, value: Option<String>) -> Result<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Error::parse(origin, missing(field))),
    }
}

/// The message for a missing field.
pub(crate) fn missing(field: &str) -> String {
    format!("field \"{field}\" is missing or empty")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::authorized_user::AuthorizedUser;

    #[test]
    fn a_credential_files_project_is_carried_as_google_wrote_it() {
        // Neither passes the strict rule a flag gets, and neither may be refused: a
        // domain-scoped id with a short name, and an old id with capitals and an underscore.
        let (scoped, old) = ("example.com:proj", "Old_Project");
        assert!(ProjectId::parse(scoped).is_err() && ProjectId::parse(old).is_err());
        let origin = Origin::file("key.json", "--credentials");
        let key = ServiceAccountKey::from_json(
            &origin,
            serde_json::json!({
                "client_email": "app@my-project.iam.gserviceaccount.com",
                "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
                "token_uri": GOOGLE_TOKEN_URI,
                "project_id": scoped,
            }),
        )
        .expect("a key file");
        assert_eq!(key.project_id.as_ref().map(ProjectId::as_str), Some(scoped));
        let user = AuthorizedUser::from_json(
            &origin,
            serde_json::json!({
                "client_id": "id", "client_secret": "secret", "refresh_token": "token", "quota_project_id": old,
            }),
        )
        .expect("a user file");
        assert_eq!(user.quota_project_id.as_ref().map(ProjectId::as_str), Some(old));
    }
}
