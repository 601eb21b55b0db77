//! Fuzz targets: one entry point per parser that reads input from outside the process. Each
//! feeds the bytes to the crate's real parser and ignores the outcome, because an error is a
//! correct answer to bad input; a panic, a hang or unbounded memory is a finding. A few
//! targets also assert a documented guarantee that no input may break.
//!
//! Compiled only for tests and with the `fuzzing` feature: `fuzz/` (cargo-fuzz, libFuzzer)
//! calls these, and under `cargo test` the module's tests replay each target's seed corpus
//! (`fuzz/corpus/<target>/`) plus deterministic mutations of it, on stable, as CI's smoke run.

use std::{
    ffi::OsString,
    net::{IpAddr, Ipv6Addr},
    path::PathBuf,
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Body,
    http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header},
};
use serde_json::Value;

use crate::{
    cli::{self, Command},
    commands::login::OAuthClient,
    config::{self, RunConfig},
    credentials::{
        self, Env,
        external_account::{self, Format, JWT_TOKEN_TYPE},
    },
    error::Origin,
    exchange::{CLOUD_PLATFORM, google_error, oauth, subject},
    secret::Secret,
    server::metadata,
    sinks::{docker_config, docker_credential, exec_credential::ExecInfo, files::parse_mode, git_credential},
    token::{self, Token},
    validate,
};

mod hardening;
pub use hardening::{cache_entry, login_redirect, success_answer};

/// Where errors say the fuzzed input came from.
fn origin() -> Origin {
    Origin::file("fuzz-input.json", "fuzz")
}

/// A credentials JSON file of any `type` (service_account, authorized_user, external_account
/// with each `credential_source`, impersonated_service_account with a nested source), parsed
/// as `load_file` does once the file is read, private keys decoded as before a mint.
pub fn credentials_file(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<Value>(data) else { return };
    // Executables allowed, so `credential_source.executable` is parsed rather than refused.
    let env = Env { allow_executables: true, ..Env::default() };
    if let Ok(source) = credentials::parse_json(&origin(), json, &env) {
        source.watched_files();
        let _ = source.check_private_keys();
    }
}

/// A subject token as a `credential_source` file or URL returns it: text or a JSON field,
/// then the JWT shape check for JWT-typed and other subject tokens.
pub fn subject_token(data: &[u8]) {
    // URL bodies are read lossily; files must be UTF-8, a subset of what this covers.
    let content = String::from_utf8_lossy(data).into_owned();
    let formats =
        [Format::Text, Format::Json("id_token".to_owned()), Format::Json("access_token".to_owned())];
    for format in &formats {
        let Ok(token) = subject::extract(&origin(), content.clone(), format) else { continue };
        for kind in [
            JWT_TOKEN_TYPE,
            "urn:ietf:params:oauth:token-type:id_token",
            "urn:ietf:params:aws:token-type:saml2",
        ] {
            let _ = subject::check_shape(&origin(), kind, &token);
        }
    }
}

/// What an executable `credential_source` prints (Google's executable-response JSON).
pub fn executable_response(data: &[u8]) {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let _ = subject::parse_response(data, now);
}

/// A 2xx answer of the token endpoint, STS, IAM Credentials or the metadata server, read
/// field by field with the helpers those exchanges use (their serde structs are private to
/// async functions that need a server, so the fields are picked out here by the same names).
pub fn token_answer(data: &[u8]) {
    const URL: &str = "https://oauth2.googleapis.com/token";
    let now = SystemTime::now();
    // Plain-text answers: the metadata server's ID token.
    let text = String::from_utf8_lossy(data);
    let _ = oauth::id_token_with_expiry(URL, Secret::new(text.trim()));
    let Ok(json) = serde_json::from_slice::<Value>(data) else { return };
    let secret = |field: &str| Secret::new(json.get(field).and_then(Value::as_str).unwrap_or_default());
    // Token endpoint, STS and metadata: `access_token` with `expires_in`.
    if let Some(seconds) = oauth::expires_in(json.get("expires_in")) {
        let _ = Token::from_lifetime(secret("access_token"), now, seconds);
    }
    // IAM generateAccessToken: `accessToken` with an RFC 3339 `expireTime`.
    if let Some(at) = json.get("expireTime").and_then(Value::as_str).and_then(token::parse_rfc3339) {
        let _ = Token::from_upstream(secret("accessToken"), now, at);
    }
    // ID tokens (token endpoint's `id_token`, IAM's `token`) expire at their own `exp`; STS
    // without `expires_in` falls back to the subject JWT's.
    for field in ["id_token", "token"] {
        let _ = oauth::id_token_with_expiry(URL, secret(field));
    }
}

