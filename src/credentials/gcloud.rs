//! The account the gcloud CLI made active, read from gcloud's configuration directory without
//! running gcloud: `active_config` names the configuration, `configurations/config_NAME` (INI)
//! its `[core] account`, and gcloud keeps a copy of each account's credential, in the ADC file
//! format, at `legacy_credentials/ACCOUNT/adc.json` (written by `gcloud auth login` and
//! `gcloud auth activate-service-account`; its main store is SQLite, which we do not read).
//! gcloud's order: `CLOUDSDK_<SECTION>_<NAME>` variables over the configuration file.

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
};

use super::{Env, ImpersonationFlags, Loaded, Source, load_file, metadata_source};
use crate::{
    digest::sha256_hex,
    error::{Error, Origin, Result},
    validate::ServiceAccountEmail,
};

mod ini;

/// What to fix when no account is active.
const LOG_IN: &str = "run `gcloud auth login` (a person) or `gcloud auth activate-service-account \
    --key-file=KEY` (a service account), or use Application Default Credentials instead \
    (--use_application_default_credentials as gke-gcloud-auth-plugin, --source adc otherwise)";

/// gcloud's active configuration, as read.
struct Active {
    /// gcloud's configuration directory.
    dir: PathBuf,
    /// `configurations/config_NAME`.
    file: PathBuf,
    /// Its properties, `(section, key, value)`.
    properties: Vec<(String, String, String)>,
}

impl Active {
    fn read(env: &Env) -> Result<Self> {
        let dir = config_dir(env.cloudsdk_config.as_deref(), env.home.as_deref()).ok_or_else(|| {
            Error::usage(
                "CLOUDSDK_CONFIG",
                "neither it nor HOME is set, so gcloud's configuration cannot be found",
            )
        })?;
        let name = match &env.gcloud.active_config_name {
            Some(name) => checked_name(name, "CLOUDSDK_ACTIVE_CONFIG_NAME")?,
            None => {
                let file = dir.join("active_config");
                match crate::input::read_text(&file) {
                    Ok(text) if !text.trim().is_empty() => {
                        checked_name(text.trim(), &file.display().to_string())?
                    }
                    // gcloud's own default when nothing names one.
                    Ok(_) => "default".to_owned(),
                    Err(e) if e.kind() == ErrorKind::NotFound => "default".to_owned(),
                    Err(e) => {
                        return Err(Error::usage(file.display().to_string(), format!("cannot read it: {e}")));
                    }
                }
            }
        };
        let file = dir.join("configurations").join(format!("config_{name}"));
        let properties = match crate::input::read_text(&file) {
            Ok(text) => ini::parse(&text).map_err(|why| Error::usage(file.display().to_string(), why))?,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::usage(file.display().to_string(), format!("cannot read it: {e}"))),
        };
        Ok(Self { dir, file, properties })
    }

    /// A property as gcloud reads it: its variable first, then the configuration file; with
    /// where it came from, for messages.
    fn get(&self, env: &Env, section: &str, key: &str) -> Option<(String, String)> {
        let var = format!("CLOUDSDK_{}_{}", section.to_uppercase(), key.to_uppercase());
        if let Some(value) = env.gcloud.property(&var) {
            return Some((value.to_owned(), var));
        }
        let value = self.properties.iter().find(|(s, k, _)| s == section && k == key).map(|(_, _, v)| v)?;
        Some((value.clone(), format!("[{section}] {key} in {}", self.file.display())))
    }
}

/// The longest account shown whole: an email's longest.
const MAX_ACCOUNT: usize = 254;

/// A value read from gcloud's files or variables as a message shows it: one line, at most 80
/// characters (`active_config` may be any file up to the size read).
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(80).collect();
    let more = if cut.len() < text.len() { "..." } else { "" };
    format!("{}{more}", crate::scrub::escape(&cut))
}

/// A configuration name as gcloud allows them (it also names a file, so no path separators).
fn checked_name(name: &str, from: &str) -> Result<String> {
    let ok = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok && name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(name.to_owned())
    } else {
        Err(Error::usage(
            from,
            format!(
                "\"{}\" is not a gcloud configuration name (lower-case letters, digits and -)",
                shown(name)
            ),
        ))
    }
}

/// gcloud's active account, impersonating on top as gcloud would when no flag names a service
/// account: `auth/impersonate_service_account`, a comma-separated chain with the target last.
pub(super) fn account(property_applies: bool, iam_base: &str, env: &Env) -> Result<Loaded> {
    let (loaded, property) = load(env)?;
    let Some((chain, from)) = property.filter(|_| property_applies) else { return Ok(loaded) };
    let mut chain = chain
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            ServiceAccountEmail::parse(a).map(|e| e.as_str().to_owned()).map_err(|_| {
                let why = format!("\"{}\" is not a service account email", shown(a));
                Error::usage(&from, format!("{why} (NAME@PROJECT.iam.gserviceaccount.com)"))
            })
        })
        .collect::<Result<Vec<String>>>()?;
    let target = chain.pop().ok_or_else(|| Error::usage(&from, "names no service account"))?;
    let implied = ImpersonationFlags { email: None, delegates: chain, lifetime_secs: None };
    super::impersonate_on_top(loaded, &target, &implied, iam_base)
}

