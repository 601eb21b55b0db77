//! The metadata server's rules every request passes: `Metadata-Flavor: Google`, no proxied
//! request, a metadata or loopback `Host` (the DNS rebinding defence), the flavor headers on
//! every answer, and metrics by route template.

use std::{net::IpAddr, sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::MetadataState;

/// The metadata server's rules: `Metadata-Flavor: Google` required, no proxied requests
/// (`X-Forwarded-For`), the flavor header on every answer; plus metrics by route template.
pub(super) async fn guard(State(state): State<Arc<MetadataState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The template is shared (an Arc), so naming the route for metrics copies nothing.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = match forbidden(request.uri(), request.headers(), state.listen) {
        Some(why) => (StatusCode::FORBIDDEN, why).into_response(),
        None => next.run(request).await,
    };
    mark(&mut response);
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.http_request(route, response.status().as_u16(), started);
    response
}

/// Why a request is refused (403), if it is.
pub(super) fn forbidden(uri: &Uri, headers: &HeaderMap, listen: Option<IpAddr>) -> Option<&'static str> {
    let flavored =
        headers.get("metadata-flavor").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Google"));
    // Exactly one Host, and a target in origin form (`/path`): an absolute-form target
    // (`GET http://evil.example/...`) names another authority than the Host checked here,
    // and two Host headers let a proxy and this server read different ones.
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => Some(host.to_str().unwrap_or("\u{fffd}")),
        _ => None,
    };
    if uri.authority().is_some() || uri.scheme().is_some() {
        Some("requests with an absolute-form target are refused\n")
    } else if !host.is_some_and(|h| host_allowed(h, listen)) {
        // A page on a name that re-resolves to 127.0.0.1 (DNS rebinding) is same-origin with
        // this API, so Metadata-Flavor alone would not stop it; its Host header does.
        Some("requests without a metadata or loopback Host are refused\n")
    } else if headers.contains_key("x-forwarded-for") {
        Some("requests with X-Forwarded-For are refused\n")
    } else if !flavored {
        Some("Missing required header \"Metadata-Flavor\": \"Google\"\n")
    } else {
        None
    }
}

/// The headers a metadata server puts on every answer.
pub(super) fn mark(response: &mut Response) {
    response.headers_mut().insert("metadata-flavor", HeaderValue::from_static("Google"));
    response.headers_mut().insert(header::SERVER, HeaderValue::from_static("Metadata Server for VM"));
}

/// Loopback addresses, the listen address, and the names and address clients use for a
/// metadata server, with or without a port.
pub(crate) fn host_allowed(host: &str, listen: Option<IpAddr>) -> bool {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        // `[ip]` or `[ip]:port`, nothing else after the bracket.
        Some(rest) => match rest.split_once(']') {
            Some((ip, "")) => ip,
            Some((ip, port))
                if port.strip_prefix(':').is_some_and(|p| p.chars().all(|c| c.is_ascii_digit())) =>
            {
                ip
            }
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        },
    };
    // Checked on every request: compared without allocating.
    let name = name.trim_end_matches('.');
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || Some(ip) == listen || ip == IpAddr::from([169, 254, 169, 254]),
        Err(_) => {
            ["localhost", "metadata", "metadata.google.internal"].iter().any(|n| n.eq_ignore_ascii_case(name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_metadata_and_loopback_hosts_are_served() {
        let listen = Some(IpAddr::from([10, 0, 0, 5]));
        for good in [
            "127.0.0.1:8989",
            "127.0.0.2",
            "localhost:8989",
            "LOCALHOST",
            "[::1]:8989",
            "metadata.google.internal",
            "metadata.google.internal.",
            "metadata",
            "169.254.169.254",
            "169.254.169.254:80",
            "10.0.0.5:8989",
        ] {
            assert!(host_allowed(good, listen), "{good} refused");
        }
        for bad in [
            "evil.example:8989",
            "127.0.0.1.nip.io",
            "10.0.0.6",
            "[::1]evil",
            "[::1",
            "[::ffff:127.0.0.1]x",
            "[::2]:80",
            "",
            "metadata.google.internal.evil",
        ] {
            assert!(!host_allowed(bad, listen), "{bad} accepted");
        }
    }
}
