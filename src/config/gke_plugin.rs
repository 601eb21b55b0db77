//! Run as `gke-gcloud-auth-plugin` (a symlink), the binary stands in for Google's kubectl plugin,
//! so a kubeconfig written by `gcloud container clusters get-credentials` works unchanged: its
//! flags are read as that plugin reads them (Go's flag syntax) and mapped onto `exec-credential`:
//! with `--use_application_default_credentials`, Application Default Credentials; without it,
//! gcloud's active account (`--source gcloud`), read from gcloud's files as the plugin would
//! have gcloud read them, and impersonating as gcloud would.

use std::{ffi::OsString, path::Path};

use crate::error::Error;

/// The plugin's program name, as gcloud writes it into kubeconfigs.
pub(crate) const GKE_PLUGIN: &str = "gke-gcloud-auth-plugin";

/// Flags that name the cluster or tune the plugin's own logs: the token is the same without them.
const IGNORED_WITH_VALUE: &[&str] =
    &["project", "location", "cluster", "v", "vmodule", "log_dir", "log_file", "stderrthreshold"];
const IGNORED_SWITCHES: &[&str] = &["logtostderr", "alsologtostderr", "add_dir_header", "skip_headers"];

/// `exec-credential`'s arguments, with a line per flag ignored: debug lines, and warnings for
/// those a user may expect to matter.
#[derive(Debug, Default)]
pub(super) struct Translated {
    pub(super) argv: Vec<OsString>,
    pub(super) debug: Vec<String>,
    pub(super) warnings: Vec<String>,
}

/// The plugin's arguments as `gcp-token-agent exec-credential`'s; `None` when the binary has
/// another name.
pub(super) fn plugin_args(argv: &[OsString]) -> Option<Result<Translated, Error>> {
    let name = argv.first().and_then(|a| Path::new(a).file_name()).and_then(|n| n.to_str());
    (name == Some(GKE_PLUGIN)).then(|| translate(argv.get(1..).unwrap_or_default()))
}

