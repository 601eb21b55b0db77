//! What we hold: credential files and the metadata server, found the way Google's
//! libraries find them (Application Default Credentials).

pub mod authorized_user;
pub mod metadata;
pub mod service_account;

use std::path::{Path, PathBuf};

pub use authorized_user::AuthorizedUser;
pub use metadata::MetadataServer;
pub use service_account::ServiceAccountKey;

use crate::error::{Error, Origin, Result};

/// A credential that can mint tokens.
#[derive(Debug, Clone)]
pub enum Source {
    /// A service-account key file (JWT-bearer grant).
    ServiceAccount(ServiceAccountKey),
    /// A user's refresh token (refresh-token grant).
    AuthorizedUser(AuthorizedUser),
    /// A GCE/GKE metadata server.
    Metadata(MetadataServer),
}

/// A source plus a fingerprint of exactly what was loaded, for cache keys.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The credential.
    pub source: Source,
    /// SHA-256 (hex) of the credential file's bytes, or of the metadata host: two different
    /// keys, users or servers never share a fingerprint, so never share a cached token.
    pub fingerprint: String,
}

/// The process environment ADC reads, captured once so tests can pass it in.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    pub google_application_credentials: Option<String>,
    /// `CLOUDSDK_CONFIG`: gcloud's configuration directory.
    pub cloudsdk_config: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `GCE_METADATA_HOST`, or its legacy alias `GCE_METADATA_ROOT`.
    pub gce_metadata_host: Option<String>,
    /// `XDG_CACHE_HOME`.
    pub xdg_cache_home: Option<PathBuf>,
    /// `KUBERNETES_EXEC_INFO` (exec-credential).
    pub kubernetes_exec_info: Option<String>,
}

impl Env {
    /// Reads the variables from this process.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            google_application_credentials: var("GOOGLE_APPLICATION_CREDENTIALS"),
            cloudsdk_config: var("CLOUDSDK_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            gce_metadata_host: var("GCE_METADATA_HOST").or_else(|| var("GCE_METADATA_ROOT")),
            xdg_cache_home: var("XDG_CACHE_HOME").map(PathBuf::from),
            kubernetes_exec_info: var("KUBERNETES_EXEC_INFO"),
        }
    }

    /// gcloud's well-known ADC file: `$CLOUDSDK_CONFIG` or `~/.config/gcloud`.
    pub fn well_known_adc_file(&self) -> Option<PathBuf> {
        let dir = match (&self.cloudsdk_config, &self.home) {
            (Some(config), _) => config.clone(),
            (None, Some(home)) => home.join(".config").join("gcloud"),
            (None, None) => return None,
        };
        Some(dir.join("application_default_credentials.json"))
    }

    /// The metadata server ADC falls back to.
    pub fn metadata_server(&self) -> MetadataServer {
        match &self.gce_metadata_host {
            Some(host) => MetadataServer { host: host.clone(), explicit: true },
            None => MetadataServer {
                host: metadata::DEFAULT_METADATA_HOST.to_owned(),
                explicit: false,
            },
        }
    }
}

/// Which credential to use, as the user asked for it.
#[derive(Debug, Clone, Default)]
pub enum Choice {
    /// Application Default Credentials.
    #[default]
    Adc,
    /// `--credentials FILE`.
    File(PathBuf),
    /// `--source metadata`.
    Metadata,
}

/// Resolves the user's choice to a loaded credential.
pub fn resolve(choice: &Choice, env: &Env) -> Result<Loaded> {
    match choice {
        Choice::File(path) => load_file(&Origin { path: path.clone(), via: "--credentials" }),
        Choice::Metadata => Ok(metadata_source(MetadataServer { explicit: true, ..env.metadata_server() })),
        Choice::Adc => discover(env),
    }
}

/// Application Default Credentials, in Google's order.
fn discover(env: &Env) -> Result<Loaded> {
    if let Some(path) = &env.google_application_credentials {
        // Like Google's libraries: a named file that is missing is an error, not a fall-through.
        return load_file(&Origin { path: path.into(), via: "GOOGLE_APPLICATION_CREDENTIALS" });
    }
    if let Some(path) = env.well_known_adc_file().filter(|p| p.exists()) {
        return load_file(&Origin { path, via: "gcloud's application default credentials" });
    }
    Ok(metadata_source(env.metadata_server()))
}

fn metadata_source(server: MetadataServer) -> Loaded {
    let fingerprint = crate::sinks::token_cache::sha256_hex(format!("metadata|{}", server.host).as_bytes());
    Loaded { source: Source::Metadata(server), fingerprint }
}

/// Reads and validates a credential file of any supported `type`.
pub fn load_file(origin: &Origin) -> Result<Loaded> {
    let bytes = read(origin)?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::parse(origin, format!("not valid JSON ({e})")))?;
    let kind = json
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| Error::parse(origin, "field \"type\" is missing"))?
        .to_owned();
    let source = match kind.as_str() {
        "service_account" => Source::ServiceAccount(ServiceAccountKey::from_json(origin, json)?),
        "authorized_user" => Source::AuthorizedUser(AuthorizedUser::from_json(origin, json)?),
        other => {
            return Err(Error::parse(
                origin,
                format!(
                    "field \"type\" is \"{other}\"; supported types are \"service_account\" and \
                     \"authorized_user\""
                ),
            ));
        }
    };
    let fingerprint = crate::sinks::token_cache::sha256_hex(&bytes);
    Ok(Loaded { source, fingerprint })
}

fn read(origin: &Origin) -> Result<Vec<u8>> {
    let path: &Path = &origin.path;
    if path.is_dir() {
        return Err(Error::parse(origin, "is a directory; expected a JSON credentials file"));
    }
    let bytes = std::fs::read(path)
        .map_err(|source| Error::ReadCredentials { origin: origin.clone(), source })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::parse(origin, "file is empty"));
    }
    Ok(bytes)
}