/// Secrets a request carried, which an error answer must never echo back (see below).
const SENT: [&str; 2] =
    ["eyJhbGciOiJSUzI1NiJ9.c2VudC1hc3NlcnRpb24.c2lnbmF0dXJl", "1//0gFuzzRefreshToken-abcdef"];

/// A non-2xx answer's body in either of Google's error shapes; the first two bytes are the
/// HTTP status. Asserts the scrubbing guarantee: what the agent sent, and control characters
/// (terminal escapes), never reach the message.
pub fn google_error(data: &[u8]) {
    let (status, body) = match data {
        [high, low, body @ ..] => (u16::from_be_bytes([*high, *low]), body),
        _ => (400, data),
    };
    let sent = SENT.map(str::to_owned);
    let kind = google_error::parse(status, body, Some(Duration::from_secs(1)), &sent);
    google_error::is_retryable(&kind);
    let message = kind.to_string();
    assert!(!SENT.iter().any(|s| message.contains(s)), "a sent secret came back: {message:?}");
    assert!(!message.chars().any(char::is_control), "a control character came back: {message:?}");
}

/// `run --config FILE`: the YAML merged into the command line, then `run`'s validation.
pub fn run_config(data: &[u8]) {
    let Some(file) = Scratch::new("yaml", data) else { return };
    let mut argv: Vec<OsString> = ["gcp-token-agent", "run", "--config"].map(OsString::from).into();
    argv.push(file.0.clone().into_os_string());
    if let Ok(cli::Cli { command: Command::Run(run), .. }) = config::parse(argv) {
        let _ = RunConfig::from_args(&run);
    }
}

/// An OAuth client secrets file, as `login --client-secrets` reads it.
pub fn client_secrets(data: &[u8]) {
    let Some(file) = Scratch::new("json", data) else { return };
    let _ = OAuthClient::load(&file.0);
}

/// `KUBERNETES_EXEC_INFO` from kubectl, and the ExecCredential answered in its version:
/// always JSON, whatever the input held.
pub fn exec_info(data: &[u8]) {
    // Environment variables reach the parser only as UTF-8 (`std::env::var`).
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(info) = ExecInfo::parse(Some(text)) else { return };
    let token = Token::new(Secret::new("ya29.fuzz"), SystemTime::now(), Duration::from_secs(3600));
    let rendered = crate::sinks::exec_credential::render(&info, &token);
    assert!(serde_json::from_str::<Value>(&rendered).is_ok(), "not JSON: {rendered}");
}

/// An AdmissionReview body: the envelope, the pod's annotations and the mutation.
pub fn admission_review(data: &[u8]) {
    crate::webhook::fuzz_review(data);
}

/// The metadata API's `Host` rule (DNS rebinding defence), with and without a listen address.
pub fn metadata_host(data: &[u8]) {
    // The guard reads the header as text; a value that is not turns into U+FFFD.
    let host = String::from_utf8_lossy(data);
    for listen in [None, Some(IpAddr::from([10, 0, 0, 5])), Some(IpAddr::from(Ipv6Addr::LOCALHOST))] {
        metadata::host_allowed(&host, listen);
    }
}

/// One request to the metadata API router, in process: the first line is `[METHOD ]TARGET`
/// (path and query), each further line a `Name: value` header. Asserts the API's rules: no
/// 2xx without `Metadata-Flavor: Google`, with `X-Forwarded-For` or for a foreign `Host`,
/// and every answer flavored.
pub fn metadata_request(data: &[u8]) {
    metadata_answer(data);
}

