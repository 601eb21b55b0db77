//! The GCE/GKE metadata server as a credential source.

/// The link-local address every GCE and GKE metadata server answers on.
pub(crate) const DEFAULT_METADATA_HOST: &str = "169.254.169.254";

/// Where to find a metadata server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataServer {
    /// `host[:port]`, as in `GCE_METADATA_HOST`.
    pub host: String,
    /// True when the user named it (flag or variable); false when ADC fell back to it,
    /// in which case "unreachable" means "no credentials", not "Google is down".
    pub explicit: bool,
}

/// `host[:port]` as `GCE_METADATA_HOST` takes it: a DNS name, an IPv4 address or a bracketed
/// IPv6 address, and a port from 1 to 65535. No scheme, path or `user@`.
pub(crate) fn check_host(text: &str) -> Result<(), String> {
    let text = text.trim();
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, Some(port)),
        _ => (text, None),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ip) => ip.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
        }
    };
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(format!(
            "\"{}\" is not host[:port] (e.g. 169.254.169.254 or 127.0.0.1:8989; no scheme, path or user@)",
            crate::validate::shown_url(text)
        ))
    }
}

impl MetadataServer {
    /// The base URL of the v1 API, with a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}/computeMetadata/v1/", self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_hosts_are_host_and_port_and_errors_never_show_a_password() {
        for good in
            ["169.254.169.254", "127.0.0.1:8989", "metadata.google.internal", "[::1]:80", "localhost:1"]
        {
            assert!(check_host(good).is_ok(), "{good}");
        }
        for bad in ["", "http://x", "h/p", "h:0", "h:99999", "a b", "[::1", "u:p/x@169.254.169.254", "u@h"] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
        let why = check_host("u:s3cret/x@169.254.169.254").expect_err("userinfo");
        assert!(!why.contains("s3cret"), "{why}");
    }
}
