//! Checks of values a user types, shared by `run`'s flags and the webhook's annotations so
//! the webhook admits exactly what the injected `run` will accept. A leaf: it imports
//! only `scrub`, the other leaf that shows URLs. Each returns the value to use, or why it is wrong.
//!
//! The values that travel are parsed newtypes, built once where text enters and passed on
//! typed, as rustls does with `ServerName`: [`ServiceAccountEmail`], [`ProjectId`], [`Zone`],
//! [`Scope`]. Each type's doc says its ways in: strict (`parse`) where a person types the
//! value (a flag, the `--config` YAML, an annotation; the caller names it in the exit-64
//! error), lenient (`as_given`) where Google, a credential file or a client program says it.

mod place;
mod project;
mod scope;
mod url;

pub(crate) use place::{Zone, attribute, hostname, instance_id, metadata_name, region};
pub(crate) use project::{ProjectId, project_number};
pub(crate) use scope::Scope;
pub(crate) use url::{endpoint_url, fetch_url, local_host, loopback_name, registry_host, shown_url};

/// A service account's email: `NAME@PROJECT.iam.gserviceaccount.com`, or one of Google's
/// other service-account domains (`developer.`, `appspot.`, `gcp-sa-*.iam.`).
pub(crate) fn service_account_email(text: &str) -> Result<(), String> {
    let bad = || format!("\"{text}\" is not a service account email (NAME@PROJECT.iam.gserviceaccount.com)");
    let (name, domain) = text.split_once('@').ok_or_else(bad)?;
    let name_ok = !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok || !dns_name(domain) || !domain.ends_with(".gserviceaccount.com") {
        return Err(bad());
    }
    match domain.strip_suffix(".iam.gserviceaccount.com") {
        Some(project) if !project.starts_with("gcp-sa-") => {
            ProjectId::parse(project).map(|_| ()).map_err(|_| bad())
        }
        _ => Ok(()),
    }
}

/// A service account's email, checked once where text enters (a flag, an annotation): holding
/// one is the proof, so nothing below checks it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceAccountEmail(String);