/// The status [`metadata_request`] got, or `None` when the bytes make no HTTP request.
fn metadata_answer(data: &[u8]) -> Option<StatusCode> {
    let api = MetadataApi::shared()?;
    let request = http_request(data)?;
    let headers = request.headers();
    let flavored =
        headers.get("metadata-flavor").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Google"));
    let forwarded = headers.contains_key("x-forwarded-for");
    // A missing Host is refused like a foreign one.
    let foreign = !headers
        .get(header::HOST)
        .is_some_and(|h| metadata::host_allowed(h.to_str().unwrap_or("\u{fffd}"), api.listen));
    let response = api.send(request)?;
    let status = response.status();
    assert!(
        !status.is_success() || (flavored && !forwarded && !foreign),
        "{status} for a request the API must refuse"
    );
    assert_eq!(response.headers().get("metadata-flavor").map(HeaderValue::as_bytes), Some(&b"Google"[..]));
    Some(status)
}

/// Parses the [`metadata_request`] format; `None` for what no client could send.
fn http_request(data: &[u8]) -> Option<Request<Body>> {
    let mut lines = data.split(|b| *b == b'\n').map(<[u8]>::trim_ascii);
    let first = lines.next()?;
    let (method, target) = match split_once(first, b' ') {
        Some((method, target)) => (Method::from_bytes(method).ok()?, target),
        None => (Method::GET, first),
    };
    let mut request = Request::builder().method(method).uri(Uri::try_from(target).ok()?);
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = split_once(line, b':')?;
        let name = HeaderName::from_bytes(name.trim_ascii()).ok()?;
        let value = HeaderValue::from_bytes(value.trim_ascii()).ok()?;
        request = request.header(name, value);
    }
    request.body(Body::empty()).ok()
}

/// `str::split_once` for bytes.
fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let mut parts = bytes.splitn(2, |b| *b == separator);
    Some((parts.next()?, parts.next()?))
}

/// The metadata router over fixed state: valid published tokens (so no route waits for a
/// cold start) and a minter whose credential file is missing (so on-demand mints fail at
/// once, without the network).
struct MetadataApi {
    runtime: tokio::runtime::Runtime,
    site: crate::server::Site,
    service: hyper_util::service::TowerToHyperService<Router>,
    listen: Option<IpAddr>,
    /// Kept: with its sender gone a channel still holds its token, but nothing would own it.
    _senders: Vec<tokio::sync::watch::Sender<Option<Token>>>,
}

