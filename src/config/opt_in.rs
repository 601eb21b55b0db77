//! How pods ask for the agent (`webhook --opt-in`, `--opt-in-key`, `--opt-in-value`), and
//! `webhook-probe`'s settings, checked as the webhook's other flags are (exit 64 naming the
//! flag). The webhook gets an [`OptIn`] and never sees clap's types.

use std::{path::PathBuf, time::Duration};

use crate::{
    cli::{self, OPT_IN_KEY, WebhookProbeArgs},
    error::{Error, Result},
    validate,
};

/// Longest annotation value accepted as the opt-in (label values stop at 63).
const MAX_ANNOTATION_VALUE: usize = 253;

/// The prefix of the webhook's per-pod setting annotations (`webhook::annotations`), where any
/// key it does not know is refused as a typo.
pub(crate) const SETTINGS_PREFIX: &str = "gcp-token-agent.io/";

/// Who sees the opt-in: the API server (the two label styles, selectors of the webhook
/// configuration) or the webhook (the annotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptInStyle {
    PodLabel,
    NamespaceLabel,
    PodAnnotation,
}

/// The opt-in, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OptIn {
    pub(crate) style: OptInStyle,
    pub(crate) key: String,
    pub(crate) value: String,
}

impl Default for OptIn {
    fn default() -> Self {
        Self { style: OptInStyle::PodLabel, key: OPT_IN_KEY.to_owned(), value: "true".to_owned() }
    }
}

impl OptIn {
    /// Checks the key (a Kubernetes qualified name) and the value (a label value for the
    /// label styles; any short single-line text for the annotation).
    pub(crate) fn from_args(style: cli::OptInStyle, key: &str, value: &str) -> Result<Self> {
        let style = match style {
            cli::OptInStyle::PodLabel => OptInStyle::PodLabel,
            cli::OptInStyle::NamespaceLabel => OptInStyle::NamespaceLabel,
            cli::OptInStyle::PodAnnotation => OptInStyle::PodAnnotation,
        };
        opt_in_key(key).map_err(|why| Error::usage("--opt-in-key", why))?;
        let checked = match style {
            OptInStyle::PodAnnotation => annotation_value(value),
            _ => label_value(value),
        };
        checked.map_err(|why| Error::usage("--opt-in-value", why))?;
        Ok(Self { style, key: key.to_owned(), value: value.to_owned() })
    }

    /// Whether the webhook itself must look for the opt-in (no selector can express it).
    pub(crate) fn checked_by_webhook(&self) -> bool {
        self.style == OptInStyle::PodAnnotation
    }

    /// How a pod stops asking for the agent, for the end of a denial message.
    pub(crate) fn how_to_leave(&self) -> String {
        let (key, value) = (&self.key, &self.value);
        match self.style {
            OptInStyle::PodLabel => format!("remove the pod label {key}: \"{value}\" (the opt-in)"),
            OptInStyle::PodAnnotation => {
                format!("remove the pod annotation {key}: \"{value}\" (the opt-in)")
            }
            OptInStyle::NamespaceLabel => format!(
                "run it in a namespace without the label {key}: \"{value}\" (the opt-in: every pod of a \
                 namespace labelled so gets the agent)"
            ),
        }
    }
}

/// A qualified name outside the settings' prefix, or the default key. The probe always puts the
/// key on its pod as an annotation, and the webhook reads every `gcp-token-agent.io/`
/// annotation as a setting or refuses it as a typo: another key there would deny every
/// opted-in pod, or be read as the setting it names.
fn opt_in_key(key: &str) -> std::result::Result<(), String> {
    qualified_name(key)?;
    if key.starts_with(SETTINGS_PREFIX) && key != OPT_IN_KEY {
        let shown = crate::scrub::escape(&key.chars().take(80).collect::<String>());
        return Err(format!(
            "\"{shown}\" is under {SETTINGS_PREFIX}, which holds the per-pod settings the webhook reads; \
             the only opt-in key there is {OPT_IN_KEY}: use it or a prefix of your own, e.g. \
             example.com/gcp-credentials"
        ));
    }
    Ok(())
}

/// `[PREFIX/]NAME`: PREFIX a DNS subdomain, NAME 1-63 letters, digits, `-`, `_`, `.`, starting
/// and ending with a letter or digit.
fn qualified_name(key: &str) -> std::result::Result<(), String> {
    let shown = crate::scrub::escape(&key.chars().take(80).collect::<String>());
    let (prefix, name) = key.rsplit_once('/').map_or((None, key), |(p, n)| (Some(p), n));
    let prefix_ok = prefix.is_none_or(validate::dns_subdomain);
    if !prefix_ok || label_value(name).is_err() || name.is_empty() {
        return Err(format!(
            "\"{shown}\" is not a label or annotation key ([PREFIX/]NAME: NAME of at most 63 letters, \
             digits, '-', '_' or '.', PREFIX a DNS name), e.g. {OPT_IN_KEY}"
        ));
    }
    Ok(())
}

