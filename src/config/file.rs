//! The `run --config FILE` source: YAML keys become the flags they name, for those that
//! neither a flag nor a variable set.

use std::{ffi::OsString, path::Path};

use clap::{ArgAction, ArgMatches, parser::ValueSource};

use crate::error::Error;

/// Turns the file's keys into `--key=value` arguments for those not set by flag or env.
pub(super) fn file_args(
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
