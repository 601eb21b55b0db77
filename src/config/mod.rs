//! Configuration: the command line, `GCP_TOKEN_AGENT_*` variables and `run --config FILE`
//! merged as flag > env > file > default, then validated into one typed [`RunConfig`]
//! with every problem reported at once.

use std::{
    ffi::OsString,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, parser::ValueSource};

use crate::{
    cli::{Cli, Command, InstanceArgs, LogArgs, LogFormat, RunArgs, SourceArgs, SourceKind},
    credentials::{Choice, Endpoints, ImpersonationFlags, Selection},
    error::Error,
    exchange::AccessRequest,
    sinks::files::parse_mode,
    telemetry::{self, LogSettings},
    validate,
};

/// Parses the command line; for `run --config FILE`, fills what flags and env left unset
/// from the file. Clap errors (including --help) come back as [`ParseError::Clap`].
///
/// A flag that takes one value may be given once: clap refuses a repeat (exit 64), so a
/// wrapper script's `--credentials` cannot be silently replaced by a second one.
///
/// Run by a helper's name (`docker-credential-gcp-token-agent get`), it is that subcommand.
/// `exec-credential` or `print-access-token` alone is parsed without clap ([`without_flags`]).
pub fn parse(argv: Vec<OsString>) -> Result<Cli, ParseError> {
    let argv = crate::cli::expand_helper_name(argv);
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

/// Turns the file's keys into `--key=value` arguments for those not set by flag or env.
fn file_args(
    path: &Path,
    root: &clap::Command,
    matches: &ArgMatches,
    run: &ArgMatches,
) -> Result<Vec<OsString>, Error> {
    let text = crate::input::read_text(path)
        .map_err(|e| Error::usage("--config", format!("cannot read {}: {e}", path.display())))?;
    // A config file has a few dozen nodes; a tight budget refuses alias bombs at once instead
    // of expanding the parser's default 250,000 nodes.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_nodes: 10_000, max_aliases: 100, max_depth: 16 },
    };
    let map: std::collections::BTreeMap<String, serde_json::Value> =
        serde_saphyr::from_str_with_options(&text, options).map_err(|e| {
            Error::usage(
                "--config",
                format!(
                    "{} is not a YAML mapping of flag names: {}",
                    path.display(),
                    crate::validate::without_quoted(&e.to_string())
                ),
            )
        })?;
    // Subcommands are deferred (defined when built): build `run` to see its flags.
    let mut run_command = root.find_subcommand("run").cloned().unwrap_or_default();
    run_command.build();
    let mut args = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (raw_key, value) in map {
        let key = raw_key.replace('_', "-");
        if !seen.insert(key.clone()) {
            // `file_mode` and `file-mode` are one key: clap would refuse the second as a
            // repeated flag, naming a flag the user never typed.
            problems.push(format!("key \"{raw_key}\" is given twice (as `-` and `_`)"));
            continue;
        }
        let found =
            run_command.get_arguments().map(|a| (a, run)).chain(root.get_arguments().map(|a| (a, matches)));
        // --help and --version are actions, not settings.
        let setting = |a: &&clap::Arg| {
            !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
        };
        let Some((arg, scope)) =
            found.into_iter().find(|(a, _)| a.get_long() == Some(key.as_str()) && setting(a))
        else {
            problems.push(format!("unknown key \"{raw_key}\""));
            continue;
        };
        if key == "config" {
            problems.push("key \"config\" cannot name another file".to_owned());
            continue;
        }
        let explicit = matches!(
            scope.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if explicit {
            continue;
        }
        if key == "file-mode" && !value.is_string() {
            // YAML reads 0o640 and (YAML 1.1) 0640 as numbers; their decimal text would be
            // misread as octal. Only a string is unambiguous.
            problems.push(format!("key \"{raw_key}\" must be a quoted octal string, e.g. \"0640\""));
            continue;
        }
        let is_flag = !arg.get_action().takes_values();
        match values(&value) {
            Ok(list) if is_flag => match list.as_slice() {
                [v] if v == "true" => args.push(format!("--{key}").into()),
                [v] if v == "false" => {}
                _ => problems.push(format!("key \"{raw_key}\" must be true or false")),
            },
            Ok(list) if list.len() > 1 && !matches!(arg.get_action(), ArgAction::Append) => {
                problems.push(format!("key \"{raw_key}\" takes one value, not a list"));
            }
            Ok(list) => args.extend(list.into_iter().map(|v| OsString::from(format!("--{key}={v}")))),
            Err(why) => problems.push(format!("key \"{raw_key}\" {why}")),
        }
    }
    if problems.is_empty() {
        Ok(args)
    } else {
        Err(Error::usage("--config", format!("{}: {}", path.display(), problems.join("; "))))
    }
}

/// A YAML scalar or list of scalars as argument strings.
fn values(value: &serde_json::Value) -> Result<Vec<String>, String> {
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err("must be a string, number, boolean or a list of them".to_owned()),
    };
    match value {
        serde_json::Value::Array(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|v| vec![v]),
    }
}

