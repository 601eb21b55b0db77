//! Project ids and numbers: checked where a person types one, carried as given where Google or
//! a credential file names one.

use std::fmt;

use super::dns_name;

/// A Google Cloud project id, as `run` reports it and the webhook passes it on.
///
/// Two ways in, by who said it:
/// * [`ProjectId::parse`], strict, where a person types one (`--project-id`, the webhook's
///   `gcp-token-agent.io/project-id` annotation): 6 to 30 lowercase letters, digits or hyphens,
///   starting with a letter and not ending with a hyphen, optionally after a domain-scoped
///   `example.com:` prefix. The caller names the flag or annotation in its exit-64 error.
/// * [`ProjectId::as_given`], lenient, where Google or a credential file names one (a key
///   file's `project_id`, an authorized_user's `quota_project_id`, `login --quota-project`, the
///   metadata server's `project/project-id`): Google is the judge of its own ids (old ones do
///   not all follow today's rule), so such a value is never refused here; it is carried as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProjectId(String);

impl ProjectId {
    /// Checks a project id a person typed (see the type's rule).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (domain, id) = text.rsplit_once(':').unwrap_or(("", text));
        let domain_ok = domain.is_empty() || dns_name(domain);
        let id_ok = (6..=30).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && !id.ends_with('-')
            && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if domain_ok && id_ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "\"{text}\" is not a project id (6-30 lowercase letters, digits or hyphens, starting with a letter)"
            ))
        }
    }

    /// A project id Google or a credential file gave, unchecked (see the type's rule).
    pub(crate) fn as_given(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The project a service account belongs to, read from its email
    /// (`NAME@PROJECT.iam.gserviceaccount.com`); Google's service agents (`gcp-sa-*`) live in
    /// Google's projects, not the user's.
    pub(crate) fn of_email(email: &str) -> Option<Self> {
        let (_, domain) = email.split_once('@')?;
        let project =
            domain.strip_suffix(".iam.gserviceaccount.com").filter(|p| !p.starts_with("gcp-sa-"))?;
        Self::parse(project).ok()
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A numeric project id (`projectNumber`): digits, at most 20 (a u64).
pub(crate) fn project_number(text: &str) -> bool {
    !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit())
}
