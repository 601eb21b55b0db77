//! Configuration: the command line, `GCP_TOKEN_AGENT_*` variables and `run --config FILE`
//! merged as flag > env > file > default, then validated into one typed settings value per
//! face (`RunConfig`, `PrintAccessConfig`, ...: `XConfig::from_args`, one file each), with
//! every problem reported at once. Clap's types stop here: the faces take these.

use std::ffi::OsString;

use clap::{ArgMatches, CommandFactory, FromArgMatches, parser::ValueSource};

use crate::{
    cli::{Cli, Command, LogArgs, LogFormat},
    error::Error,
    telemetry::{self, LogSettings},
};

/// Parses the command line; for `run --config FILE`, fills what flags and env left unset
/// from the file. Clap errors (including --help) come back as [`ParseError::Clap`].
///
/// A flag that takes one value may be given once: clap refuses a repeat (exit 64), so a
/// wrapper script's `--credentials` cannot be silently replaced by a second one.
///
/// Run by a helper's name (`docker-credential-gcp-token-agent get`), it is that subcommand;
/// as `gke-gcloud-auth-plugin`, `exec-credential` ([`gke_plugin`]).
/// `exec-credential` or `print-access-token` alone is parsed without clap ([`without_flags`]).
pub fn parse(argv: Vec<OsString>) -> Result<Cli, ParseError> {
    let plugin = match gke_plugin::plugin_args(&argv) {
        Some(translated) => translated.map_err(ParseError::Config)?,
        None => gke_plugin::Translated { argv: expand_helper_name(argv), ..Default::default() },
    };
    let mut cli = parse_expanded(plugin.argv)?;
    cli.debug = plugin.debug;
    cli.warnings.extend(plugin.warnings);
    Ok(cli)
}

fn parse_expanded(argv: Vec<OsString>) -> Result<Cli, ParseError> {
    if let Some(cli) = without_flags::without_flags(&argv, std::env::vars_os().map(|(name, _)| name)) {
        return Ok(cli);
    }
    // Building the command is most of a cached CLI call's start-up (every subcommand's flags
    // and help), so it is built again only for `run --config`.
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(&argv).map_err(ParseError::Clap)?;
    let cli = from_matches(&matches)?;
    if !matches!(cli.command, Command::Run(_) | Command::Webhook(_)) {
        // A CLI face exits within milliseconds; freeing every flag and help text of the
        // command would be a twentieth of a cached call's work, so the exit frees it.
        std::mem::forget(command);
    }
    let (Command::Run(run), Some(("run", sub))) = (&cli.command, matches.subcommand()) else {
        return Ok(cli);
    };
    let Some(path) = &run.config else { return Ok(cli) };
    let command = Cli::command();
    let extra = file_args(path, &command, &matches, sub).map_err(ParseError::Config)?;
    let position = argv.iter().position(|a| a == "run").map_or(argv.len(), |i| i + 1);
    let mut merged = argv;
    merged.splice(position..position, extra);
    let matches = command.try_get_matches_from(&merged).map_err(ParseError::Clap)?;
    from_matches(&matches)
}

/// The typed command line. A variable holds one string, so `GCP_TOKEN_AGENT_ID_TOKEN` and
/// `GCP_TOKEN_AGENT_ATTRIBUTE` list several pairs split at commas; a flag or YAML item is one
/// pair, taken whole, so an audience or attribute value may contain a comma.
fn from_matches(matches: &ArgMatches) -> Result<Cli, ParseError> {
    let mut cli = Cli::from_arg_matches(matches).map_err(ParseError::Clap)?;
    legacy_env::apply(&mut cli, std::env::var(legacy_env::OLD).ok()).map_err(ParseError::Config)?;
    let from_env = |id: &str| {
        matches
            .subcommand_matches("run")
            .is_some_and(|run| run.value_source(id) == Some(ValueSource::EnvVariable))
    };
    let split = |values: &[String]| values.iter().flat_map(|v| v.split(',')).map(str::to_owned).collect();
    let (id_tokens, attributes) = (from_env("id_tokens"), from_env("attributes"));
    if let Command::Run(run) = &mut cli.command {
        if id_tokens {
            run.id_tokens = split(&run.id_tokens);
        }
        if attributes {
            run.instance.attributes = split(&run.instance.attributes);
        }
    }
    Ok(cli)
}

