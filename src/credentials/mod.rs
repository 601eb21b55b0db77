//! What we hold: credential files and the metadata server, found the way Google's
//! libraries find them (Application Default Credentials).

pub(crate) mod authorized_user;
pub(crate) mod credential_source;
pub(crate) mod discovery;
pub(crate) mod external_account;
pub(crate) mod impersonated;
pub(crate) mod metadata;
pub(crate) mod service_account;

use std::path::{Path, PathBuf};

pub(crate) use authorized_user::AuthorizedUser;
pub(crate) use external_account::{Endpoints, ExternalAccount, Impersonation};
pub(crate) use impersonated::Impersonated;
pub(crate) use metadata::MetadataServer;
pub(crate) use service_account::ServiceAccountKey;

use crate::{
    digest::sha256_hex,
    error::{Error, Named, Origin, Result},
    validate::ServiceAccountEmail,
};

/// A credential that can mint tokens.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A service-account key file (JWT-bearer grant).
    ServiceAccount(ServiceAccountKey),
    /// A user's refresh token (refresh-token grant).
    AuthorizedUser(AuthorizedUser),
    /// A GCE/GKE metadata server.
    Metadata(MetadataServer),
    /// Workload or workforce identity federation (STS).
    ExternalAccount(ExternalAccount),
    /// Another source, exchanged for a service account's tokens by IAM Credentials.
    Impersonated(Box<Impersonated>),
}

impl Source {
    /// Decodes every private key this source signs with (a service-account key, also under
    /// impersonation), naming the field of the one that is not an RSA key.
    pub(crate) fn check_private_keys(&self) -> Result<()> {
        match self {
            Source::ServiceAccount(key) => key.check_private_key(),
            Source::Impersonated(imp) => imp.check_private_keys(),
            _ => Ok(()),
        }
    }

    /// The files this source reads on every mint: what `run` watches for rotation.
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        match self {
            Source::ServiceAccount(key) => key.origin.path().map(Path::to_path_buf).into_iter().collect(),
            Source::AuthorizedUser(user) => user.origin.path().map(Path::to_path_buf).into_iter().collect(),
            Source::Metadata(_) => Vec::new(),
            Source::ExternalAccount(account) => {
                let mut files = Vec::new();
                if account.origin.via != "--subject-token-file" {
                    files.extend(account.origin.path().map(Path::to_path_buf));
                }
                if let external_account::CredentialSource::File { path, .. } = &account.credential_source {
                    files.push(path.clone());
                }
                files
            }
            Source::Impersonated(imp) => imp.source.watched_files(),
        }
    }
}

/// A source plus a fingerprint of exactly what was loaded, for cache keys.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// The credential.
    pub source: Source,
    /// SHA-256 (hex) of what decides the principal: the credential file's bytes (or the flags,
    /// or the metadata host), plus, for federation, who the subject token speaks for. Two
    /// different keys, users, workloads or servers never share one, so never a cached token.
    /// `None` when the principal cannot be known without fetching (url and executable subject
    /// sources): such credentials are never cached.
    pub fingerprint: Option<String>,
}

/// Combines what was loaded with who a federated subject speaks for (see [`Loaded::fingerprint`]).
fn fingerprint(base: &[u8], source: &Source) -> Option<String> {
    let subject = federated_subject(source)?;
    let mut bytes = base.to_vec();
    bytes.extend_from_slice(b"\0");
    bytes.extend_from_slice(subject.as_bytes());
    Some(sha256_hex(&bytes))
}

/// The issuer and subject of a file subject token (a rotated token for the same workload keeps
/// its cache), its content hash if it is no JWT, `""` for non-federated sources, and `None`
/// for url and executable sources.
fn federated_subject(source: &Source) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Who {
        iss: Option<String>,
        sub: Option<String>,
    }
    let account = match source {
        Source::ExternalAccount(account) => account,
        Source::Impersonated(imp) => return federated_subject(&imp.source),
        _ => return Some(String::new()),
    };
    let external_account::CredentialSource::File { path, .. } = &account.credential_source else {
        return None;
    };
    let text = crate::input::read_text(path).unwrap_or_default();
    Some(match jsonwebtoken::dangerous::insecure_decode_claims::<Who>(text.trim()) {
        Ok(Who { iss, sub }) => format!("{}|{}", iss.unwrap_or_default(), sub.unwrap_or_default()),
        Err(_) => sha256_hex(text.trim().as_bytes()),
    })
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
    /// `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1`: executable credential sources may run.
    pub allow_executables: bool,
    /// `DOCKER_CONFIG`: the directory of Docker's config.json (configure-docker, docker-credential).
    pub docker_config: Option<PathBuf>,
    /// `PATH`, where Docker and git look for credential helpers (configure-docker checks it).
    pub path: Option<std::ffi::OsString>,
}

