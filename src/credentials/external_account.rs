//! `external_account` files (workload and workforce identity federation) and the
//! Kubernetes flag form that builds the same thing without a file.

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;

pub(crate) use super::credential_source::{CredentialSource, Executable, Format};
use super::service_account::{DEFAULT_UNIVERSE, required};
use crate::{
    error::{Error, Origin, Result},
    secret::Secret,
    validate::ServiceAccountEmail,
};

/// The subject-token type of a Kubernetes (OIDC) token.
pub(crate) const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// A validated workload/workforce identity federation configuration.
#[derive(Debug, Clone)]
pub(crate) struct ExternalAccount {
    /// The file it came from (or the flags), for messages.
    pub origin: Origin,
    /// The provider's full resource name, STS's `audience`.
    pub audience: String,
    /// What the subject token is (`urn:ietf:params:oauth:token-type:jwt`, ...).
    pub subject_token_type: String,
    /// The STS token endpoint.
    pub token_url: String,
    /// Where the subject token comes from.
    pub credential_source: CredentialSource,
    /// When set, the federated token is exchanged for this service account's token.
    pub impersonation: Option<Impersonation>,
    /// OAuth client authenticating to STS (HTTP Basic), if any.
    pub client: Option<(String, Secret)>,
    /// Workforce pools: the project billed for the STS call.
    pub workforce_pool_user_project: Option<String>,
    /// The universe, `googleapis.com` by default.
    pub universe_domain: String,
}

/// A service account to impersonate through IAM Credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Impersonation {
    /// The target's email.
    pub email: String,
    /// The `...:generateAccessToken` URL.
    pub url: String,
    /// Delegation chain, normalised to `projects/-/serviceAccounts/...`.
    pub delegates: Vec<String>,
    /// Requested token lifetime.
    pub lifetime: Option<Duration>,
}

#[derive(Deserialize)]
struct File {
    audience: Option<String>,
    subject_token_type: Option<String>,
    token_url: Option<String>,
    service_account_impersonation_url: Option<String>,
    service_account_impersonation: Option<ImpersonationOptions>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    credential_source: Option<serde_json::Value>,
    workforce_pool_user_project: Option<String>,
    universe_domain: Option<String>,
}

#[derive(Deserialize)]
struct ImpersonationOptions {
    token_lifetime_seconds: Option<u64>,
}

impl ExternalAccount {
    /// Validates an `external_account` file's JSON, naming the bad field.
    pub(crate) fn from_json(origin: &Origin, json: serde_json::Value) -> Result<Self> {
        let file: File = serde_json::from_value(json)
            .map_err(|e| Error::malformed(origin, "not an external_account file", &e))?;
        let universe_domain =
            file.universe_domain.filter(|u| !u.is_empty()).unwrap_or(DEFAULT_UNIVERSE.into());
        let audience = required(origin, "audience", file.audience)?;
        if let Some(Err(why)) =
            file.token_url.as_deref().filter(|u| !u.is_empty()).map(crate::validate::endpoint_url)
        {
            return Err(Error::parse(origin, format!("field \"token_url\" {why}")));
        }
        check_audience(&audience).map_err(|why| Error::parse(origin, format!("field \"audience\" {why}")))?;
        let lifetime = file.service_account_impersonation.and_then(|o| o.token_lifetime_seconds);
        let impersonation = match file.service_account_impersonation_url.filter(|u| !u.is_empty()) {
            Some(url) => Some(impersonation_from_url(origin, &url, Vec::new(), lifetime)?),
            None => None,
        };
        let client = match (file.client_id.filter(|c| !c.is_empty()), file.client_secret) {
            (Some(id), secret) => Some((id, secret.unwrap_or_else(|| Secret::new("")))),
            (None, _) => None,
        };
        let workforce_pool_user_project = file.workforce_pool_user_project.filter(|p| !p.is_empty());
        if workforce_pool_user_project.is_some() && !is_workforce(&audience) {
            return Err(Error::parse(
                origin,
                "field \"workforce_pool_user_project\" is only valid with a workforce pool audience",
            ));
        }
        Ok(Self {
            origin: origin.clone(),
            token_url: file.token_url.filter(|u| !u.is_empty()).unwrap_or_else(|| sts_url(&universe_domain)),
            subject_token_type: required(origin, "subject_token_type", file.subject_token_type)?,
            credential_source: CredentialSource::from_json(origin, file.credential_source)?,
            audience,
            impersonation,
            client,
            workforce_pool_user_project,
            universe_domain,
        })
    }