impl MetadataApi {
    /// Built once per process: a runtime and the TLS roots are too costly per input.
    fn shared() -> Option<&'static Self> {
        static API: OnceLock<Option<MetadataApi>> = OnceLock::new();
        API.get_or_init(Self::new).as_ref()
    }

    fn new() -> Option<Self> {
        use crate::{
            exchange::{Http, RetryPolicy},
            refresh::{Minter, OnDemand, Published},
            telemetry::metrics::Metrics,
        };
        let selection = crate::credentials::Selection {
            choice: crate::credentials::Choice::File("/nonexistent/key.json".into()),
            ..Default::default()
        };
        let minter = Minter::new(selection, Env::default(), Http::new(RetryPolicy::default()).ok()?);
        let mut senders = Vec::new();
        let mut publish = |name: &str| {
            let token = Token::new(Secret::new("ya29.fuzz"), SystemTime::now(), token::MAX_LIFETIME);
            let (sender, tokens) = tokio::sync::watch::channel(Some(token));
            senders.push(sender);
            Published {
                name: name.to_owned(),
                tokens,
                progress: tokio::sync::watch::channel(Default::default()).1,
            }
        };
        let listen = Some(IpAddr::from([127, 0, 0, 1]));
        let metrics = Metrics::new();
        let state = metadata::MetadataState {
            access: publish("access"),
            scopes: vec![CLOUD_PLATFORM.to_owned()],
            scope_set: [CLOUD_PLATFORM.to_owned()].into(),
            subject: None,
            id_tokens: vec![metadata::KeptIdToken {
                audience: "https://svc.example.com".to_owned(),
                include_email: false,
                published: publish("id:svc"),
            }],
            minter,
            on_demand: OnDemand::new(metrics.clone()),
            identity: metadata::Identity {
                email: "fuzz@my-project.iam.gserviceaccount.com".to_owned(),
                project_id: Some("my-project".to_owned()),
                numeric_project_id: metadata::project_number(None),
                numeric_lookup: None,
                universe_domain: credentials::service_account::DEFAULT_UNIVERSE.to_owned(),
            },
            instance: crate::server::instance::Instance {
                zone: Some("us-central1-a".to_owned()),
                region: Some("us-central1".to_owned()),
                name: Some("fuzz-vm".to_owned()),
                id: Some(4_519_681_524_354_166_001),
                hostname: Some("fuzz-vm.internal".to_owned()),
                attributes: [("cluster-name".to_owned(), "fuzz".to_owned())].into(),
            },
            metrics,
            listen,
            min_remaining: Duration::from_secs(60),
            nudge: None,
            started: Instant::now(),
            last_nudge: std::sync::Mutex::new(None),
            rendered: Default::default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        let site = metadata::site(state);
        let service = hyper_util::service::TowerToHyperService::new(site.router.clone());
        Some(Self { runtime, site, service, listen, _senders: senders })
    }

    /// Runs one request as the server would: the hot path first, then the router (through
    /// hyper-util's adaptor, as hyper calls it).
    fn send(&self, request: Request<Body>) -> Option<axum::http::Response<Body>> {
        use hyper::service::Service;
        let hot =
            self.site.hot.as_ref().and_then(|hot| hot(request.method(), request.uri(), request.headers()));
        match hot {
            Some(response) => Some(response),
            None => self.runtime.block_on(self.service.call(request)).ok(),
        }
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
    let _ = validate::scope(&text);
    let _ = validate::scopes(&list);
    let _ = validate::project_id(&text);
    let _ = validate::service_account_email(&text);
    validate::project_of_email(&text);
    let _ = validate::file_name_part(&text);
    let _ = validate::endpoint_url(&text);
    validate::shown_url(&text);
    let _ = validate::quantity(&text);
    if validate::zone(&text).is_ok() {
        let region = validate::region_of_zone(&text).unwrap_or_default();
        assert!(validate::region(region).is_ok(), "zone {text:?} has no valid region");
    }
    let _ = validate::metadata_name(&text);
    let _ = validate::instance_id(&text);
    let _ = validate::hostname(&text);
    let _ = validate::attribute(&text);
    let _ = config::parse_id_tokens(&list);
    let _ = external_account::check_audience(&text);
    let _ = external_account::impersonation_from_url(&origin(), &text, list, None);
}

/// What the credential helpers read: git's `key=value` request, Docker's registry line, a
/// `configure-docker` registry name and a Docker config.json merged with our entries. Docker's
/// answer stays JSON echoing the registry, a checked registry name checks again unchanged, and
/// the merge keeps every other key and writes JSON that reads back as what was merged.
pub fn credential_helpers(data: &[u8]) {
    let _ = git_credential::read_request(data);
    let token = Token::new(Secret::new("ya29.fuzz"), SystemTime::now(), Duration::from_secs(3600));
    if let Ok(url) = docker_credential::server_url(data) {
        let answer = docker_credential::render_get(&url, &token);
        let json = serde_json::from_str::<Value>(&answer).unwrap_or_default();
        assert!(json.get("ServerURL") == Some(&Value::from(url)), "not JSON echoing the registry: {answer}");
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(host) = validate::registry_host(&text) {
        assert!(validate::registry_host(&host).as_ref() == Ok(&host), "{text:?} checked as {host:?}");
    }
    let Ok(mut merged) = docker_config::parse(&text) else { return };
    let before = merged.clone();
    if docker_config::add_helpers(&mut merged, &["gcr.io".to_owned()]).is_err() {
        return;
    }
    for (key, value) in before.iter().filter(|(key, _)| *key != "credHelpers") {
        assert!(merged.get(key) == Some(value), "key {key:?} changed");
    }
    let written = docker_config::render(&merged);
    assert!(docker_config::parse(&written).as_ref() == Ok(&merged), "written file reads back differently");
}

/// A file holding fuzzed bytes, for parsers that take a path; removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(extension: &str, data: &[u8]) -> Option<Self> {
        // Unique per call: tests run targets on parallel threads of one process.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("gcp-token-agent-fuzz-{}-{n}.{extension}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, data).ok()?;
        Some(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    //! The stable smoke run: every seed, then deterministic mutations of the seeds. Not
    //! coverage-guided (that is `scripts/fuzz.sh`), but it runs everywhere `cargo test` does
    //! and keeps every crash libFuzzer ever found, once its input is added to the corpus.

    use std::panic::{AssertUnwindSafe, catch_unwind};

    /// Mutated inputs per target: a few seconds in all in a debug build.
    const MUTATIONS: usize = 2_000;
    /// `run_config` rebuilds the command line per input, and a mutant of the YAML alias bomb
    /// costs 0.6 s in a debug build before serde-saphyr's node budget refuses it.
    const CONFIG_MUTATIONS: usize = 100;

    /// Values that break parsers: number limits, JSON and YAML edge cases, escapes, non-ASCII.
    const INTERESTING: &[&str] = &[
        "0",
        "-1",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "1e308",
        "-1e309",
        "0.0000001",
        "NaN",
        "null",
        "true",
        "\"\"",
        "{}",
        "[]",
        "\\u0000",
        "\\ud800",
        "\u{1b}[31m",
        "\r\n",
        "\u{feff}",
        "\u{1F4A5}",
        "%00",
        "%ff",
        "../",
        "&a ",
        "*a",
        "!!binary ",
        "<<: ",
        "0o777",
        "9999-12-31T23:59:59Z",
        "-0001-01-01T00:00:00Z",
        "@",
        "://",
        "user:pass@",
        "[::1]",
        "\u{0}",
    ];

    /// The seeds of `fuzz/corpus/<target>/`, in name order.
    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).expect("a seed")).collect()
    }

    /// One to four edits of a random seed.
    fn mutant(rng: &mut fastrand::Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut data = rng.choice(seeds).cloned().unwrap_or_default();
        for _ in 0..rng.usize(1..=4) {
            edit(rng, seeds, &mut data);
        }
        data
    }

    fn edit(rng: &mut fastrand::Rng, seeds: &[Vec<u8>], data: &mut Vec<u8>) {
        let at = rng.usize(..=data.len());
        match rng.u8(..10) {
            0 if !data.is_empty() => {
                let i = rng.usize(..data.len());
                data[i] ^= 1 << rng.u8(..8);
            }
            1 => data.insert(at, rng.u8(..)),
            2 => {
                let end = rng.usize(at..=data.len());
                data.drain(at..end);
            }
            3 => data.truncate(at),
            4 => {
                // Splice: this seed's head, another's tail.
                let other = rng.choice(seeds).cloned().unwrap_or_default();
                data.truncate(at);
                data.extend_from_slice(&other[rng.usize(..=other.len())..]);
            }
            5 | 6 => {
                let value = rng.choice(INTERESTING).copied().unwrap_or_default();
                data.splice(at..at, value.bytes());
            }
            7 => {
                // A long run of one byte: a huge string, number or indent. Bigger inputs cost
                // more in a debug build than they find; libFuzzer tries them in the long run.
                let byte = rng.choice([b'a', b'0', b' ', b'\\', b'"', b'%']).unwrap_or(b'a');
                data.splice(at..at, std::iter::repeat_n(byte, rng.usize(1_000..20_000)));
            }
            8 => {
                // Deep nesting, in JSON and YAML flow style.
                let depth = rng.usize(10..5_000);
                let (open, close) =
                    rng.choice([("[", "]"), ("{\"a\":", "}"), ("- ", "")]).unwrap_or(("[", "]"));
                let nested = format!("{}{}", open.repeat(depth), close.repeat(depth));
                data.splice(at..at, nested.into_bytes());
            }
            _ => {
                // Duplicate a range: repeated fields, keys and list items.
                let end = rng.usize(at..=data.len().min(at + 256));
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy.repeat(rng.usize(1..8)));
            }
        }
    }

    /// Every seed, then `mutations` mutants; a panic names the input that caused it.
    fn smoke(name: &str, target: fn(&[u8]), mutations: usize) {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "fuzz/corpus/{name}/ has no seeds");
        let seed = name.bytes().fold(0x5eed_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut rng = fastrand::Rng::with_seed(seed);
        let inputs =
            seeds.iter().cloned().chain(std::iter::repeat_with(|| mutant(&mut rng, &seeds)).take(mutations));
        for (i, input) in inputs.enumerate() {
            if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
                panic!("{name}: input #{i} panicked (seed {seed:#x}): b\"{}\"", input.escape_ascii());
            }
        }
    }

    macro_rules! smoke_tests {
        ($($target:ident: $mutations:expr),* $(,)?) => {$(
            #[test]
            fn $target() {
                smoke(stringify!($target), super::$target, $mutations);
            }
        )*};
    }

    smoke_tests!(
        credentials_file: MUTATIONS,
        subject_token: MUTATIONS,
        executable_response: MUTATIONS,
        token_answer: MUTATIONS,
        google_error: MUTATIONS,
        run_config: CONFIG_MUTATIONS,
        client_secrets: MUTATIONS,
        exec_info: MUTATIONS,
        admission_review: MUTATIONS,
        metadata_host: MUTATIONS,
        metadata_request: MUTATIONS,
        flag_values: MUTATIONS,
        credential_helpers: MUTATIONS,
        login_redirect: MUTATIONS,
        cache_entry: MUTATIONS,
        success_answer: MUTATIONS,
    );

    /// Without this the metadata target could silently test nothing: the harness must answer.
    #[test]
    fn the_metadata_harness_serves_and_guards() {
        let token = "GET /computeMetadata/v1/instance/service-accounts/default/token\nMetadata-Flavor: Google\nHost: 127.0.0.1:8989";
        assert_eq!(super::metadata_answer(token.as_bytes()), Some(super::StatusCode::OK));
        let bare = "/computeMetadata/v1/project/project-id\nHost: evil.example";
        assert_eq!(super::metadata_answer(bare.as_bytes()), Some(super::StatusCode::FORBIDDEN));
        let other = "/computeMetadata/v1/instance/service-accounts/default/token?scopes=x\nMetadata-Flavor: Google\nHost: metadata";
        assert_eq!(super::metadata_answer(other.as_bytes()), Some(super::StatusCode::SERVICE_UNAVAILABLE));
    }

    #[test]
    fn the_hot_path_answers_exactly_what_the_router_does() {
        use super::{Body, MetadataApi, Request};
        use hyper::service::Service;
        let api = MetadataApi::shared().expect("metadata API");
        let request = || {
            Request::get("/computeMetadata/v1/instance/service-accounts/default/token")
                .header("host", "169.254.169.254")
                .header("metadata-flavor", "Google")
                .body(Body::empty())
                .expect("request")
        };
        let first = request();
        let hot = api.site.hot.as_ref().expect("a hot path");
        let fast = hot(first.method(), first.uri(), first.headers()).expect("answered without routing");
        let routed = api.runtime.block_on(api.service.call(request())).expect("routed");
        assert_eq!(fast.status(), routed.status());
        assert_eq!(fast.headers(), routed.headers(), "the same headers, in the same order");
        let body = |response: axum::http::Response<Body>| {
            let bytes =
                api.runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).expect("body");
            let mut json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            // The countdown may tick between the two answers.
            json["expires_in"].take();
            json
        };
        assert_eq!(body(fast), body(routed));
        for refused in [("host", "evil.example"), ("metadata-flavor", "nope")] {
            let mut other = request();
            other.headers_mut().insert(refused.0, refused.1.parse().expect("value"));
            assert!(
                hot(other.method(), other.uri(), other.headers()).is_none(),
                "{refused:?} goes to the router"
            );
        }
        let with_query = Request::get("/computeMetadata/v1/instance/service-accounts/default/token?scopes=x")
            .header("host", "localhost")
            .header("metadata-flavor", "Google")
            .body(Body::empty())
            .expect("request");
        assert!(hot(with_query.method(), with_query.uri(), with_query.headers()).is_none());
    }
}
