//! Docker's `config.json`: where it is, which registries its `credHelpers` send to us, and
//! adding entries while keeping everything else in the file.

use std::{
    fs,
    io::ErrorKind,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::PathBuf,
};

use serde_json::{Map, Value};

use crate::atomic;
use crate::{
    credentials::Env,
    error::{Error, Result},
};

/// The helper name in `credHelpers`: Docker runs `docker-credential-<name>`.
pub(crate) const HELPER: &str = "gcp-token-agent";

/// `config.json` as Docker finds it: in `$DOCKER_CONFIG`, else `~/.docker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DockerConfig {
    /// The file.
    pub(crate) path: PathBuf,
    /// What named it, for messages.
    via: &'static str,
}

/// One `credHelpers` entry that now points at us, and what it said before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// The registry.
    pub(crate) registry: String,
    /// The helper it named before, if any.
    pub(crate) previous: Option<String>,
}

impl DockerConfig {
    /// The file Docker reads in this environment.
    pub(crate) fn locate(env: &Env) -> Result<Self> {
        match (&env.docker_config, &env.home) {
            (Some(dir), _) => Ok(Self { path: dir.join("config.json"), via: "DOCKER_CONFIG" }),
            (None, Some(home)) => Ok(Self { path: home.join(".docker").join("config.json"), via: "HOME" }),
            (None, None) => {
                Err(Error::usage("DOCKER_CONFIG", "neither it nor HOME is set; cannot find config.json"))
            }
        }
    }

    /// The file's top-level object; an absent or empty file is an empty one.
    pub(crate) fn read(&self) -> Result<Map<String, Value>> {
        let text = match crate::input::read_text(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Map::new()),
            Err(e) => return Err(self.problem(format!("cannot read it: {e}"))),
        };
        parse(&text).map_err(|why| self.problem(why))
    }

    /// The registries whose `credHelpers` entry is ours, sorted.
    pub(crate) fn our_registries(&self) -> Result<Vec<String>> {
        let config = self.read()?;
        let helpers = cred_helpers(&config).map_err(|why| self.problem(why))?;
        let ours = helpers.into_iter().flatten().filter(|(_, helper)| helper.as_str() == Some(HELPER));
        Ok(ours.map(|(registry, _)| registry.clone()).collect())
    }

    /// Points `registries` at us, keeping every other key and entry. Writes only when
    /// something changed; returns what did.
    pub(crate) fn add_helpers(&self, registries: &[String]) -> Result<Vec<Change>> {
        let mut config = self.read()?;
        let changes = add_helpers(&mut config, registries).map_err(|why| self.problem(why))?;
        if !changes.is_empty() {
            self.write(&config)?;
        }
        Ok(changes)
    }

    /// Replaces the file atomically: through a symlink to its target, as Docker does, with
    /// the old file's mode kept (a new one gets 0600: config.json may hold registry passwords).
    fn write(&self, config: &Map<String, Value>) -> Result<()> {
        let failed = |source| Error::WriteFile { path: self.path.clone(), source };
        let target = match fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(&self.path).map_err(failed)?,
            _ => self.path.clone(),
        };
        let mode = fs::metadata(&target).map(|m| m.permissions().mode() & 0o777).unwrap_or(0o600);
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(failed)?;
        }
        atomic::write(&target, render(config).as_bytes(), mode, true).map_err(failed)
    }

    /// A usage error naming the file and what named it.
    fn problem(&self, why: String) -> Error {
        Error::usage(format!("Docker config {} (from {})", self.path.display(), self.via), why)
    }
}

/// The top-level object of a config.json's text (blank text is an empty object, as Docker
/// reads it).
pub(crate) fn parse(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    // A syntax error quotes nothing, but the file may hold secrets: strip quoted values anyway.
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("is not a JSON object; fix the file or move it away".to_owned()),
        Err(e) => Err(format!("is not JSON ({})", crate::validate::without_quoted(&e.to_string()))),
    }
}

/// The `credHelpers` object, if there is one.
fn cred_helpers(config: &Map<String, Value>) -> Result<Option<&Map<String, Value>>, String> {
    match config.get("credHelpers") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err("field \"credHelpers\" is not an object".to_owned()),
    }
}

/// Points each of `registries` at us in `config`; returns the entries that changed.
pub(crate) fn add_helpers(
    config: &mut Map<String, Value>,
    registries: &[String],
) -> Result<Vec<Change>, String> {
    let entry = config.entry("credHelpers").or_insert_with(|| Value::Object(Map::new()));
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    let Value::Object(helpers) = entry else {
        return Err("field \"credHelpers\" is not an object".to_owned());
    };
    let mut changes = Vec::new();
    for registry in registries {
        let previous = helpers.insert(registry.clone(), Value::String(HELPER.to_owned()));
        if previous.as_ref().and_then(Value::as_str) != Some(HELPER) {
            let previous = previous.map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned));
            changes.push(Change { registry: registry.clone(), previous });
        }
    }
    Ok(changes)
}