    /// The Kubernetes flag form: a projected token file, a provider, an optional service account.
    pub(crate) fn from_flags(
        subject_token_file: PathBuf,
        audience: &str,
        service_account: Option<&ServiceAccountEmail>,
        endpoints: &Endpoints,
    ) -> Result<Self> {
        check_audience(audience).map_err(|why| Error::usage("--audience", why))?;
        let origin = Origin::file(subject_token_file.clone(), "--subject-token-file");
        let impersonation = service_account
            .map(|email| impersonation_for(&origin, email.as_str(), &endpoints.iam, Vec::new(), None))
            .transpose()
            .map_err(|_| {
                let shown = crate::validate::shown_url(&endpoints.iam);
                Error::usage("--iam-endpoint", format!("\"{shown}\" is not an http(s) base URL"))
            })?;
        Ok(Self {
            origin,
            audience: audience.to_owned(),
            subject_token_type: JWT_TOKEN_TYPE.to_owned(),
            token_url: format!("{}/v1/token", endpoints.sts.trim_end_matches('/')),
            credential_source: CredentialSource::File { path: subject_token_file, format: Format::Text },
            impersonation,
            client: None,
            workforce_pool_user_project: None,
            universe_domain: DEFAULT_UNIVERSE.to_owned(),
        })
    }
}

/// `https://sts.{universe}/v1/token`.
fn sts_url(universe: &str) -> String {
    format!("https://sts.{universe}/v1/token")
}

/// Whether the audience names a workforce (not workload) pool.
pub(crate) fn is_workforce(audience: &str) -> bool {
    audience.starts_with("//iam.")
        && audience.contains("/locations/")
        && audience.contains("/workforcePools/")
}

/// An audience must be a provider's full resource name (or GKE's `identitynamespace:` form);
/// STS answers anything else with an opaque `invalid_request`.
pub(crate) fn check_audience(audience: &str) -> std::result::Result<(), String> {
    let provider = audience.starts_with("//iam.")
        && (audience.contains("/workloadIdentityPools/") || audience.contains("/workforcePools/"))
        && audience.contains("/providers/");
    if provider || audience.starts_with("identitynamespace:") {
        return Ok(());
    }
    Err(format!(
        "\"{audience}\" is not a workload identity provider; expected \
         //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER"
    ))
}

/// Parses `service_account_impersonation_url`: it must be IAM Credentials' generateAccessToken.
pub(crate) fn impersonation_from_url(
    origin: &Origin,
    url: &str,
    delegates: Vec<String>,
    lifetime_secs: Option<u64>,
) -> Result<Impersonation> {
    let bad = || {
        Error::parse(
            origin,
            format!(
                "field \"service_account_impersonation_url\" is \"{}\"; expected \
                 https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken",
                crate::validate::shown_url(url)
            ),
        )
    };
    crate::validate::endpoint_url(url)
        .map_err(|why| Error::parse(origin, format!("field \"service_account_impersonation_url\": {why}")))?;
    // The path decides, not the host: private endpoints and emulators serve IAM Credentials too.
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).ok_or_else(bad)?;
    let (_host, path) = rest.split_once('/').ok_or_else(bad)?;
    let email = path
        .strip_suffix(":generateAccessToken")
        .and_then(|p| p.rsplit_once("/serviceAccounts/"))
        .filter(|(prefix, _)| prefix.ends_with("v1/projects/-"))
        .map(|(_, email)| email)
        .filter(|e| e.contains('@'))
        .ok_or_else(bad)?;
    let lifetime = check_lifetime(lifetime_secs).map_err(|why| {
        Error::parse(origin, format!("field \"service_account_impersonation.token_lifetime_seconds\" {why}"))
    })?;
    Ok(Impersonation {
        email: email.to_owned(),
        url: url.to_owned(),
        delegates: normalise(delegates),
        lifetime,
    })
}

