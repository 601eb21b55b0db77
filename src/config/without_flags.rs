//! The command lines kubectl and scripts repeat most, parsed without clap.
//!
//! `gcp-token-agent exec-credential` is what a kubeconfig with `args: ["exec-credential"]` runs
//! on every kubectl call, and `gcp-token-agent print-access-token` what a script substitutes
//! for gcloud's; `exec-credential --source gcloud` is what a `gke-gcloud-auth-plugin` link
//! runs for gcloud's kubeconfig. Given no other flag and no `GCP_TOKEN_AGENT_*` variable (every
//! flag's variable has that prefix), clap can only produce every flag's default (and that
//! source), so that is built here directly.
//! Building clap's command and matching it was a fifth of a cached call (docs/performance.md,
//! "Binary size, start-up and memory"). The tests below hold these values to what clap parses.

use std::{ffi::OsString, time::Duration};

use crate::cli::{
    Cli, Command, ExecCredentialArgs, LogArgs, LogFormat, OutputFormat, PrintAccessArgs, SourceArgs,
    SourceKind,
};

/// Every flag's variable starts with this (checked by a test).
const ENV_PREFIX: &[u8] = b"GCP_TOKEN_AGENT_";

/// The parse of `argv` when it is one of the subcommands above alone and `env_names` (the
/// process's variable names) holds no `GCP_TOKEN_AGENT_*`; otherwise `None`, and clap parses.
pub(super) fn without_flags(argv: &[OsString], env_names: impl IntoIterator<Item = OsString>) -> Option<Cli> {
    let (subcommand, source) = match argv {
        [_, subcommand] => (subcommand, SourceKind::Adc),
        // What a `gke-gcloud-auth-plugin` link runs without --use_application_default_credentials.
        [_, subcommand, flag, value]
            if subcommand == "exec-credential" && flag == "--source" && value == "gcloud" =>
        {
            (subcommand, SourceKind::Gcloud)
        }
        _ => return None,
    };
    let command = match subcommand.to_str()? {
        "exec-credential" => Command::ExecCredential(ExecCredentialArgs {
            source: unset_source(source),
            scopes: None,
            audience: None,
            from_file: None,
        }),
        "print-access-token" => Command::PrintAccessToken(PrintAccessArgs {
            source: unset_source(source),
            scopes: None,
            subject: None,
            format: OutputFormat::Bare,
            audience: None,
        }),
        _ => return None,
    };
    if env_names.into_iter().any(|name| name.as_encoded_bytes().starts_with(ENV_PREFIX)) {
        return None;
    }
    Some(Cli {
        log: LogArgs { log_level: None, log_format: LogFormat::Text },
        command,
        warnings: Vec::new(),
        debug: Vec::new(),
    })
}

/// [`SourceArgs`] with every flag but `--source` at its default.
fn unset_source(source: SourceKind) -> SourceArgs {
    SourceArgs {
        credentials: None,
        source,
        no_cache: false,
        subject_token_file: None,
        workload_identity_provider: None,
        service_account: None,
        impersonate_service_account: None,
        delegates: Vec::new(),
        lifetime: None,
        sts_endpoint: None,
        iam_endpoint: None,
        http_timeout: Duration::from_secs(30),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    const SUBCOMMANDS: [&str; 2] = ["exec-credential", "print-access-token"];

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn each_is_exactly_what_clap_parses() {
        let set: Vec<_> =
            std::env::vars_os().filter(|(k, _)| k.as_encoded_bytes().starts_with(ENV_PREFIX)).collect();
        assert!(set.is_empty(), "clap would read these; unset them to run this test: {set:?}");
        let gcloud = ["gcp-token-agent", "exec-credential", "--source", "gcloud"];
        let lines = SUBCOMMANDS.map(|subcommand| vec!["gcp-token-agent", subcommand]);
        for line in lines.into_iter().chain([gcloud.to_vec()]) {
            let (argv, subcommand) = (argv(&line), line.join(" "));
            let matches = Cli::command().try_get_matches_from(&argv).expect("clap parses");
            let by_clap = Cli::from_arg_matches(&matches).expect("typed");
            let direct = without_flags(&argv, []).expect("no flag, no variable");
            assert_eq!(format!("{direct:?}"), format!("{by_clap:?}"), "{subcommand}");
        }
    }

    #[test]
    fn every_variable_clap_reads_for_them_has_the_prefix() {
        let mut root = Cli::command();
        root.build();
        let globals = root.get_arguments().cloned().collect::<Vec<_>>();
        for subcommand in SUBCOMMANDS {
            let command = root.find_subcommand(subcommand).expect("defined");
            let args = command.get_arguments().chain(&globals);
            let names: Vec<_> = args.filter_map(clap::Arg::get_env).collect();
            assert!(names.len() > 10, "{subcommand}: the flags are built: {names:?}");
            for name in names {
                assert!(name.as_encoded_bytes().starts_with(ENV_PREFIX), "{subcommand}: {name:?}");
            }
        }
    }

    #[test]
    fn a_flag_a_variable_or_another_subcommand_leaves_it_to_clap() {
        let variable = || [OsString::from("HOME"), OsString::from("GCP_TOKEN_AGENT_NO_CACHE")];
        assert!(without_flags(&argv(&["gcp-token-agent", "exec-credential"]), variable()).is_none());
        for args in [
            &["gcp-token-agent", "exec-credential", "--no-cache"][..],
            &["gcp-token-agent", "print-access-token", "--source", "gcloud"],
            &["gcp-token-agent", "exec-credential", "--source", "metadata"],
            &["gcp-token-agent", "--log-level=debug", "exec-credential"],
            &["gcp-token-agent", "print-identity-token"],
            &["gcp-token-agent", "run"],
            &["gcp-token-agent"],
        ] {
            assert!(without_flags(&argv(args), []).is_none(), "{args:?}");
        }
    }
}
