//! Every endpoint the credential talks to: does it answer (over TLS, for https), and how far
//! this machine's clock is from the token endpoint's `Date`.

use std::time::{Duration, SystemTime};

use super::finding::Finding;
use crate::{
    credentials::{Source, external_account::CredentialSource},
    error::{Endpoint, UpstreamErrorKind},
    exchange::{
        Http,
        probe::{Probe, is_tls_failure, probe},
    },
};

/// Who names the metadata server when ADC fell back to it.
const DEFAULT_METADATA: &str = "the default metadata address";

/// An endpoint in play: which, its URL, and the field or setting that names it.
pub(super) struct InPlay {
    endpoint: Endpoint,
    url: String,
    named_by: String,
}

/// What the probes found, for the checks that follow.
#[derive(Debug, Default)]
pub(super) struct Reached {
    /// Some endpoint did not answer: minting cannot work either.
    pub unreachable: bool,
    /// This machine's clock minus the token endpoint's, when a `Date` was seen (seconds).
    pub skew_secs: Option<i64>,
    /// The skew is past `--max-clock-skew`.
    pub skewed: bool,
}

/// The endpoints `source` calls to mint an access token, in the order it calls them.
pub(super) fn in_play(source: &Source) -> Vec<InPlay> {
    let at = |endpoint, url: &str, named_by: String| InPlay { endpoint, url: url.to_owned(), named_by };
    match source {
        Source::ServiceAccount(key) => {
            vec![at(Endpoint::Token, &key.token_uri, field("token_uri", &key.origin))]
        }
        Source::AuthorizedUser(user) => {
            vec![at(Endpoint::Token, &user.token_uri, field("token_uri", &user.origin))]
        }
        Source::Metadata(server) => {
            let via = if server.explicit { "GCE_METADATA_HOST" } else { DEFAULT_METADATA };
            vec![at(Endpoint::Metadata, &format!("http://{}/", server.host), via.to_owned())]
        }
        Source::ExternalAccount(account) => {
            // The Kubernetes flag form has no file: its endpoints come from flags.
            let flags = account.origin.via == "--subject-token-file";
            let named =
                |name: &str, flag: &str| if flags { flag.to_owned() } else { field(name, &account.origin) };
            let mut all = Vec::new();
            if let CredentialSource::Url { url, .. } = &account.credential_source {
                all.push(at(Endpoint::SubjectTokenUrl, url, field("credential_source.url", &account.origin)));
            }
            all.push(at(Endpoint::Sts, &account.token_url, named("token_url", "--sts-endpoint")));
            if let Some(imp) = &account.impersonation {
                let named_by = named("service_account_impersonation_url", "--iam-endpoint");
                all.push(at(Endpoint::IamCredentials, &imp.url, named_by));
            }
            all
        }
        Source::Impersonated(imp) => {
            let mut all = in_play(&imp.source);
            let via = if imp.nested { "service_account_impersonation_url" } else { "--iam-endpoint" };
            all.push(at(Endpoint::IamCredentials, &imp.target.url, via.to_owned()));
            all
        }
    }
}

/// `FIELD of FILE`, the place to correct a URL.
fn field(name: &str, origin: &crate::error::Origin) -> String {
    match origin.path() {
        Some(path) => format!("{name} of {}", path.display()),
        None => format!("{name} of {origin}"),
    }
}

/// Probes each endpoint once, then compares clocks with the first token endpoint (OAuth or
/// STS) that sent a `Date`, else any endpoint that did.
pub(super) async fn check(
    http: &Http,
    source: &Source,
    max_skew: Duration,
    out: &mut Vec<Finding>,
) -> Reached {
    let mut reached = Reached::default();
    let mut clocks: Vec<(Endpoint, String, SystemTime, SystemTime)> = Vec::new();
    for place in in_play(source) {
        let shown = crate::validate::shown_url(&place.url);
        let sent = SystemTime::now();
        // Off Google Cloud nothing answers at the default address: give up as soon as ADC does.
        let deadline = (place.named_by == DEFAULT_METADATA).then_some(Duration::from_secs(2));
        match probe(http, place.endpoint, &place.url, deadline).await {
            Ok(answer) => {
                out.push(answered(&place, &shown, &answer));
                if let Some(date) = answer.date {
                    clocks.push((place.endpoint, shown.to_string(), date, sent));
                }
            }
            Err(e) => {
                reached.unreachable = true;
                out.push(unreachable(&place, &shown, &e.kind));
            }
        }
    }
    let reference = clocks.iter().find(|c| matches!(c.0, Endpoint::Token | Endpoint::Sts)).or(clocks.first());
    if let Some((endpoint, shown, date, sent)) = reference {
        clock(&mut reached, out, (endpoint, shown), *date, *sent, max_skew);
    }
    reached
}