/// Where the flag forms send STS and IAM Credentials calls: Google's endpoints unless
/// overridden (Private Service Connect, restricted VIPs: `https://sts-xyz.p.googleapis.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoints {
    /// STS base URL; `/v1/token` is appended.
    pub sts: String,
    /// IAM Credentials base URL; `/v1/projects/-/serviceAccounts/...` is appended.
    pub iam: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            sts: format!("https://sts.{DEFAULT_UNIVERSE}"),
            iam: format!("https://iamcredentials.{DEFAULT_UNIVERSE}"),
        }
    }
}

/// Impersonation of `email` through the IAM Credentials endpoint at `iam_base` (the flag forms).
pub(crate) fn impersonation_for(
    origin: &Origin,
    email: &str,
    iam_base: &str,
    delegates: Vec<String>,
    lifetime_secs: Option<u64>,
) -> Result<Impersonation> {
    let base = iam_base.trim_end_matches('/');
    let url = format!("{base}/v1/projects/-/serviceAccounts/{email}:generateAccessToken");
    impersonation_from_url(origin, &url, delegates, lifetime_secs)
}

/// IAM Credentials accepts 600 s to 12 h (over 1 h needs an org policy).
pub(crate) fn check_lifetime(secs: Option<u64>) -> std::result::Result<Option<Duration>, String> {
    match secs {
        None => Ok(None),
        Some(s) if (600..=43_200).contains(&s) => Ok(Some(Duration::from_secs(s))),
        Some(s) => Err(format!("is {s}s; IAM Credentials accepts 600 to 43200 seconds (12 h)")),
    }
}

/// Delegates as IAM wants them: `projects/-/serviceAccounts/EMAIL`.
fn normalise(delegates: Vec<String>) -> Vec<String> {
    delegates
        .into_iter()
        .map(|d| if d.starts_with("projects/") { d } else { format!("projects/-/serviceAccounts/{d}") })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::file("cfg.json", "test")
    }

    #[test]
    fn provider_audiences_are_accepted_and_others_refused() {
        let workload =
            "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s";
        let workforce = "//iam.googleapis.com/locations/global/workforcePools/p/providers/x";
        assert!(check_audience(workload).is_ok());
        assert!(check_audience(workforce).is_ok());
        assert!(is_workforce(workforce) && !is_workforce(workload));
        assert!(check_audience("https://example.com").is_err());
        assert!(
            check_audience("//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p")
                .is_err()
        );
    }

    #[test]
    fn the_impersonation_url_names_the_target_and_must_be_iam_credentials() {
        let url = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken";
        let imp =
            impersonation_from_url(&origin(), url, vec!["d@p.iam.gserviceaccount.com".into()], Some(3600))
                .expect("valid");
        assert_eq!(imp.email, "sa@p.iam.gserviceaccount.com");
        assert_eq!(imp.delegates, ["projects/-/serviceAccounts/d@p.iam.gserviceaccount.com"]);
        assert_eq!(imp.lifetime, Some(Duration::from_secs(3600)));
        let wrong =
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p:generateIdToken";
        assert!(impersonation_from_url(&origin(), wrong, vec![], None).is_err());
        let not_iam = "https://storage.googleapis.com/v1/b/bucket/o";
        assert!(impersonation_from_url(&origin(), not_iam, vec![], None).is_err());
    }

    #[test]
    fn lifetimes_over_twelve_hours_are_refused() {
        assert!(check_lifetime(Some(43_201)).is_err());
        assert!(check_lifetime(Some(599)).is_err());
        assert_eq!(check_lifetime(Some(43_200)), Ok(Some(Duration::from_secs(43_200))));
    }
}
