//! Mint one access token (never printed) and say for whom; name the role a refusal lacks.

use super::{endpoints::Reached, finding::Finding};
use crate::{
    credentials::{Source, external_account::CredentialSource},
    error::{Endpoint, Error, UpstreamErrorKind},
    exchange::{self, AccessRequest, Http},
};

/// Mints an access token with the default scopes, unless an endpoint is already known dead.
pub(super) async fn check(http: &Http, source: &Source, reached: &Reached, out: &mut Vec<Finding>) {
    if reached.unreachable {
        let fix = "fix the unreachable endpoint above first";
        out.push(Finding::warn("token", "no token minted: an endpoint does not answer", fix));
        return;
    }
    match exchange::access_token(http, source, &AccessRequest::default()).await {
        Ok(token) => {
            let whom = whom(http, source).await;
            let until = token.expiry_rfc3339();
            out.push(Finding::ok("token", format!("minted an access token for {whom}, valid until {until}")));
        }
        Err(e) => out.push(refused(http, source, reached, e).await),
    }
}

/// Who the token speaks for: the key's or the impersonated account, the metadata server's
/// account, the federated principal; a user's email needs Google's tokeninfo, not asked.
async fn whom(http: &Http, source: &Source) -> String {
    match source {
        Source::ServiceAccount(key) => key.client_email.clone(),
        Source::Impersonated(imp) => imp.target.email.clone(),
        Source::ExternalAccount(account) => match &account.impersonation {
            Some(imp) => imp.email.clone(),
            None => principal(account),
        },
        Source::Metadata(server) => {
            let path = "instance/service-accounts/default/email";
            exchange::metadata::text(http, server, path)
                .await
                .unwrap_or_else(|_| "the metadata server's account".into())
        }
        Source::AuthorizedUser(_) => {
            "the signed-in user (the authorized_user file does not name them)".into()
        }
    }
}

/// The refusal as a finding, naming the missing role when IAM Credentials said 403.
async fn refused(http: &Http, source: &Source, reached: &Reached, error: Error) -> Finding {
    let Error::Upstream(upstream) = &error else {
        return Finding::fail("token", error.to_string(), "fix what the message names");
    };
    let denied = matches!(&upstream.kind, UpstreamErrorKind::Refused { status: 403, .. });
    if upstream.endpoint == Endpoint::IamCredentials && denied {
        return impersonation_denied(http, source, &error).await;
    }
    let (code, description) = match &upstream.kind {
        UpstreamErrorKind::Refused { code, description, .. } => {
            let text = |t: &Option<crate::scrub::Scrubbed>| t.as_ref().map(|t| t.as_str().to_owned());
            (text(code), text(description).unwrap_or_default())
        }
        _ => (None, String::new()),
    };
    let fix = if code.as_deref() == Some("invalid_grant") {
        invalid_grant_fix(source, &description, reached.skewed)
    } else if upstream.endpoint == Endpoint::Sts {
        "check the provider's allowed audiences and attribute condition, and the subject token".to_owned()
    } else {
        "fix what the message names".to_owned()
    };
    Finding::fail("token", error.to_string(), fix)
}

/// What to do about `invalid_grant`, by Google's description of it.
fn invalid_grant_fix(source: &Source, description: &str, skewed: bool) -> String {
    let said = |words: &str| description.to_ascii_lowercase().contains(words);
    if skewed || said("reasonable timeframe") || said("iat and exp") {
        "synchronise this machine's clock (see the clock finding), then run doctor again".to_owned()
    } else if said("audience") {
        "token_uri must be the endpoint the credential was made for (https://oauth2.googleapis.com/token)"
            .to_owned()
    } else if let Source::AuthorizedUser(_) = source {
        "the refresh token was revoked or has expired: sign in again with `gcp-token-agent login`".to_owned()
    } else if let Source::ServiceAccount(_) = source {
        "the key was deleted or its account disabled or deleted: create a new key \
         (`gcloud iam service-accounts keys create`)"
            .to_owned()
    } else {
        "fix what Google's description names".to_owned()
    }
}

/// Which role the caller lacks on the target, and how to grant it.
async fn impersonation_denied(http: &Http, source: &Source, error: &Error) -> Finding {
    let (caller, target, federated) = match source {
        Source::Impersonated(imp) => (&imp.source, imp.target.email.as_str(), false),
        Source::ExternalAccount(account) => {
            let target = account.impersonation.as_ref().map_or("", |i| i.email.as_str());
            (source, target, true)
        }
        _ => (source, "", false),
    };
    let member = match caller {
        Source::ServiceAccount(key) => format!("serviceAccount:{}", key.client_email),
        Source::ExternalAccount(account) => principal(account),
        Source::Metadata(_) => format!("serviceAccount:{}", whom(http, caller).await),
        _ => "user:YOUR_EMAIL".to_owned(),
    };
    let federated = federated || matches!(caller, Source::ExternalAccount(_));
    let role =
        if federated { "roles/iam.workloadIdentityUser" } else { "roles/iam.serviceAccountTokenCreator" };
    Finding::fail(
        "impersonation",
        format!("{member} may not impersonate {target}: {error}"),
        format!(
            "gcloud iam service-accounts add-iam-policy-binding {target} --role {role} --member {member}"
        ),
    )
}

/// The federated principal, `principal://iam.googleapis.com/POOL/subject/SUB`, with `sub` read
/// from a file subject token (a JWT), else a placeholder to fill in.
pub(super) fn principal(account: &crate::credentials::ExternalAccount) -> String {
    #[derive(serde::Deserialize)]
    struct Sub {
        sub: String,
    }
    let pool = account
        .audience
        .strip_prefix("//iam.googleapis.com/")
        .and_then(|rest| rest.split("/providers/").next())
        .unwrap_or("projects/NUMBER/locations/global/workloadIdentityPools/POOL");
    let sub = match &account.credential_source {
        CredentialSource::File { path, .. } => crate::input::read_text(path)
            .ok()
            .and_then(|t| jsonwebtoken::dangerous::insecure_decode_claims::<Sub>(t.trim()).ok())
            .map(|c| c.sub),
        _ => None,
    };
    format!("principal://iam.googleapis.com/{pool}/subject/{}", sub.unwrap_or_else(|| "SUBJECT".into()))
}
