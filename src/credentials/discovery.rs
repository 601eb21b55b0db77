//! Application Default Credentials discovery, in Google's order, with the trail of what was
//! looked at: `doctor` shows which file was chosen and why the others were not.

use std::path::PathBuf;

use super::{Env, Loaded, load_file, metadata_source};
use crate::error::{Origin, Result};

/// One place ADC looks, and what it found there.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// The variable or convention that names it.
    pub via: &'static str,
    /// The file, or `None` for the metadata server.
    pub path: Option<PathBuf>,
    /// Why it was passed over; `None` for the one chosen (or the one whose error is returned).
    pub skipped: Option<String>,
}

/// Application Default Credentials, in Google's order.
pub(crate) fn discover(env: &Env) -> Result<Loaded> {
    discover_traced(env).1
}

/// [`discover`], with every candidate in the order looked at.
pub(crate) fn discover_traced(env: &Env) -> (Vec<Candidate>, Result<Loaded>) {
    const VARIABLE: &str = "GOOGLE_APPLICATION_CREDENTIALS";
    const GCLOUD: &str = "gcloud's application default credentials";
    let mut trail = Vec::new();
    if let Some(path) = &env.google_application_credentials {
        // Like Google's libraries: a named file that is missing is an error, not a fall-through.
        trail.push(Candidate { via: VARIABLE, path: Some(path.into()), skipped: None });
        return (trail, load_file(&Origin::file(path, VARIABLE), env));
    }
    trail.push(Candidate { via: VARIABLE, path: None, skipped: Some("not set".into()) });
    match env.well_known_adc_file() {
        Some(path) if path.exists() => {
            trail.push(Candidate { via: GCLOUD, path: Some(path.clone()), skipped: None });
            return (trail, load_file(&Origin::file(path, GCLOUD), env));
        }
        Some(path) => {
            trail.push(Candidate { via: GCLOUD, path: Some(path), skipped: Some("no such file".into()) })
        }
        None => trail.push(Candidate {
            via: GCLOUD,
            path: None,
            skipped: Some("neither CLOUDSDK_CONFIG nor HOME is set".into()),
        }),
    }
    trail.push(Candidate { via: "the metadata server", path: None, skipped: None });
    (trail, env.metadata_server().map(metadata_source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_file_ends_the_search_even_when_it_is_missing() {
        let env = Env { google_application_credentials: Some("/nonexistent.json".into()), ..Env::default() };
        let (trail, loaded) = discover_traced(&env);
        assert_eq!(trail.len(), 1);
        assert_eq!(trail[0].skipped, None);
        assert!(loaded.is_err());
    }

    #[test]
    fn without_files_the_trail_says_why_each_was_skipped_and_ends_at_the_metadata_server() {
        let home = tempfile::tempdir().expect("home");
        let env = Env { home: Some(home.path().into()), ..Env::default() };
        let (trail, loaded) = discover_traced(&env);
        let skipped: Vec<Option<&str>> = trail.iter().map(|c| c.skipped.as_deref()).collect();
        assert_eq!(skipped, [Some("not set"), Some("no such file"), None]);
        assert!(matches!(loaded.map(|l| l.source), Ok(super::super::Source::Metadata(_))));
    }
}
