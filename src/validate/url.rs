//! URLs and hosts: where credentials may be sent, what a URL shows in a message, Docker's
//! registry hosts.

use super::dns_subdomain;

/// Set to `true` to allow plain `http://` endpoints on any host (a TLS-terminating proxy in
/// front of Google, a test rig); without it only loopback and link-local hosts may use it.
pub(crate) const ALLOW_HTTP_ENV: &str = "GCP_TOKEN_AGENT_ALLOW_INSECURE_HTTP";

/// A URL the agent sends credentials to: `https://`, or `http://` to a loopback or
/// link-local host (a metadata server, a local emulator) unless [`ALLOW_HTTP_ENV`] says
/// otherwise, never with `user:password@`. The message never repeats a password.
pub(crate) fn endpoint_url(text: &str) -> Result<(), String> {
    let shown = shown_url(text);
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("\"{shown}\" is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("\"{shown}\" carries user:password@; credentials never go in URLs"));
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("\"{shown}\" has no host"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if local_host(host) || std::env::var(ALLOW_HTTP_ENV).is_ok_and(|v| v == "true") => Ok(()),
        "http" => Err(format!(
            "\"{shown}\" is plain http to {host}; credentials travel only over https (http only to loopback \
             and link-local hosts, unless {ALLOW_HTTP_ENV}=true)"
        )),
        other => Err(format!("\"{shown}\" has scheme \"{other}\"; expected https")),
    }
}

/// A URL as messages and logs show it: [`crate::scrub::url`], the one masking rule.
pub(crate) fn shown_url(url: &str) -> String {
    crate::scrub::url(url)
}

/// A URL the agent fetches without sending it credentials of its own (an
/// `external_account`'s `credential_source.url`): `http` or `https` with a host, no
/// `user:password@` (headers carry credentials). Plain http to any host stays allowed, as
/// Google's libraries allow it for on-premises token services.
pub(crate) fn fetch_url(text: &str) -> Result<(), String> {
    let shown = shown_url(text);
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("\"{shown}\" is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("\"{shown}\" carries user:password@; use \"headers\""));
    }
    match (url.scheme(), url.host_str()) {
        ("http" | "https", Some(host)) if !host.is_empty() => Ok(()),
        ("http" | "https", _) => Err(format!("\"{shown}\" has no host")),
        (other, _) => Err(format!("\"{shown}\" has scheme \"{other}\"; expected https or http")),
    }
}

/// Loopback, link-local (169.254.169.254, fe80::/10) and the metadata server's names: the
/// hosts plain http may reach, and that proxies are never used for.
pub(crate) fn local_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || ip.is_unicast_link_local(),
        Err(_) => matches!(host, "localhost" | "metadata" | "metadata.google.internal"),
    }
}

/// Loopback named as such: `localhost`, `127.0.0.0/8`, `[::1]`; never another name that
/// may resolve there.
pub(crate) fn loopback_name(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A container registry as Docker's `credHelpers` keys it: `HOST` or `HOST:PORT`, the host a
/// lowercase DNS name or an IP address (IPv6 in brackets). A leading `https://` and a trailing
/// `/`, as pasted from a browser, are dropped; another scheme, a path or `user@` is refused,
/// because Docker looks helpers up by host alone.
pub(crate) fn registry_host(text: &str) -> Result<String, String> {
    let shown = shown_url(text);
    let bare = text.trim();
    let bare = bare.strip_prefix("https://").unwrap_or(bare);
    let bare = bare.strip_suffix('/').unwrap_or(bare);
    let example = "e.g. us-docker.pkg.dev or registry.example.com:5000";
    if bare.contains("://") {
        return Err(format!("\"{shown}\" has a scheme other than https://; give the host, {example}"));
    }
    if bare.contains(['/', '@', '?', '#']) {
        return Err(format!(
            "\"{shown}\" is not a bare host: Docker picks credential helpers by host[:port], {example}"
        ));
    }
    let (host, port) = match bare.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && (!host.contains(':') || host.ends_with(']')) => {
            (host, Some(port))
        }
        _ => (bare, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0) && !p.starts_with('0'));
    let ipv6 = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let host_ok = match ipv6 {
        Some(ip) => ip.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host.parse::<std::net::Ipv4Addr>().is_ok() || dns_subdomain(host),
    };
    if host_ok && port_ok {
        Ok(bare.to_owned())
    } else {
        Err(format!(
            "\"{shown}\" is not a registry host[:port] (a lowercase DNS name or an IP address, IPv6 in \
             brackets), {example}"
        ))
    }
}
