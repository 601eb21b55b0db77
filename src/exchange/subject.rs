//! Reading a federation subject token: from a file, a URL or an executable.

use std::{process::Stdio, time::SystemTime};

use tokio::io::AsyncReadExt;

use serde::Deserialize;

use super::Http;
use crate::{
    credentials::external_account::{CredentialSource, Executable, ExternalAccount, Format},
    error::{Endpoint, Error, Named, Origin, Result},
    secret::Secret,
    token::unix_seconds,
};

/// The subject token for one STS exchange. Files are re-read every time: kubelet rotates them.
pub(crate) async fn read(http: &Http, account: &ExternalAccount) -> Result<Secret> {
    let (raw, origin) = match &account.credential_source {
        CredentialSource::File { path, format } => {
            // The flag form names its flag; a file names its field.
            let via = if account.origin.via == "--subject-token-file" {
                account.origin.via
            } else {
                "credential_source.file"
            };
            let origin = Origin::file(path.clone(), via);
            (extract(&origin, read_file(&origin).await?, format)?, origin)
        }
        CredentialSource::Url { url, headers, format } => {
            // Shown in errors: no user:password@, no query (either may carry a secret).
            let shown = crate::scrub::ShownUrl::new(url);
            let origin = Origin { what: Named::Url(shown), via: "credential_source.url" };
            let body = http
                .send(Endpoint::SubjectTokenUrl, url, |client| {
                    headers.iter().fold(client.get(url), |request, (name, value)| {
                        // Header values often carry a bearer token: mark them so nothing prints them.
                        match reqwest::header::HeaderValue::from_str(value.expose()) {
                            Ok(mut value) => {
                                value.set_sensitive(true);
                                request.header(name, value)
                            }
                            Err(_) => request,
                        }
                    })
                })
                .await?;
            (extract(&origin, String::from_utf8_lossy(&body).into_owned(), format)?, origin)
        }
        CredentialSource::Executable(exe) => {
            // Only the program: its arguments may carry secrets.
            let program = exe.command.split_whitespace().next().unwrap_or_default();
            let origin =
                Origin { what: Named::Command(program.to_owned()), via: "credential_source.executable" };
            (run_executable(&origin, exe, account).await?, origin)
        }
    };
    check_shape(&origin, &account.subject_token_type, &raw)?;
    Ok(Secret::new(raw))
}

async fn read_file(origin: &Origin) -> Result<String> {
    let path = origin.path().ok_or_else(|| Error::parse(origin, "is not a file"))?;
    if path.is_dir() {
        return Err(Error::parse(origin, "is a directory; expected the subject token file"));
    }
    crate::input::read_text(path).map_err(|source| Error::ReadCredentials { origin: origin.clone(), source })
}

/// The token from the content: whitespace trimmed (Go's rule; a trailing newline is never part
/// of a token), or a field of a JSON object.
pub(crate) fn extract(origin: &Origin, content: String, format: &Format) -> Result<String> {
    let token = match format {
        Format::Text => content.trim().to_owned(),
        Format::Json(field) => {
            let json: serde_json::Value = serde_json::from_str(&content).map_err(|_| {
                Error::parse(
                    origin,
                    "subject token is not JSON, but credential_source.format.type is \"json\"",
                )
            })?;
            json.get(field).and_then(|v| v.as_str()).map(|s| s.trim().to_owned()).ok_or_else(|| {
                Error::parse(
                    origin,
                    format!("subject token JSON has no string field \"{field}\" (subject_token_field_name)"),
                )
            })?
        }
    };
    if token.is_empty() {
        return Err(Error::parse(origin, "subject token is empty"));
    }
    Ok(token)
}

/// JWT-typed subject tokens must look like JWTs: catching a wrong file here beats STS's
/// opaque "invalid_grant".
pub(crate) fn check_shape(origin: &Origin, token_type: &str, token: &str) -> Result<()> {
    let wants_jwt = token_type.ends_with(":jwt")
        || token_type.ends_with(":id_token")
        || token_type.ends_with(":id-token");
    let looks_like_jwt = token.split('.').count() == 3 && token.split('.').all(|part| !part.is_empty());
    if wants_jwt && !looks_like_jwt {
        return Err(Error::parse(
            origin,
            format!("subject token is not a JWT, but subject_token_type is \"{token_type}\""),
        ));
    }
    Ok(())
}

/// Google's executable-source response.
#[derive(Deserialize)]
struct ExecutableResponse {
    version: Option<u32>,
    success: Option<bool>,
    id_token: Option<String>,
    saml_response: Option<String>,
    expiration_time: Option<u64>,
    code: Option<String>,
    message: Option<String>,
}