/// The credential the flags select, checked once: which source, what to impersonate on top,
/// which endpoints. Loading it (reading files) happens later, on every mint.
pub(crate) fn selection(args: &SourceArgs) -> Result<Selection, Error> {
    let provider = &args.workload_identity_provider;
    let choice = match (&args.credentials, args.source, &args.subject_token_file) {
        (Some(path), _, None) => Choice::File(path.clone()),
        (None, _, Some(file)) => Choice::Federation {
            subject_token_file: file.clone(),
            audience: provider.clone().ok_or_else(|| {
                Error::usage("--subject-token-file", "needs the workload identity provider (--audience)")
            })?,
            service_account: args.service_account.clone(),
        },
        (Some(_), _, Some(_)) => {
            return Err(Error::usage("--credentials", "cannot be combined with --subject-token-file"));
        }
        (None, SourceKind::Metadata, None) => Choice::Metadata,
        (None, SourceKind::Adc, None) => Choice::Adc,
    };
    if args.subject_token_file.is_none() && (provider.is_some() || args.service_account.is_some()) {
        return Err(Error::usage("--audience/--service-account", "need --subject-token-file"));
    }
    // Every face checks the emails as `run` does: a typo is exit 64 at once, not an IAM 404.
    let emails = [
        ("--service-account", args.service_account.as_deref()),
        ("--impersonate-service-account", args.impersonate_service_account.as_deref()),
    ];
    for (flag, email) in emails {
        if let Some(Err(why)) = email.map(crate::validate::service_account_email) {
            return Err(Error::usage(flag, why));
        }
    }
    let impersonate = ImpersonationFlags {
        email: args.impersonate_service_account.clone(),
        delegates: args.delegates.clone(),
        lifetime_secs: args.lifetime.map(|d| d.as_secs()),
    };
    for (flag, url) in [("--sts-endpoint", &args.sts_endpoint), ("--iam-endpoint", &args.iam_endpoint)] {
        if let Some(Err(why)) = url.as_deref().map(crate::validate::endpoint_url) {
            return Err(Error::usage(flag, why));
        }
    }
    let defaults = Endpoints::default();
    let endpoints = Endpoints {
        sts: args.sts_endpoint.clone().unwrap_or(defaults.sts),
        iam: args.iam_endpoint.clone().unwrap_or(defaults.iam),
    };
    Ok(Selection { choice, impersonate, endpoints })
}

/// An ID token to keep fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdTokenSpec {
    /// File suffix and metric label (`id:<name>`).
    pub(crate) name: String,
    /// The audience.
    pub(crate) audience: String,
}

/// The instance facts `run`'s metadata API reports, validated; unset ones answer 404.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct InstanceFacts {
    /// `instance/zone`'s last segment.
    pub(crate) zone: Option<String>,
    /// `instance/region`'s last segment: `--region`, else the zone's.
    pub(crate) region: Option<String>,
    /// `instance/name`.
    pub(crate) name: Option<String>,
    /// `instance/id`.
    pub(crate) id: Option<u64>,
    /// `instance/hostname`, when given (`run` falls back to the machine's).
    pub(crate) hostname: Option<String>,
    /// `instance/attributes/`: the cluster attributes, then `--attribute`s, keys unique.
    pub(crate) attributes: Vec<(String, String)>,
}