fn unreachable(place: &InPlay, shown: &str, kind: &UpstreamErrorKind) -> Finding {
    let why = match kind {
        UpstreamErrorKind::Unreachable(why) => why.as_str().to_owned(),
        other => other.to_string(),
    };
    let (what, fix) = if is_tls_failure(kind) {
        ("fails TLS", "trust the endpoint's CA (SSL_CERT_FILE) or check for an intercepting proxy".to_owned())
    } else if place.named_by == DEFAULT_METADATA {
        let fix = "no credential was found before it: set GOOGLE_APPLICATION_CREDENTIALS, pass --credentials FILE, \
                   or sign in with `gcp-token-agent login`";
        ("does not answer", fix.to_owned())
    } else {
        (
            "is unreachable",
            format!(
                "check the network, DNS, proxy (HTTPS_PROXY) and firewall, or correct the {}",
                place.named_by
            ),
        )
    };
    Finding::fail(
        "endpoint",
        format!("{} {shown} ({}) {what}: {why}", place.endpoint, place.named_by, why = why),
        fix,
    )
}

fn answered(place: &InPlay, shown: &str, answer: &Probe) -> Finding {
    let tls = if place.url.starts_with("https://") { " over TLS" } else { "" };
    if place.endpoint == Endpoint::Metadata && !answer.metadata_flavor {
        return Finding::fail(
            "endpoint",
            format!(
                "{shown} ({}) answered HTTP {} without Metadata-Flavor: Google: it is no metadata server",
                place.named_by, answer.status
            ),
            "point GCE_METADATA_HOST at the agent's --metadata-listen address (the webhook sets it in injected pods)",
        );
    }
    Finding::ok(
        "endpoint",
        format!("{} {shown} ({}) answers{tls} (HTTP {})", place.endpoint, place.named_by, answer.status),
    )
}

/// `Date` has whole seconds and the answer took some time: the skew is known to about a second.
fn clock(
    reached: &mut Reached,
    out: &mut Vec<Finding>,
    at: (&Endpoint, &str),
    date: SystemTime,
    sent: SystemTime,
    max: Duration,
) {
    let ours = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let skew = ours(sent) - ours(date);
    reached.skew_secs = Some(skew);
    let (endpoint, shown) = at;
    // `Date` has whole seconds: past two minutes, the nearest minute is the honest figure.
    let secs = skew.unsigned_abs();
    let amount = Duration::from_secs(if secs >= 120 { (secs + 30) / 60 * 60 } else { secs });
    let side = if skew > 0 { "ahead of" } else { "behind" };
    if Duration::from_secs(secs) <= max {
        out.push(Finding::ok(
            "clock",
            format!("this machine's clock is within {} of the {endpoint}'s ({shown})", human(max)),
        ));
        return;
    }
    reached.skewed = true;
    out.push(Finding::fail(
        "clock",
        format!("this machine's clock is about {} {side} the {endpoint}'s ({shown}, by its Date header); signed requests and token expiry go wrong", human(amount)),
        "synchronise the clock (NTP: `timedatectl set-ntp true`, chrony), then run doctor again",
    ));
}

/// `10m`, `1h5m`, `42s`: as the durations the flags take.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut text = String::new();
    if h > 0 {
        text.push_str(&format!("{h}h"));
    }
    if m > 0 {
        text.push_str(&format!("{m}m"));
    }
    if sec > 0 || text.is_empty() {
        text.push_str(&format!("{sec}s"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_the_flags_write_them() {
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_secs(3905)), "1h5m5s");
        assert_eq!(human(Duration::ZERO), "0s");
    }
}
