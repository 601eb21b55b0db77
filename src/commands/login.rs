//! `login`: the OAuth 2.0 installed-app flow (loopback redirect + PKCE, RFC 8252 / RFC 7636)
//! that turns a person's consent into an `authorized_user` credential file.

use std::io::Write as _;
use std::{
    net::SocketAddr,
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::Html,
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;

use crate::{
    atomic,
    config::LoginConfig,
    credentials::{Env, service_account::GOOGLE_TOKEN_URI},
    error::{Endpoint, Error, Origin, Result, UpstreamError},
    exchange::{Http, RetryPolicy},
    secret::Secret,
    validate::{ProjectId, Scope},
};

/// The OAuth client from the JSON file Google's console downloads.
#[derive(Debug, Clone)]
pub(crate) struct OAuthClient {
    client_id: String,
    client_secret: Secret,
    auth_uri: String,
    token_uri: String,
}

impl OAuthClient {
    /// Reads `{"installed": {...}}` or `{"web": {...}}`, naming the missing field.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct File {
            installed: Option<Inner>,
            web: Option<Inner>,
        }
        #[derive(Deserialize)]
        struct Inner {
            client_id: Option<String>,
            client_secret: Option<Secret>,
            auth_uri: Option<String>,
            token_uri: Option<String>,
        }
        let origin = Origin::file(path, "--client-secrets");
        let bytes = crate::input::read_file(path)
            .map_err(|source| Error::ReadCredentials { origin: origin.clone(), source })?;
        let file: File =
            serde_json::from_slice(&bytes).map_err(|e| Error::malformed(&origin, "not valid JSON", &e))?;
        let inner = file.installed.or(file.web).ok_or_else(|| {
            Error::parse(
                &origin,
                "has neither an \"installed\" nor a \"web\" OAuth client; download it from the console",
            )
        })?;
        let field = |name: &str, value: Option<String>| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Error::parse(&origin, format!("field \"{name}\" is missing")))
        };
        let url = |name: &str, value: Option<String>| {
            let value = field(name, value)?;
            login_url(&value).map_err(|why| Error::parse(&origin, format!("field \"{name}\": {why}")))?;
            Ok::<_, Error>(value)
        };
        Ok(Self {
            client_id: field("client_id", inner.client_id)?,
            client_secret: inner
                .client_secret
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::parse(&origin, "field \"client_secret\" is missing"))?,
            auth_uri: url("auth_uri", inner.auth_uri)?,
            token_uri: url("token_uri", inner.token_uri)?,
        })
    }
}

/// A URL `login` sends a person or a secret to: `https://`, or `http://` to a loopback host
/// named as such (a local test server), never with `user:password@`. Anything else (another
/// host over http, `file:`, `javascript:`, `data:`) is refused before the flow starts, so it
/// never reaches the browser opener or receives the client secret and the PKCE verifier.
pub(crate) fn login_url(text: &str) -> std::result::Result<(), String> {
    let shown = crate::validate::shown_url(text);
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("\"{shown}\" is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("\"{shown}\" carries user:password@"));
    }
    let loopback = crate::validate::loopback_name(url.host_str().unwrap_or_default());
    match url.scheme() {
        "https" if url.has_host() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "\"{shown}\" is plain http; only https (or http to localhost, 127.0.0.1, [::1]) is allowed"
        )),
        other => Err(format!("\"{shown}\" has scheme \"{other}\"; expected https")),
    }
}

/// Runs the flow and returns the path written (what stdout prints).
pub fn login(args: &LoginConfig, env: &Env) -> Result<String> {
    super::block_on(|| flow(args, env))?
}