/// A label value: at most 63 letters, digits, `-`, `_`, `.`, alphanumeric at both ends, or empty.
fn label_value(value: &str) -> std::result::Result<(), String> {
    let edges = |c: char| c.is_ascii_alphanumeric();
    let ok = value.is_empty()
        || (value.len() <= 63
            && value.starts_with(edges)
            && value.ends_with(edges)
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    if ok {
        Ok(())
    } else {
        let shown = crate::scrub::escape(&value.chars().take(80).collect::<String>());
        Err(format!(
            "\"{shown}\" is not a label value (at most 63 letters, digits, '-', '_' or '.', a letter or \
             digit at each end)"
        ))
    }
}

fn annotation_value(value: &str) -> std::result::Result<(), String> {
    if value.is_empty() || value.len() > MAX_ANNOTATION_VALUE || value.chars().any(char::is_control) {
        let shown = crate::scrub::escape(&value.chars().take(80).collect::<String>());
        return Err(format!(
            "\"{shown}\" is not an opt-in annotation value (1 to {MAX_ANNOTATION_VALUE} characters, \
             one line)"
        ));
    }
    Ok(())
}

/// `webhook-probe`'s settings.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub(crate) url: String,
    pub(crate) ca_file: PathBuf,
    pub(crate) opt_in_key: String,
    pub(crate) opt_in_value: String,
    pub(crate) timeout: Duration,
}

impl ProbeConfig {
    /// Checks `webhook-probe`'s flags: an https URL, a key the webhook would accept.
    pub fn from_args(args: &WebhookProbeArgs) -> Result<Self> {
        let https = args.url.strip_prefix("https://").is_some_and(|rest| !rest.is_empty());
        if !https || args.url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::usage(
                "--url",
                format!(
                    "\"{}\" is not an https:// URL, e.g. https://SERVICE.NAMESPACE.svc:443/mutate",
                    validate::shown_url(&args.url)
                ),
            ));
        }
        // No user:password@ (nothing would send it, and it would show in logs).
        validate::endpoint_url(&args.url).map_err(|why| Error::usage("--url", why))?;
        opt_in_key(&args.opt_in_key).map_err(|why| Error::usage("--opt-in-key", why))?;
        annotation_value(&args.opt_in_value).map_err(|why| Error::usage("--opt-in-value", why))?;
        if args.timeout.is_zero() {
            return Err(Error::usage("--timeout", "must be more than 0"));
        }
        Ok(Self {
            url: args.url.clone(),
            ca_file: args.ca_file.clone(),
            opt_in_key: args.opt_in_key.clone(),
            opt_in_value: args.opt_in_value.clone(),
            timeout: args.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_in_keys_are_qualified_names_and_label_values_are_checked_for_label_styles() {
        let ok = |style, key: &str, value: &str| OptIn::from_args(style, key, value).is_ok();
        assert!(ok(cli::OptInStyle::PodLabel, OPT_IN_KEY, "true"));
        assert!(ok(cli::OptInStyle::NamespaceLabel, "team", "payments"));
        assert!(ok(cli::OptInStyle::PodAnnotation, "example.com/wants-gcp", "yes please"));
        for key in ["", "/x", "a b", "example.com/", "-x", "bad_prefix/x", &"k".repeat(64)] {
            let error = OptIn::from_args(cli::OptInStyle::PodLabel, key, "true").expect_err(key).to_string();
            assert!(error.starts_with("--opt-in-key:"), "{error}");
        }
        for value in ["yes please", "-x", &"v".repeat(64)] {
            let error = OptIn::from_args(cli::OptInStyle::PodLabel, OPT_IN_KEY, value).expect_err(value);
            assert!(error.to_string().starts_with("--opt-in-value:"), "{error}");
        }
        for value in ["", "a\nb"] {
            assert!(!ok(cli::OptInStyle::PodAnnotation, OPT_IN_KEY, value), "{value:?}");
        }
    }

    #[test]
    fn no_opt_in_key_under_the_settings_prefix_but_the_default_is_accepted() {
        for key in ["gcp-token-agent.io/enabled", "gcp-token-agent.io/service-account"] {
            for style in [cli::OptInStyle::PodLabel, cli::OptInStyle::PodAnnotation] {
                let error = OptIn::from_args(style, key, "true").expect_err(key).to_string();
                assert!(error.starts_with("--opt-in-key:") && error.contains(OPT_IN_KEY), "{error}");
            }
            let error = ProbeConfig::from_args(&probe_args("https://w.ns.svc/mutate", key)).expect_err(key);
            assert!(error.to_string().starts_with("--opt-in-key:"), "{error}");
        }
        for key in [OPT_IN_KEY, "sub.gcp-token-agent.io/enabled", "example.com/gcp-token-agent.io"] {
            assert!(OptIn::from_args(cli::OptInStyle::PodAnnotation, key, "true").is_ok(), "{key}");
        }
        assert!(ProbeConfig::from_args(&probe_args("https://w.ns.svc/mutate", OPT_IN_KEY)).is_ok());
    }

    fn probe_args(url: &str, key: &str) -> WebhookProbeArgs {
        WebhookProbeArgs {
            url: url.to_owned(),
            ca_file: "ca.crt".into(),
            opt_in_key: key.to_owned(),
            opt_in_value: "true".to_owned(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_probe_refuses_a_url_with_credentials_without_repeating_the_password() {
        for url in ["https://user:hunter2@w.ns.svc/mutate", "https://hunter2@w.ns.svc/mutate"] {
            let error = ProbeConfig::from_args(&probe_args(url, OPT_IN_KEY)).expect_err(url).to_string();
            assert!(error.starts_with("--url:") && error.contains("user:password@"), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let error =
            ProbeConfig::from_args(&probe_args("http://u:hunter2@w/x", OPT_IN_KEY)).expect_err("http");
        assert!(error.to_string().contains("https://") && !error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn each_style_tells_a_pod_how_to_leave() {
        let leave = |style| OptIn::from_args(style, "team", "a").expect("valid").how_to_leave();
        assert!(leave(cli::OptInStyle::PodLabel).contains("pod label team"));
        assert!(leave(cli::OptInStyle::PodAnnotation).contains("pod annotation team"));
        assert!(leave(cli::OptInStyle::NamespaceLabel).contains("namespace without the label team"));
    }
}