fn translate(args: &[OsString]) -> Result<Translated, Error> {
    let usage = |why: String| Error::usage(GKE_PLUGIN, why);
    let mut out = Translated::default();
    let (mut adc, mut help, mut impersonate, mut account) = (false, false, None, None);
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
        let mut value_of = |value: Option<&str>| match value {
            Some(value) => Ok(value.to_owned()),
            None => rest
                .next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or_else(|| usage(format!("--{name} needs a value"))),
        };
        match name {
            "use_application_default_credentials" => adc = switch(value)?,
            "version" => {
                return Ok(Translated { argv: vec!["gcp-token-agent".into(), "--version".into()], ..out });
            }
            "help" | "h" => help = true,
            "use_edge_cloud" if switch(value)? => {
                return Err(usage(
                    "--use_edge_cloud (Google Distributed Cloud) is not supported: \
                    use the cluster's own kubeconfig, or drop the flag for GKE"
                        .into(),
                ));
            }
            "use_edge_cloud" => out.debug.push(format!("{GKE_PLUGIN}: ignoring --{name}=false")),
            "impersonate_service_account" => impersonate = Some(value_of(value)?).filter(|v| !v.is_empty()),
            "account" => account = Some(value_of(value)?).filter(|v| !v.is_empty()),
            _ if IGNORED_WITH_VALUE.contains(&name) => {
                let value = value_of(value)?;
                out.debug.push(format!(
                    "{GKE_PLUGIN}: ignoring --{name}={value} (the token does not depend on it)"
                ));
            }
            _ if IGNORED_SWITCHES.contains(&name) => {
                out.debug.push(format!("{GKE_PLUGIN}: ignoring --{name} (the token does not depend on it)"));
            }
            _ => return Err(usage(format!("does not know the flag \"-{flag}\""))),
        }
    }
    out.argv = vec!["gcp-token-agent".into(), "exec-credential".into()];
    if help {
        out.argv.push("--help".into());
    } else if adc {
        // Google's plugin reads neither in this mode: its token is ADC's principal's.
        for (flag, value) in [("impersonate_service_account", impersonate), ("account", account)] {
            if let Some(value) = value {
                out.warnings.push(format!(
                    "{GKE_PLUGIN}: ignoring --{flag}={value}, as Google's plugin does with \
                     --use_application_default_credentials: the token is for Application Default \
                     Credentials' account (drop --use_application_default_credentials to use gcloud's \
                     active account and this flag)"
                ));
            }
        }
    } else {
        if let Some(account) = account {
            return Err(usage(format!(
                "--account={account} is not supported: set CLOUDSDK_CORE_ACCOUNT={account} in the \
                 kubeconfig's exec env instead (gcloud reads it the same way)"
            )));
        }
        out.argv.extend(["--source".into(), "gcloud".into()]);
        if let Some(chain) = impersonate {
            // gcloud's form: a comma-separated chain of delegates, the target last.
            let mut chain: Vec<&str> = chain.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
            let target = chain.pop().ok_or_else(|| usage("--impersonate_service_account is empty".into()))?;
            out.argv.extend(["--impersonate-service-account".into(), target.into()]);
            if !chain.is_empty() {
                out.argv.extend(["--delegates".into(), chain.join(",").into()]);
            }
        }
    }
    Ok(out)
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
        got.argv.iter().filter_map(|a| a.to_str()).collect()
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
            assert!(got.debug.is_empty() && got.warnings.is_empty());
        }
    }

    #[test]
    fn without_the_adc_flag_the_source_is_gclouds_active_account() {
        for args in [&[][..], &["--use_application_default_credentials=false", "--project=p"][..]] {
            assert_eq!(
                argv(&plugin(args).expect("accepted")),
                ["gcp-token-agent", "exec-credential", "--source", "gcloud"]
            );
        }
    }

    #[test]
    fn gclouds_impersonation_chain_becomes_the_target_and_its_delegates() {
        let one = plugin(&["--impersonate_service_account=t@p.iam.gserviceaccount.com"]).expect("ok");
        assert_eq!(argv(&one)[4..], ["--impersonate-service-account", "t@p.iam.gserviceaccount.com"]);
        let chain = plugin(&[
            "--impersonate_service_account",
            "a@p.iam.gserviceaccount.com,b@p.iam.gserviceaccount.com,t@p.iam.gserviceaccount.com",
        ])
        .expect("ok");
        assert_eq!(
            argv(&chain)[4..],
            [
                "--impersonate-service-account",
                "t@p.iam.gserviceaccount.com",
                "--delegates",
                "a@p.iam.gserviceaccount.com,b@p.iam.gserviceaccount.com"
            ]
        );
    }

    #[test]
    fn with_the_adc_flag_impersonation_and_account_are_ignored_with_a_warning_as_the_plugin_does() {
        let got = plugin(&[
            "--use_application_default_credentials",
            "--impersonate_service_account=t@p.iam.gserviceaccount.com",
            "--account=me@example.com",
        ])
        .expect("accepted");
        assert_eq!(argv(&got), ["gcp-token-agent", "exec-credential"]);
        assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
        assert!(got.warnings[0].contains("--impersonate_service_account=t@p.iam.gserviceaccount.com"));
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
        assert_eq!(got.debug.len(), 4, "{:?}", got.debug);
        assert!(got.debug[0].contains("--project=p"));
    }

    #[test]
    fn version_and_help_answer_as_the_binary_does() {
        assert_eq!(argv(&plugin(&["--version"]).expect("ok")), ["gcp-token-agent", "--version"]);
        assert_eq!(argv(&plugin(&["--help"]).expect("ok")), ["gcp-token-agent", "exec-credential", "--help"]);
    }

    #[test]
    fn flags_that_would_change_the_answer_are_refused_naming_them() {
        let cases = [
            (&["--account=me@example.com"][..], "CLOUDSDK_CORE_ACCOUNT=me@example.com"),
            (&["--use_application_default_credentials", "--use_edge_cloud"][..], "--use_edge_cloud"),
            (&["--use_application_default_credentials", "--impersonate=x"][..], "-impersonate=x"),
            (&["--use_application_default_credentials", "stray"][..], "stray"),
            (&["--use_application_default_credentials=maybe"][..], "maybe"),
            (&["--impersonate_service_account=,"][..], "--impersonate_service_account"),
            (&["--project"][..], "--project needs a value"),
        ];
        for (args, needle) in cases {
            let err = plugin(args).expect_err(needle).to_string();
            assert!(err.contains(GKE_PLUGIN) && err.contains(needle), "{args:?}: {err}");
        }
    }
}
