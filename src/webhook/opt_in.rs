//! The annotation opt-in (`--opt-in pod-annotation`): no selector of the webhook configuration
//! can match an annotation, so the API server sends every pod in scope, and a pod that did not
//! opt in must come back untouched before anything that could deny it or fail the call
//! (the parse budget, the ServiceAccount lookup, the annotation checks).
//!
//! So the check reads only `metadata.annotations[KEY]` off the raw object, in one pass that
//! skips everything else and allocates nothing: what it costs does not depend on the pod.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::config::OptIn;

/// Whether the raw pod carries the opt-in annotation with its value. Anything unreadable (no
/// object, metadata that is not an object, a value that is not a string) has not opted in.
pub(crate) fn opted_in(object: Option<&RawValue>, opt_in: &OptIn) -> bool {
    let Some(object) = object else { return false };
    let walk = Walk { path: &["metadata", "annotations"], key: &opt_in.key, value: &opt_in.value };
    walk.deserialize(&mut serde_json::Deserializer::from_str(object.get())).unwrap_or(false)
}

/// Follows `path` down nested objects, then looks for `key` with the string `value`.
#[derive(Clone, Copy)]
struct Walk<'k> {
    path: &'k [&'k str],
    key: &'k str,
    value: &'k str,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let (wanted, rest) = match self.path.split_first() {
            Some((first, rest)) => (*first, Some(rest)),
            None => (self.key, None),
        };
        let mut found = false;
        while let Some(is_wanted) = map.next_key_seed(Equals(wanted))? {
            found |= match (is_wanted, rest) {
                (false, _) => map.next_value::<IgnoredAny>().map(|_| false)?,
                (true, Some(rest)) => map.next_value_seed(Walk { path: rest, ..self })?,
                (true, None) => map.next_value_seed(Equals(self.value))?,
            };
        }
        Ok(found)
    }
}

/// A string, compared with `.0` as it is read (escaped or not) and never kept.
struct Equals<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for Equals<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Equals<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<bool, E> {
        Ok(text == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OptInStyle;

    fn check(object: &str) -> bool {
        let raw: Box<RawValue> = serde_json::from_str(object).expect("json");
        let opt_in = OptIn {
            style: OptInStyle::PodAnnotation,
            key: "example.com/gcp".to_owned(),
            value: "yes".to_owned(),
        };
        opted_in(Some(&raw), &opt_in)
    }

    #[test]
    fn only_the_annotation_with_its_value_opts_in() {
        assert!(check(r#"{"metadata":{"annotations":{"a":"b","example.com/gcp":"yes"}},"spec":{}}"#));
        assert!(check(
            r#"{"spec":{"x":[1,{"y":null}]},"metadata":{"annotations":{"example.com\/gcp":"y\u0065s"}}}"#
        ));
        for not in [
            r#"{"metadata":{"annotations":{"example.com/gcp":"no"}}}"#,
            r#"{"metadata":{"labels":{"example.com/gcp":"yes"}}}"#,
            r#"{"annotations":{"example.com/gcp":"yes"}}"#,
            r#"{"metadata":{"annotations":{"example.com/gcp":true}}}"#,
            r#"{"metadata":"annotations"}"#,
            r#"{"metadata":{"annotations":null}}"#,
            r#"{}"#,
        ] {
            assert!(!check(not), "{not}");
        }
        let opt_in = OptIn { style: OptInStyle::PodAnnotation, ..OptIn::default() };
        assert!(!opted_in(None, &opt_in));
    }
}
