//! A workload identity provider is named by the project NUMBER: STS refuses a project id there
//! with an opaque error.

use super::finding::Finding;
use crate::credentials::{Source, external_account::is_workforce};

/// Checks the provider's project segment, for federated credentials.
pub(super) fn check(source: &Source, out: &mut Vec<Finding>) {
    let account = match source {
        Source::ExternalAccount(account) => account,
        Source::Impersonated(imp) => match &imp.source {
            Source::ExternalAccount(account) => account,
            _ => return,
        },
        _ => return,
    };
    let audience = account.audience.as_str();
    if is_workforce(audience) {
        return;
    }
    let Some(project) = audience.split("/projects/").nth(1).and_then(|rest| rest.split('/').next()) else {
        return;
    };
    if !project.is_empty() && project.bytes().all(|b| b.is_ascii_digit()) {
        out.push(Finding::ok("project-number", format!("the provider names project number {project}")));
        return;
    }
    let place = match account.origin.via {
        "--subject-token-file" => "--workload-identity-provider".to_owned(),
        _ => format!("the audience field of {}", account.origin),
    };
    out.push(Finding::fail(
        "project-number",
        format!("the workload identity provider names project \"{project}\", not its number: {audience}"),
        format!(
            "use the project number (`gcloud projects describe {project} --format='value(projectNumber)'`) in \
             the provider's name: {place}"
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Endpoints, ExternalAccount};

    fn findings(audience: &str) -> Vec<Finding> {
        let account = ExternalAccount::from_flags("/token".into(), audience, None, &Endpoints::default());
        let mut out = Vec::new();
        check(&Source::ExternalAccount(account.expect("account")), &mut out);
        out
    }

    #[test]
    fn a_provider_named_by_project_id_is_a_failure_naming_it() {
        let found = findings(
            "//iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/p/providers/k",
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].level, super::super::finding::Level::Fail);
        assert!(found[0].message.contains("\"my-project\""), "{}", found[0].message);
    }

    #[test]
    fn a_provider_named_by_project_number_passes() {
        let found = findings(
            "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/p/providers/k",
        );
        assert_eq!(found[0].level, super::super::finding::Level::Ok);
    }
}