/// Why parsing failed.
#[derive(Debug)]
pub enum ParseError {
    /// Clap's own error (also --help and --version).
    Clap(clap::Error),
    /// The config file is unusable.
    Config(Error),
}

mod configure_docker;
mod doctor;
mod exec;
mod file;
mod gke_plugin;
mod helper;
mod legacy_env;
mod login;
mod opt_in;
mod print;
mod run;
mod source;
mod webhook;
mod without_flags;

pub use configure_docker::ConfigureDockerConfig;
pub use doctor::DoctorConfig;
pub use exec::ExecConfig;
pub(crate) use exec::ExecToken;
use file::file_args;
pub(crate) use gke_plugin::GKE_PLUGIN;
pub(crate) use helper::expand_helper_name;
pub(crate) use helper::{DockerCredential, GitCredential};
pub use helper::{DockerCredentialConfig, GitCredentialConfig};
pub use login::LoginConfig;
pub(crate) use print::OutputFormat;
pub use print::{PrintAccessConfig, PrintIdentityConfig};
pub use run::RunConfig;
#[cfg(test)]
use run::parse_listen;
pub(crate) use run::{IdTokenSpec, parse_id_tokens};
pub(crate) use source::{AccessConfig, SourceConfig, selection};

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use opt_in::OptInStyle;
pub use opt_in::ProbeConfig;
pub(crate) use opt_in::{OptIn, SETTINGS_PREFIX};
pub use webhook::WebhookConfig;
pub(crate) use webhook::{AgentSettings, AutoTlsSettings, Sidecars, Tls};

/// `--log-level` and `--log-format` as telemetry takes them.
impl From<&LogArgs> for LogSettings {
    fn from(args: &LogArgs) -> Self {
        Self { level: args.log_level.clone(), format: args.log_format.into() }
    }
}