impl ServiceAccountEmail {
    /// Checks `text` with [`service_account_email`].
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        service_account_email(text).map(|()| Self(text.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name that becomes part of a file name: letters, digits, `-`, `_`, `.`, not leading `.`.
pub(crate) fn file_name_part(text: &str) -> Result<(), String> {
    let simple = !text.is_empty()
        && text.len() <= 64
        && !text.starts_with('.')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if simple { Ok(()) } else { Err(format!("name \"{text}\" must be letters, digits, '-', '_' or '.'")) }
}

/// A parser's error message without the string values it quotes: serde says `invalid type:
/// string "Bearer ...", expected a map`, and that string may be a secret in the wrong place.
/// Field names (quoted with backticks) stay, so the message still names what to fix.
pub(crate) fn without_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    // Inside quotes, a backslash escapes the next character (serde prints strings with `{:?}`,
    // so an embedded quote is `\"` and does not end the string).
    let (mut quoted, mut escaped) = (false, false);
    for c in message.chars() {
        match (quoted, escaped, c) {
            (false, _, '"') => {
                quoted = true;
                out.push('…');
            }
            (false, _, c) => out.push(c),
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => quoted = false,
            (true, false, _) => {}
        }
    }
    out
}

/// A Kubernetes resource quantity (`10m`, `64Mi`, `0.5`, `1e3`).
pub(crate) fn quantity(text: &str) -> Result<(), String> {
    const SUFFIXES: [&str; 15] =
        ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"];
    let bad = || format!("\"{text}\" is not a Kubernetes quantity such as 100m or 64Mi");
    // Resources are never negative.
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    let number = SUFFIXES.iter().find_map(|s| unsigned.strip_suffix(s)).unwrap_or(unsigned);
    let (mantissa, exponent) = match number.split_once(['e', 'E']) {
        Some((m, e)) if number.len() == unsigned.len() => (m, Some(e)),
        _ => (number, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = !(whole.is_empty() && fraction.is_empty()) && digits(whole) && digits(fraction);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if mantissa_ok && exponent_ok && text.len() <= 32 { Ok(()) } else { Err(bad()) }
}

/// An RFC 1123 subdomain: lowercase labels of letters, digits and inner hyphens. Also the
/// names of Kubernetes ConfigMaps, Secrets and Services.
pub(crate) fn dns_subdomain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// A domain: a subdomain of at least two labels.
fn dns_name(text: &str) -> bool {
    text.contains('.') && dns_subdomain(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_account_email_is_parsed_once_with_the_strict_check() {
        let email = ServiceAccountEmail::parse("sa@my-project.iam.gserviceaccount.com").expect("valid");
        assert_eq!(email.as_str(), "sa@my-project.iam.gserviceaccount.com");
        for bad in
            ["user@example.com", "sa@", "@my-project.iam.gserviceaccount.com", "SA@p.iam.gserviceaccount.com"]
        {
            let why = ServiceAccountEmail::parse(bad).expect_err(bad);
            assert!(why.contains("is not a service account email"), "{why}");
        }
    }

    #[test]
    fn registry_hosts_are_hosts_with_an_optional_port() {
        for good in
            ["gcr.io", "us-docker.pkg.dev", "localhost:5000", "127.0.0.1:5000", "[::1]:5000", "[fd00::1]"]
        {
            assert_eq!(registry_host(good).as_deref(), Ok(good), "{good}");
        }
        assert_eq!(registry_host("https://gcr.io/").as_deref(), Ok("gcr.io"));
        assert_eq!(registry_host(" https://eu.gcr.io ").as_deref(), Ok("eu.gcr.io"));
        for bad in [
            "",
            "http://gcr.io",
            "oci://gcr.io",
            "gcr.io/project/image",
            "https://gcr.io/v2/",
            "GCR.io",
            "user:secret@gcr.io",
            "gcr.io:0",
            "gcr.io:99999",
            "gcr.io:",
            "gcr.io:05000",
            "::1",
            "[::1",
            "[nope]:80",
            "-bad.io",
            "a..b",
            "gcr io",
        ] {
            assert!(registry_host(bad).is_err(), "{bad} must be refused");
        }
        let refused = registry_host("https://user:secret@gcr.io").expect_err("userinfo");
        assert!(!refused.contains("secret"), "{refused}");
    }

    #[test]
    fn zones_regions_and_instance_facts_are_checked() {
        for good in ["us-central1-a", "northamerica-northeast1-c", "us-south1-ai1b", "me-central2-b"] {
            assert!(Zone::parse(good).is_ok(), "{good} refused");
        }
        for bad in [
            "us-central1",
            "us-east-1a",
            "US-central1-a",
            "us-central1-",
            "-a",
            "a",
            "us--central1-a",
            "us/central1-a",
        ] {
            assert!(Zone::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(Zone::parse("us-central1-a").map(|z| z.region().to_owned()).as_deref(), Ok("us-central1"));
        for good in ["us-central1", "europe-west4", "northamerica-northeast1"] {
            assert!(region(good).is_ok(), "{good} refused");
        }
        for bad in ["central", "us-central", "us-central1-a", "1us-central1", "us central1"] {
            assert!(region(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(instance_id("4519681524354166001"), Ok(4_519_681_524_354_166_001));
        for bad in ["", "-1", "12a", "18446744073709551616", "1 2"] {
            assert!(instance_id(bad).is_err(), "{bad} accepted");
        }
        for good in ["web-7d9f-abcde", "My_Cluster.prod", "a1b2c3d4-e5f6"] {
            assert!(metadata_name(good).is_ok(), "{good} refused");
        }
        for bad in ["", "a/b", "a b", "a\nb", "é", &"x".repeat(254)] {
            assert!(metadata_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(hostname("vm-1.us-central1-a.c.my-project.internal").is_ok());
        for bad in ["", "a..b", "a b", "a/b", ".a"] {
            assert!(hostname(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn attributes_are_key_value_pairs_with_compute_engine_keys() {
        assert_eq!(attribute("team=payments"), Ok(("team".to_owned(), "payments".to_owned())));
        assert_eq!(attribute("empty="), Ok(("empty".to_owned(), String::new())));
        assert_eq!(attribute("script=a=b\nc").map(|(_, v)| v), Ok("a=b\nc".to_owned()));
        for bad in ["novalue", "=x", "bad key=x", "a/b=x", "k=\u{7}", &format!("{}=x", "k".repeat(129))] {
            assert!(attribute(bad).is_err(), "{bad:?} accepted");
        }
        assert!(attribute(&format!("k={}", "v".repeat(256 * 1024 + 1))).is_err());
    }

    #[test]
    fn scopes_are_urls_oidc_names_or_short_names() {
        let scope = |text| Scope::parse(text).map(|s| s.as_str().to_owned());
        assert_eq!(scope("cloud-platform").as_deref(), Ok("https://www.googleapis.com/auth/cloud-platform"));
        assert_eq!(
            scope("devstorage.read_only").as_deref(),
            Ok("https://www.googleapis.com/auth/devstorage.read_only")
        );
        assert_eq!(scope("openid").as_deref(), Ok("openid"));
        assert!(scope("https://www.googleapis.com/auth/bigquery").is_ok());
        for bad in ["not a scope", "https://", "https:// x", "Cloud-Platform", "http://x.y/z", "", "a,b"] {
            assert!(scope(bad).is_err(), "{bad} accepted");
        }
        assert!(Scope::parse_list(&[]).is_err());
        assert_eq!(
            Scope::as_given("not checked").as_str(),
            "not checked",
            "the metadata query's scopes go as given"
        );
    }

    #[test]
    fn project_ids_follow_googles_rules() {
        for good in ["my-project", "abcdef", "p-123456", "example.com:my-proj"] {
            assert!(ProjectId::parse(good).is_ok(), "{good} refused");
        }
        for bad in ["Bad Project!!", "short", "1project", "ends-", "a".repeat(31).as_str(), "x:my-project"] {
            assert!(ProjectId::parse(bad).is_err(), "{bad} accepted");
            assert_eq!(
                ProjectId::as_given(bad.to_owned()).as_str(),
                bad,
                "what Google says is carried as is"
            );
        }
    }

    #[test]
    fn service_account_emails_are_googles() {
        for good in [
            "app@my-project.iam.gserviceaccount.com",
            "123456-compute@developer.gserviceaccount.com",
            "my-project@appspot.gserviceaccount.com",
            "service-123@gcp-sa-pubsub.iam.gserviceaccount.com",
        ] {
            assert!(service_account_email(good).is_ok(), "{good} refused");
        }
        for bad in ["a@b", "app@gmail.com", "App@p.iam.gserviceaccount.com", "@x.gserviceaccount.com", "app"]
        {
            assert!(service_account_email(bad).is_err(), "{bad} accepted");
        }
        let project_of_email = |email| ProjectId::of_email(email).map(|p| p.as_str().to_owned());
        assert_eq!(project_of_email("app@my-project.iam.gserviceaccount.com").as_deref(), Some("my-project"));
        assert_eq!(project_of_email("1-compute@developer.gserviceaccount.com"), None);
        assert_eq!(project_of_email("service-1@gcp-sa-pubsub.iam.gserviceaccount.com"), None);
    }

    #[test]
    fn endpoints_are_https_or_local_http_and_never_echo_a_password() {
        for good in [
            "https://sts.googleapis.com",
            "http://127.0.0.1:8080/token",
            "http://169.254.169.254/x",
            "http://[::1]:1",
        ] {
            assert!(endpoint_url(good).is_ok(), "{good} refused");
        }
        for bad in [
            "sts.googleapis.com",
            "ftp://x.y",
            "http://example.com/token",
            "https://",
            "http://[::1",
            "/v1/token",
        ] {
            assert!(endpoint_url(bad).is_err(), "{bad} accepted");
        }
        let err = endpoint_url("https://user:hunter2@iam.example.com").expect_err("userinfo");
        assert!(!err.contains("hunter2") && err.contains("***@iam.example.com"), "{err}");
        let err = endpoint_url("https://user:hunter2@[bad").expect_err("bad");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn parser_messages_lose_the_values_they_quote() {
        let message = r#"invalid type: string "Bearer s3cret", expected a map at line 1 column 9"#;
        assert_eq!(without_quoted(message), "invalid type: string …, expected a map at line 1 column 9");
        assert_eq!(without_quoted("missing field `client_email`"), "missing field `client_email`");
        let embedded = r#"invalid type: string "ab\"cd\\", expected a map"#;
        assert_eq!(without_quoted(embedded), "invalid type: string …, expected a map", "an escaped quote");
    }

    #[test]
    fn quantities_are_kubernetes_quantities() {
        for good in ["10m", "64Mi", "0.5", "1", "1e3", "2Gi", ".5", "+1"] {
            assert!(quantity(good).is_ok(), "{good} refused");
        }
        for bad in ["", "ten", "10 m", "1.2.3", "64MB", "1e", "Mi", "-1"] {
            assert!(quantity(bad).is_err(), "{bad} accepted");
        }
    }
}