/// `run`'s validated configuration.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The credential, checked: what the minters load from.
    pub(crate) selection: Selection,
    /// The access token to keep fresh.
    pub(crate) access: AccessRequest,
    /// The ID tokens to keep fresh.
    pub(crate) id_tokens: Vec<IdTokenSpec>,
    /// Email claims in ID tokens.
    pub(crate) include_email: bool,
    /// Where token files go, if anywhere.
    pub(crate) output_dir: Option<PathBuf>,
    /// Permission bits of the token files.
    pub(crate) file_mode: u32,
    /// The token API address, unless off.
    pub(crate) listen: Option<SocketAddr>,
    /// The admin address, unless off.
    pub(crate) admin_listen: Option<SocketAddr>,
    /// Readiness threshold.
    pub(crate) min_remaining: Duration,
    /// Reported project id, when set.
    pub(crate) project_id: Option<String>,
    /// Reported numeric project id, when set.
    pub(crate) numeric_project_id: Option<String>,
    /// `--resource-manager-endpoint`: where the numeric project id is looked up.
    pub(crate) resource_manager_endpoint: Option<String>,
    /// What the metadata API reports about the instance.
    pub(crate) instance: InstanceFacts,
    /// Write and exit.
    pub(crate) oneshot: bool,
    /// Drain deadline.
    pub(crate) shutdown_grace: Duration,
    /// `--http-timeout`: each call to Google.
    pub(crate) http_timeout: Duration,
    /// Where to write the bound addresses.
    pub(crate) ready_file: Option<PathBuf>,
}

impl RunConfig {
    /// Validates `run`'s arguments, collecting every problem before failing.
    pub fn from_args(args: &RunArgs) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let source = args.source.with_provider_alias(args.audience.as_ref());
        let selection = selection(&source).unwrap_or_else(|e| {
            problems.push(e.to_string());
            Selection::default()
        });
        let mut note = |flag: &str, why: String| problems.push(format!("{flag}: {why}"));
        let id_tokens = parse_id_tokens(&args.id_tokens).unwrap_or_else(|why| {
            note("--id-token", why);
            Vec::new()
        });
        let file_mode = parse_mode(&args.file_mode).unwrap_or_else(|why| {
            note("--file-mode", why);
            0o640
        });
        let listen = parse_listen(&args.listen, !args.allow_non_loopback).unwrap_or_else(|why| {
            note("--listen", why);
            None
        });
        let admin_listen = parse_listen(&args.admin_listen, false).unwrap_or_else(|why| {
            note("--admin-listen", why);
            None
        });
        if let Some(dir) = args.output_dir.as_ref().filter(|d| !d.is_dir()) {
            note("--output-dir", format!("{} is not an existing directory", dir.display()));
        }
        if args.oneshot && args.output_dir.is_none() {
            note("--oneshot", "needs --output-dir to write the tokens to".to_owned());
        }
        let scopes = args.scopes.as_deref().map(validate::scopes).transpose().unwrap_or_else(|why| {
            note("--scopes", why);
            None
        });
        if let Some(Err(why)) = args.project_id.as_deref().map(validate::project_id) {
            note("--project-id", why);
        }
        if let Some(number) = args.numeric_project_id.as_deref().filter(|n| !validate::project_number(n)) {
            note("--numeric-project-id", format!("\"{number}\" is not a project number"));
        }
        if let Some(Err(why)) = args.resource_manager_endpoint.as_deref().map(validate::endpoint_url) {
            note("--resource-manager-endpoint", why);
        }
        let instance = instance_facts(&args.instance, &mut note);
        if !problems.is_empty() {
            return Err(Error::usage(
                "configuration",
                format!("{} problem(s):\n  {}", problems.len(), problems.join("\n  ")),
            ));
        }
        Ok(Self {
            selection,
            access: AccessRequest { scopes, subject: args.subject.clone() },
            id_tokens,
            include_email: args.include_email,
            output_dir: args.output_dir.clone(),
            file_mode,
            listen,
            admin_listen,
            min_remaining: args.min_remaining,
            project_id: args.project_id.clone(),
            numeric_project_id: args.numeric_project_id.clone(),
            resource_manager_endpoint: args.resource_manager_endpoint.clone(),
            instance,
            oneshot: args.oneshot,
            shutdown_grace: args.shutdown_grace,
            http_timeout: args.source.http_timeout,
            ready_file: args.ready_file.clone(),
        })
    }
}

