//! Which hosts the credential helpers hand a token to, as gcloud's helpers do: Google's git
//! hosts and registries by default, other hosts only by the user's explicit word.
//!
//! A token sent to the wrong host is a token given away: an unscoped git helper answers a
//! submodule's `http://attacker/`, and Docker's `credsStore` sends every registry to its helper.

/// Google's git hosts (`gcloud source repos`, Secure Source Manager).
const GIT_HOSTS: [&str; 1] = ["source.developers.google.com"];
/// Suffixes of Google's git hosts.
const GIT_SUFFIXES: [&str; 1] = [".sourcemanager.dev"];
/// Google's registries (Container Registry and Artifact Registry).
const REGISTRY_HOSTS: [&str; 1] = ["gcr.io"];
/// Suffixes of Google's registries.
const REGISTRY_SUFFIXES: [&str; 2] = [".gcr.io", ".pkg.dev"];

/// Whether git may get a token for `protocol://host`: https to Google's git hosts, or to a
/// host named by `--allow-host` (`allowed`); plain http only to a loopback host named by
/// `--allow-host` (a local test server). The error says what to do.
pub(crate) fn git(protocol: Option<&str>, host: Option<&str>, allowed: &[String]) -> Result<(), String> {
    let host = host.map(str::trim).filter(|h| !h.is_empty()).ok_or("git sent no host")?;
    let protocol = protocol.unwrap_or_default();
    let shown = crate::scrub::escape(&format!("{protocol}://{host}"));
    let name = host_only(host);
    let opted_in = allowed.iter().any(|a| same_host(a, host));
    let google = GIT_HOSTS.contains(&name.as_str()) || GIT_SUFFIXES.iter().any(|s| name.ends_with(s));
    match protocol {
        "https" if google || opted_in => Ok(()),
        "https" => Err(format!(
            "no token for {shown}: the git helper answers only Google's git hosts \
             (source.developers.google.com, *.sourcemanager.dev); to trust this host, configure \
             `helper = gcp-token-agent --allow-host {}` for it",
            crate::scrub::escape(&name)
        )),
        "http" if opted_in && crate::validate::loopback_name(&name) => Ok(()),
        "http" => Err(format!(
            "no token for {shown}: tokens never travel over plain http, except to a loopback \
             host (localhost, 127.0.0.1, [::1]) named by --allow-host"
        )),
        _ => Err(format!("no token for {shown}: the git helper answers only https")),
    }
}

/// Whether Docker may get a token for `server_url`: Google's registries, or one that Docker's
/// `config.json` maps to this helper in `credHelpers` (`configured`, what `configure-docker
/// REGISTRY` writes: naming it there is the opt-in).
pub(crate) fn docker(server_url: &str, configured: &[String]) -> Result<(), String> {
    let host = registry_of(server_url);
    let name = host_only(&host);
    let google =
        REGISTRY_HOSTS.contains(&name.as_str()) || REGISTRY_SUFFIXES.iter().any(|s| name.ends_with(s));
    if google || configured.iter().any(|c| registry_of(c) == host) {
        return Ok(());
    }
    Err(format!(
        "no token for registry {}: the Docker helper answers only Google's registries (gcr.io, \
         *.gcr.io, *.pkg.dev) and those config.json's \"credHelpers\" maps to gcp-token-agent; \
         add it with `gcp-token-agent configure-docker {}`",
        crate::scrub::escape(&host),
        crate::scrub::escape(&host)
    ))
}

/// `host[:port]` of what Docker sends (`gcr.io`, `https://gcr.io/v2/`, `HOST:PORT`), lowercase.
fn registry_of(server_url: &str) -> String {
    let text = server_url.trim();
    let text = text.split_once("://").map_or(text, |(_, rest)| rest);
    let host = text.split(['/', '?', '#']).next().unwrap_or_default();
    // A `user@` has no place in a registry name and must not make one look like another.
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    host.to_ascii_lowercase()
}