/// Stands for a variable that is set but not UTF-8: a JSON reader refuses it with a message.
pub(crate) const NOT_UTF8: &str = "(not UTF-8)";

impl Env {
    /// Reads the variables from this process.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        // Paths need not be UTF-8; a set variable is never treated as unset.
        let path = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Self {
            google_application_credentials: std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string_lossy().into_owned()),
            cloudsdk_config: path("CLOUDSDK_CONFIG"),
            home: path("HOME"),
            gce_metadata_host: var("GCE_METADATA_HOST").or_else(|| var("GCE_METADATA_ROOT")),
            xdg_cache_home: path("XDG_CACHE_HOME"),
            // Not UTF-8 becomes text the JSON parser refuses, never "absent".
            kubernetes_exec_info: std::env::var_os("KUBERNETES_EXEC_INFO")
                .filter(|v| !v.is_empty())
                .map(|v| v.into_string().unwrap_or_else(|_| NOT_UTF8.to_owned())),
            allow_executables: var("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES").as_deref() == Some("1"),
            docker_config: path("DOCKER_CONFIG"),
            path: std::env::var_os("PATH"),
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

    /// The metadata server ADC falls back to; a `GCE_METADATA_HOST` that is not `host[:port]`
    /// is bad configuration (exit 64), never an unreachable server to retry.
    pub fn metadata_server(&self) -> Result<MetadataServer> {
        match &self.gce_metadata_host {
            Some(host) => {
                metadata::check_host(host).map_err(|why| Error::usage("GCE_METADATA_HOST", why))?;
                Ok(MetadataServer { host: host.trim().to_owned(), explicit: true })
            }
            None => Ok(MetadataServer { host: metadata::DEFAULT_METADATA_HOST.to_owned(), explicit: false }),
        }
    }
}

/// Which credential to use, as the user asked for it.
#[derive(Debug, Clone, Default)]
pub(crate) enum Choice {
    /// Application Default Credentials.
    #[default]
    Adc,
    /// `--credentials FILE`.
    File(PathBuf),
    /// `--source metadata`.
    Metadata,
    /// `--subject-token-file` + `--audience` [+ `--service-account`].
    Federation {
        /// The projected token.
        subject_token_file: PathBuf,
        /// The provider's resource name.
        audience: String,
        /// The service account to impersonate, if any.
        service_account: Option<ServiceAccountEmail>,
    },
}

/// `--impersonate-service-account` and friends, applied on top of any source.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImpersonationFlags {
    /// The target service account.
    pub email: Option<ServiceAccountEmail>,
    /// Delegation chain.
    pub delegates: Vec<String>,
    /// Requested lifetime in seconds.
    pub lifetime_secs: Option<u64>,
}

/// Which credential to use, checked from the flags once (`config::selection`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    /// The source.
    pub(crate) choice: Choice,
    /// Impersonation on top of it.
    pub(crate) impersonate: ImpersonationFlags,
    /// STS and IAM Credentials for the flag forms.
    pub(crate) endpoints: Endpoints,
}

impl Selection {
    /// Reads and validates the credential now, private keys included (files are re-read on
    /// every call).
    pub(crate) fn load(&self, env: &Env) -> Result<Loaded> {
        let loaded = self.load_keys_unchecked(env)?;
        loaded.source.check_private_keys()?;
        Ok(loaded)
    }

    /// [`load`](Self::load) without decoding private keys ([`Source::check_private_keys`]):
    /// for a CLI answer that may come from the disk cache, where a hit proves the key. An entry
    /// is keyed by the credential file's bytes and written only after a mint with them.
    pub(crate) fn load_keys_unchecked(&self, env: &Env) -> Result<Loaded> {
        resolve(&self.choice, &self.impersonate, &self.endpoints, env)
    }
}

/// Resolves the user's choice to a loaded credential, impersonating on top if asked.
pub(crate) fn resolve(
    choice: &Choice,
    impersonate: &ImpersonationFlags,
    endpoints: &Endpoints,
    env: &Env,
) -> Result<Loaded> {
    let loaded = match choice {
        Choice::File(path) => load_file(&Origin::file(path.clone(), "--credentials"), env),
        Choice::Metadata => Ok(metadata_source(MetadataServer { explicit: true, ..env.metadata_server()? })),
        Choice::Adc => discovery::discover(env),
        Choice::Federation { subject_token_file, audience, service_account } => {
            let account = ExternalAccount::from_flags(
                subject_token_file.clone(),
                audience,
                service_account.as_ref(),
                endpoints,
            )?;
            let identity = format!(
                "flags|{}|{audience}|{}|{}|{}",
                subject_token_file.display(),
                service_account.as_ref().map_or("", ServiceAccountEmail::as_str),
                endpoints.sts,
                endpoints.iam
            );
            let source = Source::ExternalAccount(account);
            Ok(Loaded { fingerprint: fingerprint(identity.as_bytes(), &source), source })
        }
    }?;
    match &impersonate.email {
        None if !impersonate.delegates.is_empty() || impersonate.lifetime_secs.is_some() => {
            Err(Error::usage("--delegates/--lifetime", "only apply with --impersonate-service-account"))
        }
        None => Ok(loaded),
        Some(email) => impersonate_on_top(loaded, email.as_str(), impersonate, &endpoints.iam),
    }
}