/// The log format flags' value as telemetry takes it.
impl From<LogFormat> for telemetry::LogFormat {
    fn from(format: LogFormat) -> Self {
        match format {
            LogFormat::Text => Self::Text,
            LogFormat::Json => Self::Json,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{run::InstanceFacts, *};

    #[test]
    fn id_token_specs_are_parsed_and_checked() {
        let ok = parse_id_tokens(&["run=https://svc.run.app".into(), "iap=123.apps".into()]).expect("valid");
        assert_eq!(ok[0], IdTokenSpec { name: "run".into(), audience: "https://svc.run.app".into() });
        assert!(parse_id_tokens(&["noequals".into()]).is_err());
        assert!(parse_id_tokens(&["../x=aud".into()]).is_err());
        assert!(parse_id_tokens(&["a=x".into(), "a=y".into()]).is_err());
    }

    #[test]
    fn the_token_api_stays_on_loopback_unless_allowed() {
        assert!(parse_listen("127.0.0.1:8989", true).expect("ok").is_some());
        assert!(parse_listen("0.0.0.0:8989", true).is_err());
        assert!(parse_listen("0.0.0.0:8989", false).expect("ok").is_some());
        assert_eq!(parse_listen("off", true), Ok(None));
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_config_file_fills_only_what_flags_leave_unset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("agent.yaml");
        std::fs::write(
            &file,
            "listen: 127.0.0.1:7000\nfile_mode: \"0600\"\noneshot: true\nid-token: [a=x, b=y]\n",
        )
        .expect("write");
        let cli = parse(argv(&[
            "gcp-token-agent",
            "run",
            "--config",
            file.to_str().expect("utf8"),
            "--listen",
            "127.0.0.1:9000",
        ]))
        .expect("parses");
        let Command::Run(run) = cli.command else { panic!("run") };
        assert_eq!(run.listen, "127.0.0.1:9000", "the flag wins over the file");
        assert_eq!(run.file_mode, "0600");
        assert!(run.oneshot);
        assert_eq!(run.id_tokens, ["a=x", "b=y"]);
    }

    /// What `run --config FILE` reports for a file holding `yaml` it refuses.
    fn config_problem(yaml: impl AsRef<[u8]>) -> Error {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("agent.yaml");
        std::fs::write(&file, yaml).expect("write");
        let Err(ParseError::Config(e)) =
            parse(argv(&["gcp-token-agent", "run", "--config", file.to_str().expect("utf8")]))
        else {
            panic!("should fail")
        };
        e
    }

    fn run_config(args: &[&str]) -> Result<RunConfig, Error> {
        let cli = parse(argv(&[&["gcp-token-agent", "run"], args].concat())).expect("parses");
        let Command::Run(run) = cli.command else { panic!("run") };
        RunConfig::from_args(&run)
    }

    #[test]
    fn instance_flags_become_the_facts_the_metadata_api_reports() {
        let config = run_config(&[
            "--zone=us-central1-a",
            "--instance-name=web-7d9f-abcde",
            "--instance-id=4519681524354166001",
            "--hostname=web-7d9f-abcde",
            "--cluster-name=prod",
            "--cluster-location=us-central1",
            "--attribute=team=payments",
            "--attribute=note=a,b=c",
        ])
        .expect("valid");
        let facts = config.instance;
        assert_eq!(facts.zone.as_ref().map(|z| z.as_str()), Some("us-central1-a"));
        assert_eq!(facts.region.as_deref(), Some("us-central1"), "derived from the zone");
        assert_eq!(facts.id, Some(4_519_681_524_354_166_001));
        let keys: Vec<&str> = facts.attributes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["cluster-name", "cluster-location", "team", "note"]);
        assert_eq!(facts.attributes[3].1, "a,b=c", "a flag's value is taken whole");
        let region_only = run_config(&["--region=europe-west4"]).expect("valid").instance;
        assert_eq!((region_only.zone, region_only.region.as_deref()), (None, Some("europe-west4")));
        assert_eq!(run_config(&[]).expect("valid").instance, InstanceFacts::default());
    }

    #[test]
    fn bad_instance_flags_are_all_reported_naming_each() {
        let text = run_config(&[
            "--zone=us-central1-a",
            "--region=europe-west4",
            "--instance-id=12ab",
            "--instance-name=a/b",
            "--hostname=not a host",
            "--cluster-name=prod",
            "--attribute=cluster-name=other",
            "--attribute=no-value",
            "--attribute=bad key=x",
            "--resource-manager-endpoint=http://crm.example.com",
        ])
        .expect_err("invalid")
        .to_string();
        for flag in [
            "--region: \"europe-west4\" is not the region of --zone",
            "--instance-id",
            "--instance-name",
            "--hostname",
            "--attribute: key \"cluster-name\" is given twice (or by --cluster-name)",
            "--attribute: \"no-value\" is not KEY=VALUE",
            "--attribute: key \"bad key\"",
            "--resource-manager-endpoint",
        ] {
            assert!(text.contains(flag), "{flag} missing in {text}");
        }
        assert!(text.contains("8 problem(s)"), "every one reported at once: {text}");
    }

    #[test]
    fn attributes_come_from_the_config_file_one_pair_per_item() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("agent.yaml");
        std::fs::write(&file, "attribute: [a=1, \"b=x,y\"]\nzone: us-east1-b\n").expect("write");
        let config = run_config(&["--config", file.to_str().expect("utf8")]).expect("valid");
        assert_eq!(config.instance.attributes, [("a".into(), "1".into()), ("b".into(), "x,y".into())]);
        assert_eq!(config.instance.region.as_deref(), Some("us-east1"));
    }

