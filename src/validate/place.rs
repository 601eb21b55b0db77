//! Where an instance says it runs: regions, zones, and the names and attributes the metadata
//! API reports.

/// A Compute Engine region: lowercase words joined by hyphens, ending in a digit
/// (`us-central1`, `northamerica-northeast1`).
pub(crate) fn region(text: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.ends_with(|c: char| c.is_ascii_digit())
        && text.contains('-')
        && !text.contains("--")
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok { Ok(()) } else { Err(format!("\"{text}\" is not a Compute Engine region such as us-central1")) }
}

/// A Compute Engine zone: a region, a hyphen and a lowercase suffix (`us-central1-a`,
/// `us-south1-ai1b`). Zones enter only where a person types one (`run --zone`, `webhook
/// --zone`, the `gcp-token-agent.io/zone` annotation), so there is one way in, strict; the
/// caller names the flag or annotation in its exit-64 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Zone(String);

impl Zone {
    /// Checks a zone name.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("\"{text}\" is not a Compute Engine zone such as us-central1-a");
        let (region_part, suffix) = text.rsplit_once('-').ok_or_else(bad)?;
        let suffix_ok = (1..=8).contains(&suffix.len())
            && suffix.starts_with(|c: char| c.is_ascii_lowercase())
            && suffix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if suffix_ok && region(region_part).is_ok() { Ok(Self(text.to_owned())) } else { Err(bad()) }
    }

    /// Its region, as gcloud derives it: everything before the last hyphen.
    pub(crate) fn region(&self) -> &str {
        self.0.rsplit_once('-').map_or("", |(region, _)| region)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A name the metadata API reports (an instance, a cluster, its location or uid): 1 to 253
/// visible ASCII characters, none of them `/` (it would read as a path), whitespace or a
/// control character. Lenient on purpose: Kubernetes and other platforms name things their way.
pub(crate) fn metadata_name(text: &str) -> Result<(), String> {
    let ok = (1..=253).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    if ok {
        Ok(())
    } else {
        Err(format!("\"{}\" must be 1 to 253 visible ASCII characters without \"/\"", text.escape_debug()))
    }
}

/// A numeric instance id: Compute Engine ids are unsigned 64-bit numbers.
pub(crate) fn instance_id(text: &str) -> Result<u64, String> {
    let digits = !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse::<u64>().ok()).flatten().ok_or_else(|| {
        format!("\"{}\" is not a numeric instance id (an unsigned 64-bit number)", text.escape_debug())
    })
}

/// A host name: dot-separated labels of ASCII letters, digits, `-` and `_`, at most 253
/// characters (`vm-1.us-central1-a.c.my-project.internal`, a pod's name).
pub(crate) fn hostname(text: &str) -> Result<(), String> {
    let ok = (1..=253).contains(&text.len())
        && text.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok { Ok(()) } else { Err(format!("\"{}\" is not a host name", text.escape_debug())) }
}

/// Longest instance attribute value Compute Engine stores.
const MAX_ATTRIBUTE_VALUE: usize = 256 * 1024;

/// An instance attribute `KEY=VALUE`: keys as Compute Engine allows them (1 to 128 letters,
/// digits, `-` and `_`), values up to 256 KiB with no control characters but tab and newline.
pub(crate) fn attribute(pair: &str) -> Result<(String, String), String> {
    let (key, value) = pair.split_once('=').ok_or_else(|| {
        format!("\"{}\" is not KEY=VALUE", pair.chars().take(64).collect::<String>().escape_debug())
    })?;
    let key_ok = (1..=128).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !key_ok {
        return Err(format!(
            "key \"{}\" must be 1 to 128 letters, digits, '-' or '_'",
            key.chars().take(64).collect::<String>().escape_debug()
        ));
    }
    if value.len() > MAX_ATTRIBUTE_VALUE {
        return Err(format!("the value of \"{key}\" is longer than 256 KiB"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t' && c != '\n') {
        return Err(format!(
            "the value of \"{key}\" has control characters (only tab and newline may appear)"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}
