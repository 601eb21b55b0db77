//! Fuzz entry points for what users type: `run --config` YAML merged into the command line,
//! and the values of flags, annotations and config keys.

use std::{ffi::OsString, time::Duration};

use super::{Scratch, origin};
use crate::{
    cli::{self, Command},
    config::{self, RunConfig},
    credentials::external_account,
    sinks::files::parse_mode,
    validate,
};

/// `run --config FILE`: the YAML merged into the command line, then `run`'s validation.
pub fn run_config(data: &[u8]) {
    let Some(file) = Scratch::new("yaml", data) else { return };
    let mut argv: Vec<OsString> = ["gcp-token-agent", "run", "--config"].map(OsString::from).into();
    argv.push(file.0.clone().into_os_string());
    if let Ok(cli::Cli { command: Command::Run(run), .. }) = config::parse(argv) {
        let _ = RunConfig::from_args(&run);
    }
}

/// Strings users type into flags, annotations and config keys: durations, file modes, scopes,
/// project ids, emails, names, endpoint URLs, quantities, ID-token specs and audiences.
/// Asserts the bounds the parsers promise.
pub fn flag_values(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(duration) = cli::parse_duration(&text) {
        assert!(duration <= Duration::from_secs(366 * 24 * 3600), "{text:?} parsed as {duration:?}");
    }
    if let Ok(mode) = parse_mode(&text) {
        assert!(mode <= 0o777 && mode & 0o133 == 0, "{text:?} parsed as {mode:o}");
    }
    let list: Vec<String> = text.split(',').map(str::to_owned).collect();
    let _ = validate::Scope::parse(&text);
    let _ = validate::Scope::parse_list(&list);
    let _ = validate::ProjectId::parse(&text);
    let _ = validate::service_account_email(&text);
    validate::ProjectId::of_email(&text);
    let _ = validate::file_name_part(&text);
    let _ = validate::endpoint_url(&text);
    validate::shown_url(&text);
    let _ = validate::quantity(&text);
    if let Ok(zone) = validate::Zone::parse(&text) {
        assert!(validate::region(zone.region()).is_ok(), "zone {text:?} has no valid region");
    }
    let _ = validate::metadata_name(&text);
    let _ = validate::instance_id(&text);
    let _ = validate::hostname(&text);
    let _ = validate::attribute(&text);
    let _ = config::parse_id_tokens(&list);
    let _ = external_account::check_audience(&text);
    let _ = validate::ServiceAccountEmail::parse(&text);
    let _ = external_account::impersonation_from_url(&origin(), &text, list, None);
}
