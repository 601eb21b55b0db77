//! Strict reading of IAM Credentials JSON bodies, with the error texts of
//! Google's JSON-to-protobuf front end.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::server::ApiError;
use super::token::parse_scopes;

type Outcome<T> = Result<T, ApiError>;

const DELEGATE_PREFIX: &str = "projects/-/serviceAccounts/";
const OVER_ONE_HOUR: &str = "can not have lifetimes of more than 1 hour. Use the Org Policy Constraint \
    constraints/iam.allowServiceAccountCredentialLifetimeExtension to allow up to 12 hours.";

/// A request body that is a JSON object with only known fields.
pub struct Body(Map<String, Value>);

impl Body {
    /// Checks the content type, parses, and rejects fields not in `allowed`.
    pub fn parse(parts: &Parts, bytes: &[u8], allowed: &[&str]) -> Outcome<Self> {
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let media_type = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
        let parsed = match media_type.eq_ignore_ascii_case("application/json") {
            true => serde_json::from_slice::<Value>(bytes).ok(),
            false => None,
        };
        let Some(Value::Object(map)) = parsed else {
            return Err(invalid("Invalid JSON payload received. Unexpected token."));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(&format!(
                "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
            )));
        }
        Ok(Body(map))
    }

    /// Emails of `delegates`, each sent as `projects/-/serviceAccounts/EMAIL`.
    pub fn delegates(&self) -> Outcome<Vec<String>> {
        let items = match self.0.get("delegates") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(invalid(&format!("Invalid value at 'delegates' (TYPE_STRING), {other}")));
            }
        };
        let email = |item: &Value| {
            let text = item.as_str().unwrap_or_default();
            let email = text.strip_prefix(DELEGATE_PREFIX).filter(|e| !e.is_empty() && !e.contains('/'));
            email.map(str::to_string).ok_or_else(|| {
                invalid(&format!("Invalid form of delegates: {item}; expected {DELEGATE_PREFIX}{{ACCOUNT_EMAIL_OR_UNIQUEID}}"))
            })
        };
        items.iter().map(email).collect()
    }

    /// `scope`: a non-empty array of OAuth scope URLs.
    pub fn scopes(&self) -> Outcome<Vec<String>> {
        let items = self.0.get("scope").and_then(Value::as_array).filter(|a| !a.is_empty());
        let items = items.ok_or_else(|| invalid("At least one scope must be specified."))?;
        let one = |item: &Value| {
            let scope = item.as_str().and_then(parse_scopes).filter(|s| s.len() == 1);
            scope.and_then(|mut s| s.pop()).ok_or_else(|| invalid(&format!("Invalid scope: {item}")))
        };
        items.iter().map(one).collect()
    }

    /// `lifetime`, a protobuf Duration such as "3600s", at most `max_secs`.
    pub fn lifetime(&self, max_secs: u64) -> Outcome<Option<Duration>> {
        let raw = match self.0.get("lifetime") {
            None | Some(Value::Null) => return Ok(None),
            Some(raw) => raw,
        };
        let bad = || {
            invalid(&format!(
                "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), {raw}"
            ))
        };
        let secs = raw.as_str().and_then(|s| s.strip_suffix('s')).and_then(parse_seconds).ok_or_else(bad)?;
        if secs.is_zero() {
            return Err(invalid("Lifetime of access token must be larger then zero."));
        }
        if secs > Duration::from_secs(max_secs) {
            let msg =
                if max_secs > 3600 { "can not have lifetimes of more than 12 hours." } else { OVER_ONE_HOUR };
            return Err(invalid(msg));
        }
        Ok(Some(secs))
    }

    /// `audience`: required, non-empty.
    pub fn audience(&self) -> Outcome<String> {
        let audience = self.0.get("audience").and_then(Value::as_str).filter(|a| !a.is_empty());
        audience.map(str::to_string).ok_or_else(|| invalid("Invalid value for audience: must be non-empty."))
    }

    /// `includeEmail`: a bool, or the strings "true"/"false" Python may send.
    pub fn include_email(&self) -> Outcome<bool> {
        match self.0.get("includeEmail") {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" => Ok(true),
            Some(Value::String(s)) if s == "false" => Ok(false),
            Some(other) => Err(invalid(&format!("Invalid value at 'include_email' (TYPE_BOOL), {other}"))),
        }
    }
}

/// "N" or "N.FFF" seconds, as protobuf's JSON form writes a Duration.
fn parse_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
        return None;
    }
    let nanos = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    Some(Duration::new(whole.parse().ok()?, nanos))
}

/// RFC 3339 UTC, whole seconds or (Google sends both) with microseconds.
pub fn rfc3339(at: SystemTime, fractional: bool) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let whole = jiff::Timestamp::from_second(seconds).map(|t| t.to_string()).unwrap_or_default();
    match (fractional, whole.strip_suffix('Z')) {
        (true, Some(base)) => format!("{base}.{:06}Z", since.subsec_micros()),
        _ => whole,
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::new(400, "INVALID_ARGUMENT", message)
}