async fn flow(args: &LoginConfig, env: &Env) -> Result<String> {
    let client = OAuthClient::load(&args.client_secrets)?;
    let output = match &args.output {
        Some(path) => path.clone(),
        None => env.well_known_adc_file().ok_or_else(|| {
            Error::usage("--output", "no HOME or CLOUDSDK_CONFIG to find gcloud's ADC file; pass --output")
        })?,
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await
        .map_err(|e| Error::usage("--port", format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    let port = listener.local_addr().map_err(|e| Error::usage("--port", e.to_string()))?.port();
    let pkce = Pkce::new()?;
    let redirect_uri = format!("http://127.0.0.1:{port}/");
    let url = authorization_url(&client, &redirect_uri, &Scope::joined(&args.scopes, " "), &pkce)?;
    let _ = writeln!(std::io::stderr(), "Open this URL in a browser to sign in:\n\n    {url}\n");
    // Only a URL that passed `login_url` (https, or http to loopback) reaches the opener.
    if !args.no_browser && login_url(&url).is_ok() {
        open_browser(&url);
    }
    let code = tokio::time::timeout(args.timeout, wait_for_redirect(listener, pkce.state.clone()))
        .await
        .map_err(|_| {
        Error::TimedOut(format!(
            "no sign-in completed within {:?} (--timeout); nothing was written",
            args.timeout
        ))
    })??;
    let refresh_token = exchange_code(&client, &code, &redirect_uri, &pkce).await?;
    write_credentials(&output, &client, &refresh_token, args.quota_project.as_ref())?;
    let _ = writeln!(std::io::stderr(), "Credentials saved to {}", output.display());
    Ok(format!("{}\n", output.display()))
}

/// The PKCE verifier and the CSRF `state`, both from the system's CSPRNG.
struct Pkce {
    verifier: Secret,
    state: String,
}

impl Pkce {
    fn new() -> Result<Self> {
        Ok(Self { verifier: Secret::new(random_token(48)?), state: random_token(24)? })
    }

    /// S256: BASE64URL(SHA-256(verifier)).
    fn challenge(&self) -> String {
        URL_SAFE_NO_PAD
            .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.verifier.expose().as_bytes()))
    }
}

/// Random bytes from the system CSPRNG, base64url: a predictable state or verifier would
/// defeat their purpose, so a failure stops the login.
fn random_token(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer)
        .map_err(|_| Error::Internal("the system random generator failed".to_owned()))?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

fn authorization_url(client: &OAuthClient, redirect_uri: &str, scope: &str, pkce: &Pkce) -> Result<String> {
    let mut url = reqwest::Url::parse(&client.auth_uri)
        .map_err(|e| Error::usage("--client-secrets", format!("field \"auth_uri\" is not a URL ({e})")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", &pkce.state)
        .append_pair("code_challenge", &pkce.challenge())
        .append_pair("code_challenge_method", "S256")
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent");
    Ok(url.into())
}

/// `$BROWSER`, else the desktop's opener; failure is fine, the URL is printed.
fn open_browser(url: &str) {
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| if cfg!(target_os = "macos") { "open".to_owned() } else { "xdg-open".to_owned() });
    let spawned = std::process::Command::new(&opener)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if spawned.is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "(could not start a browser with {opener}; open the URL above yourself)"
        );
    }
}

/// The query of a request to the loopback redirect port.
#[derive(Deserialize)]
pub(crate) struct Redirect {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub(crate) type Verdict = std::result::Result<Secret, String>;
type Slot = Arc<Mutex<Option<oneshot::Sender<Verdict>>>>;

/// Serves the loopback redirect until the first one arrives, then closes the listener.
async fn wait_for_redirect(listener: tokio::net::TcpListener, state: String) -> Result<Secret> {
    let (tx, rx) = oneshot::channel();
    let slot: Slot = Arc::new(Mutex::new(Some(tx)));
    let app = Router::new().route("/", get(redirect)).with_state((slot, Arc::new(state)));
    let server = axum::serve(listener, app);
    let verdict = tokio::select! {
        verdict = rx => verdict.map_err(|_| Error::Internal("the redirect listener stopped".to_owned()))?,
        result = server => return Err(Error::Internal(format!("the redirect listener failed: {result:?}"))),
    };
    // Leaving the select dropped the server: the listener is closed, a stray request is refused.
    verdict.map_err(Error::Refused)
}

async fn redirect(
    State((slot, expected)): State<(Slot, Arc<String>)>,
    Query(query): Query<Redirect>,
) -> (StatusCode, Html<&'static str>) {
    let Some(verdict) = judge(query, &expected) else {
        return (StatusCode::BAD_REQUEST, Html(STRAY_PAGE));
    };
    let page = if verdict.is_ok() { SUCCESS_PAGE } else { FAILURE_PAGE };
    if let Some(tx) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = tx.send(verdict);
    }
    (StatusCode::OK, Html(page))
}