    #[test]
    fn a_numeric_file_mode_in_yaml_is_refused_rather_than_misread() {
        let e = config_problem("file-mode: 0o640\n");
        assert!(e.to_string().contains("quoted octal string"), "{e}");
    }

    #[test]
    fn yaml_keys_that_are_actions_repeats_or_lists_for_one_value_are_config_problems() {
        let text = "help: true\nversion: true\nfile_mode: \"0600\"\nfile-mode: \"0640\"\ncredentials: [a.json, b.json]\n";
        let e = config_problem(text);
        let message = e.to_string();
        for needle in [
            "unknown key \"help\"",
            "unknown key \"version\"",
            "is given twice",
            "key \"credentials\" takes one value",
        ] {
            assert!(message.contains(needle), "{needle}: {message}");
        }
    }

    #[test]
    fn a_yaml_alias_bomb_is_refused_by_the_budget_without_expanding_it() {
        // Seven levels of nine: 4.8 million nodes if expanded, under the parser's own default
        // budget of 250,000 only at level six; ours stops it at 10,000. Real flag names.
        let mut bomb = "scopes: &a [x,x,x,x,x,x,x,x,x]\n".to_owned();
        let names = ["id-token", "delegates", "agent-env", "attribute", "extra", "more"];
        let mut previous = "a".to_owned();
        for (level, key) in names.iter().enumerate() {
            let anchor = format!("l{level}");
            let items = vec![format!("*{previous}"); 9].join(",");
            bomb.push_str(&format!("{key}: &{anchor} [{items}]\n"));
            previous = anchor;
        }
        let e = config_problem(bomb);
        assert!(e.to_string().contains("budget"), "refused by our budget: {e}");
    }

    #[test]
    fn run_by_a_helper_name_the_binary_is_that_subcommand() {
        let docker =
            parse(argv(&["/usr/local/bin/docker-credential-gcp-token-agent", "get"])).expect("parses");
        assert!(
            matches!(docker.command, Command::DockerCredential(ref a) if a.action == crate::cli::DockerAction::Get)
        );
        let git = parse(argv(&["git-credential-gcp-token-agent", "--credentials", "k.json", "erase"]))
            .expect("parses");
        let Command::GitCredential(git) = git.command else { panic!("git-credential") };
        assert_eq!(git.action, crate::cli::GitAction::Erase);
        assert_eq!(git.token.source.credentials.as_deref(), Some(Path::new("k.json")));
        let Err(ParseError::Clap(e)) = parse(argv(&["git-credential-gcp-token-agent", "list"])) else {
            panic!("list is not a git action")
        };
        assert!(e.use_stderr(), "an unknown action is bad usage (exit 64)");
        assert!(parse(argv(&["docker-credential-other", "get"])).is_err(), "other names are not rewritten");
    }

    #[test]
    fn as_the_gke_plugin_its_ignored_flags_are_logged_as_warnings_and_debug_lines() {
        let args =
            ["gke-gcloud-auth-plugin", "--use_application_default_credentials", "--account=me@example.com"];
        let cli = parse(argv(&[&args[..], &["--project=p"]].concat())).expect("parses");
        assert!(matches!(cli.command, Command::ExecCredential(_)));
        assert_eq!((cli.warnings.len(), cli.debug.len()), (1, 1), "{:?} {:?}", cli.warnings, cli.debug);
        let gcloud = parse(argv(&["gke-gcloud-auth-plugin"])).expect("parses");
        let Command::ExecCredential(exec) = gcloud.command else { panic!("exec-credential") };
        assert_eq!(exec.source.source, crate::cli::SourceKind::Gcloud);
    }

    #[test]
    fn unknown_config_keys_are_all_reported() {
        let e = config_problem("colour: blue\nsize: 3\n");
        let text = e.to_string();
        assert!(text.contains("\"colour\"") && text.contains("\"size\""), "{text}");
    }
}
