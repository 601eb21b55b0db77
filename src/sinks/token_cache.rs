//! The CLI's disk cache: repeated `print-*` and `exec-credential` calls touch no network
//! while a cached token has comfortable life left.
//!
//! One file per key under `$XDG_CACHE_HOME/gcp-token-agent/`, mode 0600, replaced atomically.
//! The key hashes everything that decides which principal a token belongs to (the credential
//! file's bytes, scopes, audience, subject, cluster), so no entry can answer for another.

use std::{
    fs,
    io::{self, ErrorKind},
    os::unix::fs::{DirBuilderExt, MetadataExt},
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use super::atomic;
use crate::{credentials::Env, digest::sha256_hex, secret::Secret, token::Token};

/// Bump when the entry format or key derivation changes.
const FORMAT: u32 = 1;

/// A directory of cached tokens.
#[derive(Debug, Clone)]
pub(crate) struct TokenCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    format: u32,
    key: &'a str,
    token: &'a str,
    expires_at: u64,
}

impl TokenCache {
    /// A cache in `dir` (created on first store).
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// `$XDG_CACHE_HOME/gcp-token-agent`, else `$HOME/.cache/gcp-token-agent`.
    pub(crate) fn default_dir(env: &Env) -> Option<PathBuf> {
        let base = env.xdg_cache_home.clone().or_else(|| env.home.as_ref().map(|h| h.join(".cache")))?;
        Some(base.join("gcp-token-agent"))
    }

    /// The cache key for these parts (already free of secrets or not: it is a hash).
    pub(crate) fn key(parts: &[&str]) -> String {
        let mut joined = format!("v{FORMAT}");
        for part in parts {
            joined.push('\0');
            joined.push_str(part);
        }
        sha256_hex(joined.as_bytes())
    }

    /// The path of the entry for `key`.
    pub(crate) fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// A cached token for `key` with at least `min_remaining` left, if there is one we trust.
    /// A corrupt entry or one not written by us is reported and ignored (a store replaces it).
    pub(crate) fn load(&self, key: &str, min_remaining: Duration) -> Option<Token> {
        let path = self.path(key);
        let bytes = match read_trusted(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!("ignoring cache file {}: {e}", path.display());
                return None;
            }
        };
        let Ok(entry) = serde_json::from_slice::<Entry<'_>>(&bytes) else {
            tracing::warn!("ignoring corrupt cache file {}; it will be replaced", path.display());
            return None;
        };
        if entry.format != FORMAT || entry.key != key {
            return None;
        }
        let expires_at = UNIX_EPOCH.checked_add(Duration::from_secs(entry.expires_at))?;
        let token = Token { value: Secret::new(entry.token), expires_at };
        (token.remaining(SystemTime::now()) >= min_remaining).then_some(token)
    }

    /// Stores `token` under `key`, atomically, readable by us alone.
    pub(crate) fn store(&self, key: &str, token: &Token) -> io::Result<()> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        trusted_dir(&self.dir)?;
        let entry =
            Entry { format: FORMAT, key, token: token.value.expose(), expires_at: token.expires_at_unix() };
        let bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        atomic::write(&self.path(key), &bytes, 0o600, false)
    }
}

/// Reads an entry only if it is a regular file of ours, in a directory of ours, that nobody
/// else can read or write. Neither is followed through a symlink; the file's owner and mode
/// are checked on the opened file itself, so a swap between check and read is impossible.
fn read_trusted(path: &Path) -> io::Result<Vec<u8>> {
    if let Some(dir) = path.parent() {
        trusted_dir(dir)?;
    }
    crate::input::read_file_nofollow(path, |meta| {
        owned_by_us(meta)?;
        if meta.mode() & 0o077 != 0 {
            let mode = meta.mode() & 0o777;
            return Err(io::Error::other(format!("mode {mode:o} lets others read or write it")));
        }
        Ok(())
    })
}

/// The cache directory must be a real directory of ours that others cannot write into.
fn trusted_dir(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if !meta.file_type().is_dir() {
        let why = format!("{} is not a directory (a symlink is not followed)", dir.display());
        return Err(io::Error::other(why));
    }
    owned_by_us(&meta)?;
    if meta.mode() & 0o022 != 0 {
        let why = format!("{} is writable by others (mode {:o})", dir.display(), meta.mode() & 0o777);
        return Err(io::Error::other(why));
    }
    Ok(())
}

/// Files this process creates are owned by its effective uid, so that is the owner to expect.
fn owned_by_us(meta: &fs::Metadata) -> io::Result<()> {
    let uid = rustix::process::geteuid().as_raw();
    if meta.uid() == uid {
        return Ok(());
    }
    Err(io::Error::other(format!("owned by uid {}, not by this user (uid {uid})", meta.uid())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn token(lifetime: u64) -> Token {
        Token::new(Secret::new("ya29.cached"), SystemTime::now(), Duration::from_secs(lifetime))
    }

    #[test]
    fn a_stored_token_is_loaded_while_it_has_enough_life() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = TokenCache::new(dir.path().join("c"));
        let key = TokenCache::key(&["access", "fp", "scope"]);
        cache.store(&key, &token(3600)).expect("store");
        let loaded = cache.load(&key, Duration::from_secs(300)).expect("hit");
        assert_eq!(loaded.value.expose(), "ya29.cached");
        assert!(cache.load(&key, Duration::from_secs(7200)).is_none(), "not enough life left");
        let mode = fs::metadata(cache.path(&key)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn different_parts_give_different_keys() {
        assert_ne!(TokenCache::key(&["a", "bc"]), TokenCache::key(&["ab", "c"]));
    }

    #[test]
    fn corrupt_or_group_readable_entries_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = TokenCache::new(dir.path().to_path_buf());
        let key = TokenCache::key(&["k"]);
        fs::write(cache.path(&key), b"{not json").expect("write");
        fs::set_permissions(cache.path(&key), fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(cache.load(&key, Duration::ZERO).is_none());
        cache.store(&key, &token(3600)).expect("store replaces it");
        fs::set_permissions(cache.path(&key), fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(cache.load(&key, Duration::ZERO).is_none());
    }

    #[test]
    fn an_entry_renamed_to_another_key_is_not_trusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = TokenCache::new(dir.path().to_path_buf());
        let (a, b) = (TokenCache::key(&["a"]), TokenCache::key(&["b"]));
        cache.store(&a, &token(3600)).expect("store");
        fs::rename(cache.path(&a), cache.path(&b)).expect("rename");
        assert!(cache.load(&b, Duration::ZERO).is_none());
    }

    #[test]
    fn a_symlinked_entry_or_cache_directory_is_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = TokenCache::new(dir.path().join("real"));
        let key = TokenCache::key(&["k"]);
        cache.store(&key, &token(3600)).expect("store");
        let elsewhere = TokenCache::new(dir.path().join("other"));
        fs::create_dir(dir.path().join("other")).expect("mkdir");
        fs::set_permissions(dir.path().join("other"), fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::symlink(cache.path(&key), elsewhere.path(&key)).expect("symlink");
        assert!(elsewhere.load(&key, Duration::ZERO).is_none(), "a symlinked entry");
        let linked_dir = TokenCache::new(dir.path().join("link"));
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).expect("symlink");
        assert!(linked_dir.load(&key, Duration::ZERO).is_none(), "a symlinked directory");
        assert!(cache.load(&key, Duration::ZERO).is_some(), "the real entry still loads");
    }
}