async fn run_executable(origin: &Origin, exe: &Executable, account: &ExternalAccount) -> Result<String> {
    if let Some(token) = cached_output(exe) {
        return Ok(token);
    }
    let mut parts = exe.command.split_whitespace();
    let program =
        parts.next().ok_or_else(|| Error::parse(origin, "credential_source.executable.command is empty"))?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(parts)
        .env("GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE", &account.audience)
        .env("GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE", &account.subject_token_type)
        .env("GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group, so a timeout ends whatever it started too.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(target) = &account.impersonation {
        command.env("GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL", &target.email);
    }
    if let Some(file) = &exe.output_file {
        command.env("GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE", file);
    }
    let failed = |reason: String| Error::SourceFailed { origin: origin.clone(), reason };
    let mut child = command.spawn().map_err(|e| failed(format!("cannot run: {e}")))?;
    let group = child.id();
    let run = async {
        // Read at most one byte past the cap: an executable that floods stdout is refused.
        let mut stdout = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            pipe.take(crate::input::MAX_FILE.saturating_add(1)).read_to_end(&mut stdout).await?;
        }
        if stdout.len() as u64 > crate::input::MAX_FILE {
            return Ok((None, stdout)); // still writing: killed below, not waited for
        }
        Ok::<_, std::io::Error>((Some(child.wait().await?), stdout))
    };
    let (status, stdout) = match tokio::time::timeout(exe.timeout, run).await {
        Ok(output) => output.map_err(|e| failed(format!("cannot run: {e}")))?,
        Err(_) => {
            group.into_iter().for_each(kill_group);
            return Err(failed(format!("did not answer within {:?} (timeout_millis)", exe.timeout)));
        }
    };
    let Some(status) = status else {
        group.into_iter().for_each(kill_group);
        return Err(failed("wrote more than 1 MiB to stdout".to_owned()));
    };
    if !status.success() {
        return Err(failed(format!("exited with {status}")));
    }
    parse_response(&stdout, SystemTime::now()).map_err(|why| Error::parse(origin, why))
}

/// SIGKILL to every process of group `pgid`: the executable and whatever it started.
fn kill_group(pgid: u32) {
    let killed = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .map(|pid| rustix::process::kill_process_group(pid, rustix::process::Signal::KILL));
    if let Some(Err(e)) = killed {
        tracing::warn!("cannot stop the executable's process group {pgid}: {e}");
    }
}

/// A still-valid response the executable cached in `output_file`; one without
/// `expiration_time` counts as expired, as in Google's libraries.
fn cached_output(exe: &Executable) -> Option<String> {
    let bytes = crate::input::read_file(exe.output_file.as_ref()?).ok()?;
    let response: ExecutableResponse = serde_json::from_slice(&bytes).ok()?;
    response.expiration_time?;
    parse_response(&bytes, SystemTime::now()).ok()
}

pub(crate) fn parse_response(stdout: &[u8], now: SystemTime) -> std::result::Result<String, String> {
    let response: ExecutableResponse = serde_json::from_slice(stdout).map_err(|e| {
        format!("printed something that is not its JSON response ({})", super::oauth::unquoted(&e))
    })?;
    match response.version {
        Some(v) if v <= 1 => {}
        Some(v) => return Err(format!("answered version {v}; only version 1 is supported")),
        None => return Err("answered without \"version\"".to_owned()),
    }
    if response.success != Some(true) {
        // The program's own words, shown as any upstream text is: escaped and bounded.
        let code = crate::scrub::Scrubbed::ours(&response.code.unwrap_or_default());
        let message = crate::scrub::Scrubbed::ours(&response.message.unwrap_or_default());
        return Err(format!("reported failure {code}: {message}"));
    }
    if response.expiration_time.is_some_and(|exp| exp <= unix_seconds(now)) {
        return Err("answered an expired token (expiration_time)".to_owned());
    }
    response
        .id_token
        .or(response.saml_response)
        .ok_or_else(|| "answered no \"id_token\" or \"saml_response\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const NOW: u64 = 1_800_000_000;

    fn parse(json: &str) -> std::result::Result<String, String> {
        parse_response(json.as_bytes(), UNIX_EPOCH + Duration::from_secs(NOW))
    }

    #[test]
    fn a_successful_version_one_response_yields_its_token() {
        let ok = r#"{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"a.b.c","expiration_time":1800000100}"#;
        assert_eq!(parse(ok), Ok("a.b.c".to_owned()));
    }

    #[test]
    fn failures_expired_tokens_and_newer_versions_are_errors() {
        assert!(
            parse(r#"{"version":1,"success":false,"code":"401","message":"no"}"#)
                .expect_err("must fail")
                .contains("401: no")
        );
        assert!(parse(r#"{"version":1,"success":true,"id_token":"a.b.c","expiration_time":1}"#).is_err());
        assert!(parse(r#"{"version":2,"success":true,"id_token":"a.b.c"}"#).is_err());
    }

    #[test]
    fn text_is_trimmed_and_json_fields_are_found() {
        let origin = Origin::file("t", "test");
        assert_eq!(extract(&origin, " a.b.c\n".into(), &Format::Text).ok(), Some("a.b.c".into()));
        let json = r#"{"access_token":"x.y.z"}"#.to_owned();
        assert_eq!(extract(&origin, json, &Format::Json("access_token".into())).ok(), Some("x.y.z".into()));
        assert!(extract(&origin, "\n".into(), &Format::Text).is_err());
        assert!(check_shape(&origin, "urn:ietf:params:oauth:token-type:jwt", "not-a-jwt").is_err());
        assert!(check_shape(&origin, "urn:ietf:params:oauth:token-type:saml2", "not-a-jwt").is_ok());
    }
}
