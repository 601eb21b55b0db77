//! Strict decoding of the `application/x-www-form-urlencoded` bodies of the
//! token endpoint, STS and the consent form, and of the consent page's query.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};

use super::keys::RawJwt;
use super::server::OAuthError;
use super::state::Recorded;

/// Parsed form body; a map because repeated parameters are rejected.
pub type Form = BTreeMap<String, String>;

/// Checks the content type and decodes the form, recording what was sent
/// (including the decoded assertion or subject token) even if the request is
/// later faulted.
pub fn parse(headers: &HeaderMap, body: &[u8], rec: &mut Recorded) -> Result<Form, OAuthError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        let msg = format!("Invalid Content-Type: {content_type:?}; expected form encoding.");
        return Err(OAuthError::new(400, "invalid_request", msg));
    }
    let form = decode_form(body).map_err(|msg| OAuthError::new(400, "invalid_request", msg))?;
    rec.form = form.clone();
    let jwt = form.get("assertion").or_else(|| form.get("subject_token"));
    if let Some(jwt) = jwt.and_then(|a| RawJwt::split(a)) {
        rec.jwt_header = Some(jwt.header);
        rec.jwt_claims = Some(jwt.claims);
    }
    Ok(form)
}

/// Strict `application/x-www-form-urlencoded` decoding: bad escapes, non
/// UTF-8 and repeated parameters are rejected rather than guessed at.
pub fn decode_form(body: &[u8]) -> Result<Form, String> {
    let mut form = Form::new();
    let text = std::str::from_utf8(body).map_err(|_| "Body is not UTF-8.".to_string())?;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (unescape(name)?, unescape(value)?);
        if form.insert(name.clone(), value).is_some() {
            return Err(format!("Duplicate parameter: {name}"));
        }
    }
    Ok(form)
}

fn unescape(part: &str) -> Result<String, String> {
    let bad = || format!("Malformed form encoding: {part}");
    let mut out = Vec::with_capacity(part.len());
    let mut bytes = part.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hex = [bytes.next().ok_or_else(bad)?, bytes.next().ok_or_else(bad)?];
                let hex = std::str::from_utf8(&hex).map_err(|_| bad())?;
                u8::from_str_radix(hex, 16).map_err(|_| bad())?
            }
            other => other,
        });
    }
    String::from_utf8(out).map_err(|_| bad())
}