/// The active account's credential, and `auth/impersonate_service_account` when it is set.
fn load(env: &Env) -> Result<(Loaded, Option<(String, String)>)> {
    if env.gcloud.access_token_set {
        return Err(Error::usage(
            "CLOUDSDK_AUTH_ACCESS_TOKEN",
            "is set, so gcloud would hand that token on as it is; this binary mints its own tokens \
             from an account's credential: unset it",
        ));
    }
    let active = Active::read(env)?;
    if let Some((_, from)) = active.get(env, "auth", "access_token_file").filter(|(v, _)| !v.is_empty()) {
        return Err(Error::usage(
            from,
            "(auth/access_token_file) hands a fixed token on, which this binary does not: unset it",
        ));
    }
    let impersonate = active.get(env, "auth", "impersonate_service_account").filter(|(v, _)| !v.is_empty());
    if let Some((path, _)) =
        active.get(env, "auth", "credential_file_override").filter(|(v, _)| !v.is_empty())
    {
        let origin = Origin::file(path, "gcloud's auth/credential_file_override");
        return Ok((load_file(&origin, env)?, impersonate));
    }
    let account = active.get(env, "core", "account").filter(|(v, _)| !v.is_empty());
    let Some((account, from)) = account else {
        if on_gce(env, &active) {
            // gcloud's account is then the metadata server's, and so are its tokens.
            return Ok((metadata_source(env.metadata_server()?), impersonate));
        }
        return Err(Error::usage(
            active.file.display().to_string(),
            format!(
                "gcloud has no active account ([core] account is not set here nor in CLOUDSDK_CORE_ACCOUNT): {LOG_IN}"
            ),
        ));
    };
    // It is echoed below, in a path and a command to run: one plain line of an email's length.
    let plain = account.chars().count() <= MAX_ACCOUNT && crate::scrub::escape(&account) == account;
    if !plain || account.contains(['/', '\\']) || account.starts_with('.') {
        return Err(Error::usage(
            from,
            format!("\"{}\" is not an account gcloud could have logged in", shown(&account)),
        ));
    }
    let adc = active.dir.join("legacy_credentials").join(&account).join("adc.json");
    if !adc.exists() {
        return Err(Error::usage(
            adc.display().to_string(),
            format!(
                "is missing, so the account \"{account}\" (from {from}) has no credential gcloud wrote \
                 for other tools: run `gcloud auth login {account}` or `gcloud auth \
                 activate-service-account {account} --key-file=KEY` again, or pick another account \
                 with `gcloud config set account`"
            ),
        ));
    }
    let loaded = load_file(&Origin::file(adc, "gcloud's active account"), env)?;
    Ok((with_token_host(loaded, active.get(env, "auth", "token_host"))?, impersonate))
}

/// gcloud posts an account's grants to `auth/token_host` when it is set, else to the file's
/// `token_uri` (which gcloud leaves out of a person's copy, so Google's). The endpoint is part
/// of the cache key: another token service is another principal.
fn with_token_host(mut loaded: Loaded, token_host: Option<(String, String)>) -> Result<Loaded> {
    let Some((url, from)) = token_host.filter(|(v, _)| !v.trim().is_empty()) else { return Ok(loaded) };
    crate::validate::endpoint_url(&url).map_err(|why| Error::usage(&from, why))?;
    match &mut loaded.source {
        Source::ServiceAccount(key) => key.token_uri = url.trim().to_owned(),
        Source::AuthorizedUser(user) => user.token_uri = url.trim().to_owned(),
        _ => return Ok(loaded),
    }
    loaded.fingerprint =
        loaded.fingerprint.map(|fp| sha256_hex(format!("{fp}|token_host|{}", url.trim()).as_bytes()));
    Ok(loaded)
}

/// Whether gcloud, finding no account, would take the metadata server's: it does when it is on
/// GCE (its check, cached in the file `gce`, or a metadata server named by GCE_METADATA_HOST),
/// unless `core/check_gce_metadata` is false.
fn on_gce(env: &Env, active: &Active) -> bool {
    let check = active.get(env, "core", "check_gce_metadata");
    if check.is_some_and(|(v, _)| matches!(v.to_lowercase().as_str(), "false" | "0" | "no" | "off")) {
        return false;
    }
    env.gce_metadata_host.is_some()
        || crate::input::read_text(&active.dir.join("gce")).is_ok_and(|text| text.trim() == "True")
}

/// The `CLOUDSDK_*` variables gcloud would read here (no token values: only whether one is set).
#[derive(Debug, Clone, Default)]
pub(crate) struct GcloudVars {
    /// `CLOUDSDK_ACTIVE_CONFIG_NAME`.
    pub(crate) active_config_name: Option<String>,
    /// `CLOUDSDK_AUTH_ACCESS_TOKEN` is set.
    pub(crate) access_token_set: bool,
    /// The property variables read, by name.
    pub(crate) properties: Vec<(String, String)>,
}

/// The property variables [`load`] reads.
const PROPERTY_VARS: [&str; 6] = [
    "CLOUDSDK_AUTH_TOKEN_HOST",
    "CLOUDSDK_CORE_ACCOUNT",
    "CLOUDSDK_CORE_CHECK_GCE_METADATA",
    "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT",
    "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
    "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
];

impl GcloudVars {
    /// Reads them from this process. Like gcloud, a variable set to "" still overrides the file.
    pub(crate) fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        Self {
            active_config_name: var("CLOUDSDK_ACTIVE_CONFIG_NAME").filter(|v| !v.is_empty()),
            access_token_set: var("CLOUDSDK_AUTH_ACCESS_TOKEN").is_some_and(|v| !v.is_empty()),
            properties: PROPERTY_VARS
                .iter()
                .filter_map(|name| Some(((*name).to_owned(), var(name)?)))
                .collect(),
        }
    }

    fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// gcloud's configuration directory: `$CLOUDSDK_CONFIG`, else `~/.config/gcloud`.
pub(crate) fn config_dir(cloudsdk_config: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    match (cloudsdk_config, home) {
        (Some(config), _) => Some(config.to_path_buf()),
        (None, Some(home)) => Some(home.join(".config").join("gcloud")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests;