fn impersonate_on_top(
    loaded: Loaded,
    email: &str,
    flags: &ImpersonationFlags,
    iam_base: &str,
) -> Result<Loaded> {
    let origin = Origin { what: Named::Account(email.to_owned()), via: "--impersonate-service-account" };
    let lifetime = external_account::check_lifetime(flags.lifetime_secs)
        .map_err(|why| Error::usage("--lifetime", why))?;
    let mut target =
        external_account::impersonation_for(&origin, email, iam_base, flags.delegates.clone(), None)
            .map_err(|_| {
                let shown = crate::validate::shown_url(iam_base);
                Error::usage("--iam-endpoint", format!("\"{shown}\" is not an http(s) base URL"))
            })?;
    target.lifetime = lifetime;
    let identity = loaded.fingerprint.map(|inner| {
        format!("{inner}|impersonate|{iam_base}|{email}|{:?}|{:?}", target.delegates, target.lifetime)
    });
    let source =
        Source::Impersonated(Box::new(Impersonated { source: loaded.source, target, nested: false }));
    Ok(Loaded { source, fingerprint: identity.map(|i| sha256_hex(i.as_bytes())) })
}

fn metadata_source(server: MetadataServer) -> Loaded {
    let fingerprint = sha256_hex(format!("metadata|{}", server.host).as_bytes());
    Loaded { source: Source::Metadata(server), fingerprint: Some(fingerprint) }
}

/// Reads and validates a credential file of any supported `type`.
pub(crate) fn load_file(origin: &Origin, env: &Env) -> Result<Loaded> {
    let bytes = read(origin)?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::malformed(origin, "not valid JSON", &e))?;
    let source = parse_json(origin, json, env)?;
    Ok(Loaded { fingerprint: fingerprint(&bytes, &source), source })
}

/// Builds the source a credential JSON describes, by its `type`.
pub(crate) fn parse_json(origin: &Origin, json: serde_json::Value, env: &Env) -> Result<Source> {
    let kind = json
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| Error::parse(origin, "field \"type\" is missing"))?
        .to_owned();
    let source = match kind.as_str() {
        "service_account" => Source::ServiceAccount(ServiceAccountKey::from_json(origin, json)?),
        "authorized_user" => Source::AuthorizedUser(AuthorizedUser::from_json(origin, json)?),
        "external_account" => Source::ExternalAccount(ExternalAccount::from_json(origin, json)?),
        "impersonated_service_account" => {
            Source::Impersonated(Box::new(impersonated::from_json(origin, json, |nested| {
                parse_json(origin, nested, env)
            })?))
        }
        other => {
            return Err(Error::parse(
                origin,
                format!(
                    "field \"type\" is \"{other}\"; supported types are \"service_account\", \"authorized_user\", \
                     \"external_account\" and \"impersonated_service_account\""
                ),
            ));
        }
    };
    check_executable_allowed(origin, &source, env)?;
    Ok(source)
}

/// Executable sources run a program named in a file: Google's libraries demand an explicit opt-in.
fn check_executable_allowed(origin: &Origin, source: &Source, env: &Env) -> Result<()> {
    let Source::ExternalAccount(account) = source else { return Ok(()) };
    if matches!(account.credential_source, external_account::CredentialSource::Executable(_))
        && !env.allow_executables
    {
        return Err(Error::parse(
            origin,
            "field \"credential_source.executable\" runs a program; set GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1 to allow it",
        ));
    }
    Ok(())
}

fn read(origin: &Origin) -> Result<Vec<u8>> {
    let path = origin.path().ok_or_else(|| Error::parse(origin, "is not a file"))?;
    if path.is_dir() {
        return Err(Error::parse(origin, "is a directory; expected a JSON credentials file"));
    }
    let bytes = crate::input::read_file(path)
        .map_err(|source| Error::ReadCredentials { origin: origin.clone(), source })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::parse(origin, "file is empty"));
    }
    Ok(bytes)
}
