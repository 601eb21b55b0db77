//! Run as `gke-gcloud-auth-plugin` (a symlink), the binary stands in for Google's kubectl plugin,
//! so a kubeconfig written by `gcloud container clusters get-credentials` works unchanged: its
//! flags are read as that plugin reads them (Go's flag syntax) and mapped onto `exec-credential`.

use std::{ffi::OsString, path::Path};

use crate::error::Error;

/// The plugin's program name, as gcloud writes it into kubeconfigs.
pub(crate) const GKE_PLUGIN: &str = "gke-gcloud-auth-plugin";

/// Flags that name the cluster or tune the plugin's own logs: the token is the same without them.
const IGNORED_WITH_VALUE: &[&str] =
    &["project", "location", "cluster", "v", "vmodule", "log_dir", "log_file", "stderrthreshold"];
const IGNORED_SWITCHES: &[&str] = &["logtostderr", "alsologtostderr", "add_dir_header", "skip_headers"];

/// `exec-credential`'s arguments and the debug lines for the flags ignored.
pub(super) type Translated = (Vec<OsString>, Vec<String>);

/// The plugin's arguments as `gcp-token-agent exec-credential`'s, with a debug line per flag
/// ignored; `None` when the binary has another name.
pub(super) fn plugin_args(argv: &[OsString]) -> Option<Result<Translated, Error>> {
    let name = argv.first().and_then(|a| Path::new(a).file_name()).and_then(|n| n.to_str());
    (name == Some(GKE_PLUGIN)).then(|| translate(argv.get(1..).unwrap_or_default()))
}

fn translate(args: &[OsString]) -> Result<Translated, Error> {
    let usage = |why: String| Error::usage(GKE_PLUGIN, why);
    let mut out: Vec<OsString> = vec!["gcp-token-agent".into(), "exec-credential".into()];
    let (mut adc, mut notes) = (false, Vec::new());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let text = arg.to_str().ok_or_else(|| usage("an argument is not UTF-8".into()))?;
        // Go's flag package takes `-name` and `--name`, with `=value` or the next argument.
        let Some(flag) = text.strip_prefix("--").or_else(|| text.strip_prefix('-')) else {
            return Err(usage(format!("takes no argument \"{text}\"")));
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        let switch = |value: Option<&str>| match value {
            None | Some("true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(true),
            Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(usage(format!("--{name} takes true or false, not \"{other}\""))),
        };
        match name {
            "use_application_default_credentials" => adc = switch(value)?,
            "version" => return Ok((vec!["gcp-token-agent".into(), "--version".into()], notes)),
            "help" | "h" => out.push("--help".into()),
            "use_edge_cloud" if switch(value)? => {
                return Err(usage(
                    "--use_edge_cloud (Google Distributed Cloud) is not supported: \
                    use the cluster's own kubeconfig, or drop the flag for GKE"
                        .into(),
                ));
            }
            "use_edge_cloud" => notes.push(format!("{GKE_PLUGIN}: ignoring --{name}=false")),
            _ if IGNORED_WITH_VALUE.contains(&name) => {
                let value = match value {
                    Some(value) => value.to_owned(),
                    None => rest
                        .next()
                        .map(|v| v.to_string_lossy().into_owned())
                        .ok_or_else(|| usage(format!("--{name} needs a value")))?,
                };
                notes.push(format!(
                    "{GKE_PLUGIN}: ignoring --{name}={value} (the token does not depend on it)"
                ));
            }
            _ if IGNORED_SWITCHES.contains(&name) => {
                notes.push(format!("{GKE_PLUGIN}: ignoring --{name} (the token does not depend on it)"));
            }
            _ => return Err(usage(format!("does not know the flag \"-{flag}\""))),
        }
    }
    if !adc && !out.iter().any(|a| a == "--help") {
        return Err(usage(
            "without --use_application_default_credentials would use gcloud's active account, which is \
             not supported yet: add --use_application_default_credentials to the kubeconfig's args \
             (the credential then comes from GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file or the \
             metadata server)"
                .into(),
        ));
    }
    Ok((out, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(args: &[&str]) -> Result<Translated, Error> {
        let argv: Vec<OsString> =
            ["/usr/bin/gke-gcloud-auth-plugin"].iter().chain(args).map(OsString::from).collect();
        plugin_args(&argv).expect("the plugin's name")
    }

    fn argv(got: &Translated) -> Vec<&str> {
        got.0.iter().filter_map(|a| a.to_str()).collect()
    }

    #[test]
    fn other_names_are_not_the_plugin() {
        assert!(plugin_args(&["gcp-token-agent".into(), "exec-credential".into()]).is_none());
    }

    #[test]
    fn the_adc_flag_in_either_go_spelling_is_exec_credential() {
        for flag in ["--use_application_default_credentials", "-use_application_default_credentials=true"] {
            let got = plugin(&[flag]).expect("accepted");
            assert_eq!(argv(&got), ["gcp-token-agent", "exec-credential"]);
            assert!(got.1.is_empty());
        }
    }

    #[test]
    fn cluster_and_log_flags_are_ignored_with_a_debug_line_each() {
        let got = plugin(&[
            "--project",
            "p",
            "--location=us-central1",
            "-v=4",
            "--logtostderr",
            "--use_application_default_credentials",
        ])
        .expect("accepted");
        assert_eq!(argv(&got), ["gcp-token-agent", "exec-credential"]);
        assert_eq!(got.1.len(), 4, "{:?}", got.1);
        assert!(got.1[0].contains("--project=p"));
    }

    #[test]
    fn version_and_help_answer_as_the_binary_does() {
        assert_eq!(argv(&plugin(&["--version"]).expect("ok")), ["gcp-token-agent", "--version"]);
        assert_eq!(argv(&plugin(&["--help"]).expect("ok")), ["gcp-token-agent", "exec-credential", "--help"]);
    }

    #[test]
    fn flags_that_would_change_the_answer_are_refused_naming_them() {
        let cases = [
            (&[][..], "--use_application_default_credentials"),
            (&["--use_application_default_credentials=false"][..], "--use_application_default_credentials"),
            (&["--use_application_default_credentials", "--use_edge_cloud"][..], "--use_edge_cloud"),
            (&["--use_application_default_credentials", "--impersonate=x"][..], "-impersonate=x"),
            (&["--use_application_default_credentials", "stray"][..], "stray"),
            (&["--use_application_default_credentials=maybe"][..], "maybe"),
        ];
        for (args, needle) in cases {
            let err = plugin(args).expect_err(needle).to_string();
            assert!(err.contains(GKE_PLUGIN) && err.contains(needle), "{args:?}: {err}");
        }
    }
}