/// The host of `host[:port]`, lowercase, without a trailing dot or IPv6 brackets' port.
fn host_only(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    let bare = match host.rsplit_once(':') {
        Some((name, port))
            if port.bytes().all(|b| b.is_ascii_digit()) && (!name.contains(':') || name.ends_with(']')) =>
        {
            name.to_owned()
        }
        _ => host,
    };
    bare.trim_end_matches('.').to_owned()
}

/// Whether `allowed` (an `--allow-host` value, with or without a port) names `host`
/// (`host[:port]` as git sends it): without a port it matches every port of that host.
fn same_host(allowed: &str, host: &str) -> bool {
    let (allowed, host) = (allowed.trim().to_ascii_lowercase(), host.trim().to_ascii_lowercase());
    if allowed.is_empty() {
        return false;
    }
    allowed == host || (host_only(&allowed) == allowed && host_only(&host) == allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|h| (*h).to_owned()).collect()
    }

    #[test]
    fn git_answers_google_hosts_over_https_and_opted_in_hosts() {
        let none = allow(&[]);
        assert!(git(Some("https"), Some("source.developers.google.com"), &none).is_ok());
        assert!(git(Some("https"), Some("us-central1-git.sourcemanager.dev"), &none).is_ok());
        assert!(git(Some("https"), Some("SOURCE.developers.google.com:443"), &none).is_ok());
        for (protocol, host) in [
            ("https", "github.com"),
            ("http", "source.developers.google.com"),
            ("http", "attacker"),
            ("ssh", "source.developers.google.com"),
            ("https", "sourcemanager.dev.evil.example"),
            ("https", "evilsourcemanager.dev"),
        ] {
            let refused = git(Some(protocol), Some(host), &none).expect_err(host);
            assert!(refused.contains("no token"), "{refused}");
        }
        assert!(git(None, Some("source.developers.google.com"), &none).is_err());
        assert!(git(Some("https"), None, &none).is_err());
        let opted = allow(&["git.example.com", "127.0.0.1:8080", "localhost"]);
        assert!(git(Some("https"), Some("git.example.com"), &opted).is_ok());
        assert!(git(Some("https"), Some("git.example.com:8443"), &opted).is_ok());
        assert!(git(Some("http"), Some("git.example.com"), &opted).is_err(), "http only to loopback");
        assert!(git(Some("http"), Some("127.0.0.1:8080"), &opted).is_ok());
        assert!(git(Some("http"), Some("127.0.0.1:9090"), &opted).is_err(), "another port");
        assert!(git(Some("http"), Some("localhost:3000"), &opted).is_ok());
        assert!(git(Some("https"), Some("other.example.com"), &opted).is_err());
        let refused = git(Some("https"), Some("git.other.example"), &none).expect_err("other");
        assert!(refused.contains("--allow-host git.other.example"), "{refused}");
    }

    #[test]
    fn docker_answers_google_registries_and_those_config_json_names() {
        let none = allow(&[]);
        for ok in
            ["gcr.io", "https://eu.gcr.io", "us-docker.pkg.dev", "https://us-docker.pkg.dev/v2/", "GCR.IO"]
        {
            assert!(docker(ok, &none).is_ok(), "{ok}");
        }
        for refused in
            ["https://index.docker.io/v1/", "quay.io", "gcr.io.evil.example", "evilgcr.io", "x@gcr.io.evil"]
        {
            let why = docker(refused, &none).expect_err(refused);
            assert!(why.contains("configure-docker"), "{why}");
        }
        let configured = allow(&["127.0.0.1:5000", "registry.example.com"]);
        assert!(docker("127.0.0.1:5000", &configured).is_ok());
        assert!(docker("https://registry.example.com/v2/", &configured).is_ok());
        assert!(docker("127.0.0.1:5001", &configured).is_err());
    }
}