/// The file's text as Docker writes it: tab-indented, with a final newline.
pub(crate) fn render(config: &Map<String, Value>) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serializing a map of JSON values to memory cannot fail.
    let _ = serde::Serialize::serialize(config, &mut serializer);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn registries(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn entries_are_added_and_every_other_key_is_kept() {
        let mut config = parse(
            r#"{"auths":{"quay.io":{"auth":"c2VjcmV0"}},"credHelpers":{"gcr.io":"gcloud","ecr.aws":"ecr-login"},
               "credsStore":"desktop","experimental":"enabled"}"#,
        )
        .expect("object");
        let changes = add_helpers(&mut config, &registries(&["gcr.io", "us-docker.pkg.dev"])).expect("added");
        assert_eq!(
            changes,
            [
                Change { registry: "gcr.io".into(), previous: Some("gcloud".into()) },
                Change { registry: "us-docker.pkg.dev".into(), previous: None },
            ]
        );
        let expected = serde_json::json!({
            "auths": {"quay.io": {"auth": "c2VjcmV0"}},
            "credHelpers": {"gcr.io": HELPER, "ecr.aws": "ecr-login", "us-docker.pkg.dev": HELPER},
            "credsStore": "desktop",
            "experimental": "enabled",
        });
        assert_eq!(Value::Object(config.clone()), expected);
        assert!(
            add_helpers(&mut config, &registries(&["gcr.io"])).expect("again").is_empty(),
            "no change twice"
        );
    }

    #[test]
    fn blank_files_are_empty_and_anything_but_an_object_is_refused() {
        assert!(parse("").expect("blank").is_empty());
        assert!(parse(" \n").expect("blank").is_empty());
        assert!(parse("[]").expect_err("array").contains("not a JSON object"));
        assert!(parse("{\"auths\": ").expect_err("truncated").contains("not JSON"));
        let mut bad = parse(r#"{"credHelpers": ["gcr.io"]}"#).expect("object");
        assert!(add_helpers(&mut bad, &registries(&["gcr.io"])).expect_err("list").contains("credHelpers"));
        let mut null = parse(r#"{"credHelpers": null}"#).expect("object");
        assert_eq!(add_helpers(&mut null, &registries(&["gcr.io"])).expect("null is absent").len(), 1);
    }

    #[test]
    fn the_file_is_created_private_and_rewritten_with_its_mode_and_through_its_symlink() {
        let home = tempfile::tempdir().expect("tempdir");
        let env = Env { home: Some(home.path().to_owned()), ..Env::default() };
        let config = DockerConfig::locate(&env).expect("located");
        assert_eq!(config.path, home.path().join(".docker/config.json"));
        assert_eq!(config.add_helpers(&registries(&["gcr.io"])).expect("written").len(), 1);
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&config.path), 0o600);
        assert_eq!(mode(&home.path().join(".docker")), 0o700);
        assert_eq!(
            fs::read_to_string(&config.path).expect("read"),
            "{\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcp-token-agent\"\n\t}\n}\n"
        );
        assert_eq!(config.our_registries().expect("listed"), ["gcr.io"]);

        let real = home.path().join("dotfiles-config.json");
        fs::write(&real, r#"{"auths":{}}"#).expect("write");
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).expect("chmod");
        fs::remove_file(&config.path).expect("rm");
        std::os::unix::fs::symlink(&real, &config.path).expect("symlink");
        config.add_helpers(&registries(&["eu.gcr.io"])).expect("written through the link");
        assert!(fs::symlink_metadata(&config.path).expect("meta").file_type().is_symlink(), "link kept");
        assert_eq!(mode(&real), 0o640, "mode kept");
        let text = fs::read_to_string(&real).expect("read");
        assert!(text.contains("\"auths\"") && text.contains("eu.gcr.io"), "{text}");
    }

    #[test]
    fn docker_config_wins_over_home_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = Env {
            home: Some("/nonexistent".into()),
            docker_config: Some(dir.path().to_owned()),
            ..Env::default()
        };
        let config = DockerConfig::locate(&env).expect("located");
        assert_eq!(config.path, dir.path().join("config.json"));
        assert!(config.our_registries().expect("absent file").is_empty());
        fs::write(&config.path, "[1]").expect("write");
        let error = config.add_helpers(&registries(&["gcr.io"])).expect_err("refused").to_string();
        assert!(
            error.contains(&config.path.display().to_string()) && error.contains("DOCKER_CONFIG"),
            "{error}"
        );
        assert_eq!(fs::read_to_string(&config.path).expect("read"), "[1]", "left alone");
        assert!(DockerConfig::locate(&Env::default()).is_err());
    }
}
