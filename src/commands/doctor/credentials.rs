//! Which credential is found and why (ADC's trail), what it is, and whether its file is
//! readable by others.

use std::{os::unix::fs::PermissionsExt, path::Path};

use super::finding::Finding;
use crate::{
    credentials::{Choice, Env, Loaded, Selection, Source, discovery},
    error::Result,
};

/// Loads the credential the configuration selects, reporting how it was found. `None` when it
/// cannot be loaded (the failure is a finding).
pub(super) fn check(selection: &Selection, env: &Env, out: &mut Vec<Finding>) -> Option<Loaded> {
    if matches!(selection.choice, Choice::Adc) {
        // The trail only: loading goes the one real way below, impersonation included.
        for candidate in discovery::discover_traced(env).0 {
            if let Some(why) = &candidate.skipped {
                let place =
                    candidate.path.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default();
                out.push(Finding::ok("credentials", format!("skipped {}{place}: {why}", candidate.via)));
            }
        }
    }
    found(selection.load(env), out)
}

fn found(loaded: Result<Loaded>, out: &mut Vec<Finding>) -> Option<Loaded> {
    match loaded {
        Ok(loaded) => {
            out.push(Finding::ok("credentials", format!("using {}", describe(&loaded.source))));
            file_mode(&loaded.source, out);
            Some(loaded)
        }
        Err(e) => {
            let fix = "fix what the message names, or choose another credential: --credentials FILE, \
                       GOOGLE_APPLICATION_CREDENTIALS, `gcp-token-agent login`, or a metadata server \
                       (GCE_METADATA_HOST)";
            out.push(Finding::fail("credentials", e.to_string(), fix));
            None
        }
    }
}

/// What the credential is and where it came from; never a secret.
pub(super) fn describe(source: &Source) -> String {
    match source {
        Source::ServiceAccount(key) => {
            format!("a service_account key for {}, {}", key.client_email, key.origin)
        }
        Source::AuthorizedUser(user) => {
            format!("an authorized_user (a user's refresh token), {}", user.origin)
        }
        Source::Metadata(server) => {
            let via = if server.explicit { "GCE_METADATA_HOST" } else { "the default address" };
            format!("the metadata server at {} (from {via})", server.host)
        }
        Source::ExternalAccount(account) => {
            format!(
                "an external_account (workload identity federation) for {}, {}",
                account.audience, account.origin
            )
        }
        Source::Impersonated(imp) => {
            format!("{}, impersonating {}", describe(&imp.source), imp.target.email)
        }
    }
}

/// The credential file, when it holds a secret: a private key, a refresh token or a client secret.
fn secret_file(source: &Source) -> Option<&Path> {
    match source {
        Source::ServiceAccount(key) => key.origin.path(),
        Source::AuthorizedUser(user) => user.origin.path(),
        Source::ExternalAccount(account) if account.client.is_some() => account.origin.path(),
        Source::Impersonated(imp) => secret_file(&imp.source),
        _ => None,
    }
}

/// A secret readable by others is a finding; by the group, a warning.
fn file_mode(source: &Source, out: &mut Vec<Finding>) {
    let Some(path) = secret_file(source) else { return };
    let Ok(meta) = std::fs::metadata(path) else { return };
    let mode = meta.permissions().mode() & 0o777;
    let shown = path.display();
    let fix = format!("chmod 600 {shown}");
    if mode & 0o004 != 0 {
        out.push(Finding::fail(
            "file-mode",
            format!("{shown} holds a secret and is readable by everyone (mode {mode:o})"),
            fix,
        ));
    } else if mode & 0o040 != 0 {
        out.push(Finding::warn(
            "file-mode",
            format!("{shown} holds a secret and is readable by its group (mode {mode:o})"),
            fix,
        ));
    } else {
        out.push(Finding::ok("file-mode", format!("{shown} is readable by its owner only (mode {mode:o})")));
    }
}