/// `NAME=AUDIENCE` pairs; names become file suffixes, so they stay simple and unique.
pub(crate) fn parse_id_tokens(specs: &[String]) -> Result<Vec<IdTokenSpec>, String> {
    let mut out: Vec<IdTokenSpec> = Vec::new();
    for spec in specs {
        let (name, audience) =
            spec.split_once('=').ok_or_else(|| format!("\"{spec}\" is not NAME=AUDIENCE"))?;
        validate::file_name_part(name)?;
        if audience.is_empty() {
            return Err(format!("\"{spec}\" has an empty audience"));
        }
        if out.iter().any(|s| s.name == name) {
            return Err(format!("name \"{name}\" is used twice"));
        }
        out.push(IdTokenSpec { name: name.to_owned(), audience: audience.to_owned() });
    }
    Ok(out)
}

/// The instance flags, each checked; `note` collects what is wrong, naming the flag.
fn instance_facts(args: &InstanceArgs, note: &mut impl FnMut(&str, String)) -> InstanceFacts {
    let mut checked = |flag: &str, value: &Option<String>, check: fn(&str) -> Result<(), String>| {
        let value = value.as_deref()?;
        check(value).map(|()| value.to_owned()).map_err(|why| note(flag, why)).ok()
    };
    let zone = checked("--zone", &args.zone, validate::zone);
    let region = checked("--region", &args.region, validate::region);
    let name = checked("--instance-name", &args.instance_name, validate::metadata_name);
    let id = checked("--instance-id", &args.instance_id, |id| validate::instance_id(id).map(drop));
    let hostname = checked("--hostname", &args.hostname, validate::hostname);
    let cluster = [
        ("cluster-name", checked("--cluster-name", &args.cluster_name, validate::metadata_name)),
        ("cluster-location", checked("--cluster-location", &args.cluster_location, validate::metadata_name)),
        ("cluster-uid", checked("--cluster-uid", &args.cluster_uid, validate::metadata_name)),
    ];
    let derived = zone.as_deref().and_then(validate::region_of_zone).map(str::to_owned);
    if let (Some(zone), Some(region), Some(derived)) = (&zone, &region, &derived)
        && region != derived
    {
        note("--region", format!("\"{region}\" is not the region of --zone \"{zone}\" ({derived})"));
    }
    let mut attributes: Vec<(String, String)> =
        cluster.into_iter().filter_map(|(key, value)| Some((key.to_owned(), value?))).collect();
    for pair in &args.attributes {
        match validate::attribute(pair) {
            Ok((key, _)) if attributes.iter().any(|(k, _)| *k == key) => {
                let flag =
                    if key.starts_with("cluster-") { format!(" (or by --{key})") } else { String::new() };
                note("--attribute", format!("key \"{key}\" is given twice{flag}"));
            }
            Ok(attribute) => attributes.push(attribute),
            Err(why) => note("--attribute", why),
        }
    }
    let id = id.and_then(|id| validate::instance_id(&id).ok());
    InstanceFacts { region: region.or(derived), zone, name, id, hostname, attributes }
}

/// An address, or `None` for `off`. `loopback_only` refuses anything but 127/8 and ::1.
fn parse_listen(text: &str, loopback_only: bool) -> Result<Option<SocketAddr>, String> {
    if text == "off" {
        return Ok(None);
    }
    let addr: SocketAddr =
        text.parse().map_err(|_| format!("\"{text}\" is not an IP:PORT address (or off)"))?;
    if loopback_only && !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; the token API hands out tokens to anyone who can reach it. \
             Pass --allow-non-loopback if you mean it"
        ));
    }
    Ok(Some(addr))
}

mod webhook;
mod without_flags;

pub use webhook::WebhookConfig;
pub(crate) use webhook::{AgentSettings, AutoTlsSettings, Sidecars, Tls};

/// `--log-level` and `--log-format` as telemetry takes them.
impl From<&LogArgs> for LogSettings {
    fn from(args: &LogArgs) -> Self {
        let format = match args.log_format {
            LogFormat::Text => telemetry::LogFormat::Text,
            LogFormat::Json => telemetry::LogFormat::Json,
        };
        Self { level: args.log_level.clone(), format }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(facts.zone.as_deref(), Some("us-central1-a"));
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
    fn unknown_config_keys_are_all_reported() {
        let e = config_problem("colour: blue\nsize: 3\n");
        let text = e.to_string();
        assert!(text.contains("\"colour\"") && text.contains("\"size\""), "{text}");
    }
}
