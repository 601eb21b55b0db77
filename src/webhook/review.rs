//! The AdmissionReview envelope, read into a typed struct that keeps the object as raw JSON
//! (borrowed from the body) until it is needed, and written as plain JSON: the object stays
//! exactly as the API server sent it, and the patch goes out in the documented form (a base64
//! string), not as an array of numbers.

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};

/// What the webhook needs of `request`; the object stays unparsed text.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// `admission.k8s.io/v1` (echoed back, as the API server requires).
    pub(crate) api_version: String,
    pub(crate) uid: String,
    /// `request.kind.kind`.
    pub(crate) kind: String,
    pub(crate) namespace: Option<String>,
    /// The object as received, when it is a JSON object.
    pub(crate) object: Option<&'a RawValue>,
}

/// The envelope as sent; anything else in it is skipped without being kept.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(borrow, default)]
    request: Option<Fields<'a>>,
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Kind {
    #[serde(default)]
    kind: Option<String>,
}

impl<'a> Request<'a> {
    /// Reads the envelope; the message says what is missing.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, String> {
        let review: Envelope<'a> =
            serde_json::from_slice(body).map_err(|e| format!("the body is not an AdmissionReview: {e}"))?;
        let api_version = review.api_version.unwrap_or_default();
        if review.kind.as_deref() != Some("AdmissionReview") || !api_version.starts_with("admission.k8s.io/")
        {
            return Err("the body is not an admission.k8s.io AdmissionReview".to_owned());
        }
        let request = review.request.ok_or("the AdmissionReview carries no request")?;
        let uid = request.uid.filter(|u| !u.is_empty()).ok_or("the request has no uid")?;
        Ok(Self {
            api_version,
            uid,
            kind: request.kind.and_then(|k| k.kind).unwrap_or_default(),
            namespace: request.namespace.filter(|n| !n.is_empty()),
            object: request.object.filter(|o| o.get().starts_with('{')),
        })
    }
}

/// The object, parsed: only once the envelope says it is a pod to review.
pub(crate) fn parse_object(raw: &RawValue) -> Result<Value, String> {
    serde_json::from_str(raw.get()).map_err(|e| format!("the object is not valid JSON: {e}"))
}

/// The answer to one review.
pub(crate) enum Answer {
    /// Admitted, with operations to apply (none: unchanged) and warnings.
    Allow { patch: Vec<Value>, warnings: Vec<String> },
    /// Refused with an HTTP-like status code and a message for the user.
    Deny { code: u16, message: String },
}

impl Answer {
    /// The AdmissionReview that carries this answer for `uid`.
    pub(crate) fn review(self, api_version: &str, uid: &str) -> Value {
        let response = match self {
            Answer::Allow { patch, warnings } => {
                let mut response = serde_json::Map::new();
                response.insert("uid".to_owned(), json!(uid));
                response.insert("allowed".to_owned(), json!(true));
                if !patch.is_empty() {
                    let bytes = serde_json::to_vec(&patch).unwrap_or_default();
                    response.insert("patchType".to_owned(), json!("JSONPatch"));
                    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                    response.insert("patch".to_owned(), json!(encoded));
                }
                if !warnings.is_empty() {
                    response.insert("warnings".to_owned(), json!(warnings));
                }
                Value::Object(response)
            }
            Answer::Deny { code, message } => json!({
                "uid": uid,
                "allowed": false,
                "status": {"code": code, "message": message, "status": "Failure"},
            }),
        };
        let api_version = if api_version.is_empty() { "admission.k8s.io/v1" } else { api_version };
        json!({"apiVersion": api_version, "kind": "AdmissionReview", "response": response})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_read_without_touching_the_object() {
        let body = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",
            "kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"ns",
            "object":{"spec":{"containers":[{"name":"a","restartPolicyRules":[{"x":1}]}]}}}}"#;
        let request = Request::parse(body.as_bytes()).expect("parses");
        assert_eq!((request.uid.as_str(), request.kind.as_str()), ("u1", "Pod"));
        let object = parse_object(request.object.expect("object")).expect("json");
        assert_eq!(object["spec"]["containers"][0]["restartPolicyRules"][0]["x"], 1);
        for bad in ["{", "{}", r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#] {
            assert!(Request::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_patch_is_a_base64_string() {
        let patch = vec![json!({"op": "add", "path": "/x", "value": 1})];
        let review = Answer::Allow { patch, warnings: vec![] }.review("admission.k8s.io/v1", "u");
        let encoded = review["response"]["patch"].as_str().expect("a string");
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
        assert_eq!(serde_json::from_slice::<Value>(&decoded).expect("json")[0]["path"], "/x");
        assert_eq!(review["response"]["patchType"], "JSONPatch");
    }
}
