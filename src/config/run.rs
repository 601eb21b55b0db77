//! `run`'s flags checked into one [`RunConfig`], every problem reported at once.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    cli::{InstanceArgs, RunArgs},
    credentials::Selection,
    error::Error,
    exchange::AccessRequest,
    sinks::files::parse_mode,
    validate::{self, ProjectId, Scope, Zone},
};

use super::*;

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
    pub(crate) zone: Option<Zone>,
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
    pub(crate) project_id: Option<ProjectId>,
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
        let scopes = args.scopes.as_deref().map(Scope::parse_list).transpose().unwrap_or_else(|why| {
            note("--scopes", why);
            None
        });
        let project_id = args.project_id.as_deref().map(ProjectId::parse).transpose().unwrap_or_else(|why| {
            note("--project-id", why);
            None
        });
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
            project_id,
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
    let zone = args.zone.as_deref().and_then(|z| Zone::parse(z).map_err(|why| note("--zone", why)).ok());
    let mut checked = |flag: &str, value: &Option<String>, check: fn(&str) -> Result<(), String>| {
        let value = value.as_deref()?;
        check(value).map(|()| value.to_owned()).map_err(|why| note(flag, why)).ok()
    };
    let region = checked("--region", &args.region, validate::region);
    let name = checked("--instance-name", &args.instance_name, validate::metadata_name);
    let id = checked("--instance-id", &args.instance_id, |id| validate::instance_id(id).map(drop));
    let hostname = checked("--hostname", &args.hostname, validate::hostname);
    let cluster = [
        ("cluster-name", checked("--cluster-name", &args.cluster_name, validate::metadata_name)),
        ("cluster-location", checked("--cluster-location", &args.cluster_location, validate::metadata_name)),
        ("cluster-uid", checked("--cluster-uid", &args.cluster_uid, validate::metadata_name)),
    ];
    let derived = zone.as_ref().map(|z| z.region().to_owned());
    if let (Some(zone), Some(region), Some(derived)) = (&zone, &region, &derived)
        && region != derived
    {
        note(
            "--region",
            format!("\"{region}\" is not the region of --zone \"{}\" ({derived})", zone.as_str()),
        );
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
pub(super) fn parse_listen(text: &str, loopback_only: bool) -> Result<Option<SocketAddr>, String> {
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