/// What a request to the loopback port means: `None` for one that is not this login's
/// redirect (no `state`, or another one), which is answered and otherwise ignored, since any
/// web page can send the browser there; else the code, or why sign-in failed.
pub(crate) fn judge(query: Redirect, expected: &str) -> Option<Verdict> {
    if query.state.as_deref() != Some(expected) {
        return None;
    }
    Some(match (query.error, query.code) {
        (Some(error), _) => Err(format!(
            "sign-in failed: Google answered \"{}\" (was consent denied?)",
            crate::scrub::Scrubbed::ours(&error)
        )),
        (None, Some(code)) if !code.is_empty() => Ok(Secret::new(code)),
        (None, _) => Err("the redirect carried no authorization code".to_owned()),
    })
}

const STRAY_PAGE: &str = "<!doctype html><title>gcp-token-agent</title><h1>Not this sign-in</h1>\
    <p>This request does not belong to the sign-in in progress and was ignored.</p>";
const SUCCESS_PAGE: &str = "<!doctype html><title>gcp-token-agent</title><h1>Signed in</h1>\
    <p>gcp-token-agent received your authorization. You can close this tab.</p>";
const FAILURE_PAGE: &str = "<!doctype html><title>gcp-token-agent</title><h1>Sign-in failed</h1>\
    <p>See the terminal for the reason. You can close this tab.</p>";

/// The `authorization_code` grant with the PKCE verifier; returns the refresh token.
async fn exchange_code(
    client: &OAuthClient,
    code: &Secret,
    redirect_uri: &str,
    pkce: &Pkce,
) -> Result<Secret> {
    #[derive(Deserialize)]
    struct Answer {
        refresh_token: Option<Secret>,
    }
    let http = Http::new(RetryPolicy::default())?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("client_id", client.client_id.as_str()),
        ("client_secret", client.client_secret.expose()),
        ("redirect_uri", redirect_uri),
        ("code_verifier", pkce.verifier.expose()),
    ];
    let url = &client.token_uri;
    let body = http.send(Endpoint::Token, url, |c| c.post(url).form(&form)).await?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
        bad(url, &format!("not a token answer ({})", crate::validate::without_quoted(&e.to_string())))
    })?;
    answer.refresh_token.filter(|t| !t.is_empty()).ok_or_else(|| {
        bad(
            url,
            "no refresh_token: the client must ask for offline access (access_type=offline, prompt=consent)",
        )
        .into()
    })
}

fn bad(url: &str, why: &str) -> UpstreamError {
    UpstreamError::bad_response(Endpoint::Token, url, why)
}

/// Writes the `authorized_user` file atomically, readable by the user alone.
fn write_credentials(
    path: &Path,
    client: &OAuthClient,
    refresh_token: &Secret,
    quota_project: Option<&ProjectId>,
) -> Result<()> {
    let mut file = serde_json::Map::new();
    file.insert("type".to_owned(), json!("authorized_user"));
    file.insert("client_id".to_owned(), json!(client.client_id));
    file.insert("client_secret".to_owned(), json!(client.client_secret.expose()));
    file.insert("refresh_token".to_owned(), json!(refresh_token.expose()));
    if client.token_uri != GOOGLE_TOKEN_URI {
        file.insert("token_uri".to_owned(), json!(client.token_uri));
    }
    if let Some(project) = quota_project {
        file.insert("quota_project_id".to_owned(), json!(project.as_str()));
    }
    let file = serde_json::Value::Object(file);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .map_err(|source| Error::WriteFile { path: dir.to_owned(), source })?;
    }
    let text = serde_json::to_string_pretty(&file).unwrap_or_default();
    atomic::write(path, text.as_bytes(), 0o600, true)
        .map_err(|source| Error::WriteFile { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_the_s256_of_the_verifier() {
        // RFC 7636 appendix B.
        let pkce = Pkce {
            verifier: Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            state: String::new(),
        };
        assert_eq!(pkce.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn verifiers_and_states_are_random_and_url_safe() {
        let (a, b) = (Pkce::new().expect("random"), Pkce::new().expect("random"));
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.state, b.state);
        assert_eq!(a.verifier.expose().len(), 64);
        assert!(a.verifier.expose().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
