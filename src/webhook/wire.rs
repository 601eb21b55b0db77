//! Wiring one app or init container to the agent: the metadata variables, the token file
//! mount, and `127.0.0.1` in `NO_PROXY` when the container sets a proxy. Only what is
//! missing is added; a value the container already sets wins.

use serde_json::{Value, json};

use super::mutate::{TOKENS_VOLUME, add, append};

/// The proxy variables Google's libraries honour, and the exclusion list each case needs.
const PROXY_CASES: [([&str; 2], &str); 2] =
    [(["HTTP_PROXY", "HTTPS_PROXY"], "NO_PROXY"), (["http_proxy", "https_proxy"], "no_proxy")];
const LOOPBACK: &str = "127.0.0.1";

/// Adds to `patch` what `container` (at JSON pointer `base`) lacks.
pub(crate) fn container(
    container: &Value,
    base: &str,
    wanted: &[(&'static str, String)],
    output_path: &str,
    patch: &mut Vec<Value>,
) {
    let Some(object) = container.as_object() else { return };
    let env = object.get("env").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let has = |name: &str| env.iter().any(|e| e.get("name").and_then(Value::as_str) == Some(name));
    let mut missing: Vec<Value> = wanted
        .iter()
        .filter(|(name, _)| !has(name))
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    no_proxy(object, env, base, &mut missing, patch);
    append(patch, object, base, "env", missing);
    let mounts = object.get("volumeMounts").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    if !mounts.iter().any(|m| m.get("mountPath").and_then(Value::as_str) == Some(output_path)) {
        let mount = json!({"name": TOKENS_VOLUME, "mountPath": output_path, "readOnly": true});
        append(patch, object, base, "volumeMounts", [mount]);
    }
}

/// `127.0.0.1` in the container's `NO_PROXY`/`no_proxy` when it sets a proxy of that case, so
/// the agent's loopback API is never sent through the proxy. A list it is missing is seeded
/// from the other case's, so Go (upper case first) and Python or curl (lower case first) keep
/// excluding what the container excluded.
fn no_proxy(
    object: &serde_json::Map<String, Value>,
    env: &[Value],
    base: &str,
    missing: &mut Vec<Value>,
    patch: &mut Vec<Value>,
) {
    let from_sources = object.get("envFrom").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    for (proxies, name) in PROXY_CASES {
        // A proxy from `valueFrom` (a Secret holding credentials) counts as set.
        if !proxies.iter().any(|p| entry(env, p).is_some_and(|(_, e)| is_set(e))) {
            continue;
        }
        let other = if name == "NO_PROXY" { "no_proxy" } else { "NO_PROXY" };
        match entry(env, name) {
            // An `envFrom` source may set it; a literal here would override that whole list.
            None if from_sources => {}
            None => {
                let seed = value_of(env, other).unwrap_or_default();
                missing.push(json!({"name": name, "value": with_loopback(seed)}));
            }
            // A list from `valueFrom` cannot be seen here; docs/kubernetes.md says to add 127.0.0.1 there.
            Some((_, entry)) if entry.get("valueFrom").is_some() => {}
            Some((i, entry)) => {
                let list = entry.get("value").and_then(Value::as_str).unwrap_or_default();
                if !has_loopback(list) {
                    // `add` on an existing member replaces it (RFC 6902).
                    patch.push(add(&format!("{base}/env/{i}/value"), Value::String(with_loopback(list))));
                }
            }
        }
    }
}

fn entry<'a>(env: &'a [Value], name: &str) -> Option<(usize, &'a Value)> {
    env.iter().enumerate().find(|(_, e)| e.get("name").and_then(Value::as_str) == Some(name))
}

fn is_set(entry: &Value) -> bool {
    entry.get("valueFrom").is_some()
        || entry.get("value").and_then(Value::as_str).is_some_and(|v| !v.is_empty())
}

fn has_loopback(list: &str) -> bool {
    list.split(',').any(|host| host.trim() == LOOPBACK)
}

fn with_loopback(list: &str) -> String {
    match list.trim() {
        "" => LOOPBACK.to_owned(),
        list if has_loopback(list) => list.to_owned(),
        list => format!("{list},{LOOPBACK}"),
    }
}

/// The literal value of variable `name`; `None` when unset or set through `valueFrom`.
fn value_of<'a>(env: &'a [Value], name: &str) -> Option<&'a str> {
    entry(env, name).and_then(|(_, e)| e.get("value")).and_then(Value::as_str)
}
