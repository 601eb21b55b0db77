//! The CLI's disk cache: repeated `print-*` and `exec-credential` calls touch no network
//! while a cached token has comfortable life left.
//!
//! One file per key under `$XDG_CACHE_HOME/gcp-token-agent/`, mode 0600, replaced atomically.
//! The key hashes everything that decides which principal a token belongs to (the credential
//! file's bytes, scopes, audience, subject, cluster), so no entry can answer for another.

use std::{
    fs,
    io::{self, ErrorKind, Write as _},
    os::{
        fd::OwnedFd,
        unix::fs::{DirBuilderExt, MetadataExt},
    },
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};

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

    /// A cached token for `key` with at least `min_remaining` left, if there is one we trust
    /// ([`parse_entry`]). A corrupt entry or one not written by us is reported and ignored (a
    /// store replaces it).
    pub(crate) fn load(&self, key: &str, min_remaining: Duration) -> Option<Token> {
        let name = format!("{key}.json");
        let bytes = match open_dir(&self.dir).and_then(|dir| read_entry(&dir, &name)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!("ignoring cache file {}: {e}", self.path(key).display());
                return None;
            }
        };
        match parse_entry(&bytes, key, SystemTime::now()) {
            Ok(Some(token)) => (token.remaining(SystemTime::now()) >= min_remaining).then_some(token),
            Ok(None) => None,
            Err(why) => {
                tracing::warn!(
                    "ignoring cache file {}: {why}; it will be replaced",
                    self.path(key).display()
                );
                None
            }
        }
    }

    /// Stores `token` under `key`, atomically, readable by us alone: the directory is opened
    /// once and checked, and the entry is written and renamed relative to that open
    /// directory, so swapping the directory for a symlink midway changes nothing.
    pub(crate) fn store(&self, key: &str, token: &Token) -> io::Result<()> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let dir = open_dir(&self.dir)?;
        let entry =
            Entry { format: FORMAT, key, token: token.value.expose(), expires_at: token.expires_at_unix() };
        let bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        write_entry(&dir, &format!("{key}.json"), &bytes)
    }
}

/// The token an entry's bytes hold for `key` at `now`: `Ok(None)` for an entry of another
/// format or key (renamed, or from another version), an error for a corrupt one. The token
/// passes the checks a fresh answer passes: visible characters, not expired, its expiry
/// capped at the longest lifetime Google issues (a far-future `expires_at` is not trusted).
pub(crate) fn parse_entry(bytes: &[u8], key: &str, now: SystemTime) -> Result<Option<Token>, String> {
    let entry = serde_json::from_slice::<Entry<'_>>(bytes).map_err(|_| "it is corrupt".to_owned())?;
    if entry.format != FORMAT || entry.key != key {
        return Ok(None);
    }
    let expires_at = UNIX_EPOCH
        .checked_add(Duration::from_secs(entry.expires_at))
        .ok_or("its expiry is beyond what can be represented")?;
    // An expired entry is an ordinary miss, not a problem to report.
    if expires_at.duration_since(now).unwrap_or_default() < crate::token::MIN_LIFETIME {
        return Ok(None);
    }
    Token::from_upstream(Secret::new(entry.token), now, expires_at).map(Some)
}

/// The cache directory, opened without following a symlink and checked on the open
/// descriptor (`fstat`): a real directory of ours that others cannot write into.
fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let dir = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| match e {
        // O_NOFOLLOW on a symlink: ELOOP; O_DIRECTORY on something else: ENOTDIR.
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
            io::Error::other(format!("{} is not a directory (a symlink is not followed)", path.display()))
        }
        e => io::Error::from(e),
    })?;
    let stat = rustix::fs::fstat(&dir)?;
    owned_by_us(stat.st_uid)?;
    if stat.st_mode & 0o022 != 0 {
        let why = format!("{} is writable by others (mode {:o})", path.display(), stat.st_mode & 0o777);
        return Err(io::Error::other(why));
    }
    Ok(dir)
}

/// Reads entry `name` in `dir` only if it is a regular file of ours that nobody else can read
/// or write; a symlink is not followed, and the checks are on the opened file itself.
fn read_entry(dir: &OwnedFd, name: &str) -> io::Result<Vec<u8>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = fs::File::from(rustix::fs::openat(dir, name, flags, Mode::empty())?);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("is not a regular file"));
    }
    owned_by_us(meta.uid())?;
    if meta.mode() & 0o077 != 0 {
        let mode = meta.mode() & 0o777;
        return Err(io::Error::other(format!("mode {mode:o} lets others read or write it")));
    }
    crate::input::read_to_end_capped(file, crate::input::MAX_FILE)
}

/// A temp file beside the entry, written and renamed over it, all relative to `dir`.
fn write_entry(dir: &OwnedFd, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temp = format!(".{name}.{}.{:016x}.tmp", std::process::id(), fastrand::u64(..));
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let written = rustix::fs::openat(dir, temp.as_str(), flags, Mode::from_raw_mode(0o600))
        .map_err(io::Error::from)
        .and_then(|fd| {
            // The create mode passes through the umask; set it so every entry is 0600.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))?;
            fs::File::from(fd).write_all(bytes)
        })
        .and_then(|()| Ok(rustix::fs::renameat(dir, temp.as_str(), dir, name)?));
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), rustix::fs::AtFlags::empty());
    }
    written
}

/// Files this process creates are owned by its effective uid, so that is the owner to expect.
fn owned_by_us(owner: u32) -> io::Result<()> {
    let uid = rustix::process::geteuid().as_raw();
    if owner == uid {
        return Ok(());
    }
    Err(io::Error::other(format!("owned by uid {owner}, not by this user (uid {uid})")))
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
    fn an_empty_token_is_refused_and_a_far_future_expiry_is_capped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = TokenCache::new(dir.path().join("c"));
        let key = TokenCache::key(&["k"]);
        let write = |token: &str, expires_at: u64| {
            let entry = Entry { format: FORMAT, key: &key, token, expires_at };
            let stored = Token::new(Secret::new("x"), SystemTime::now(), Duration::from_secs(60));
            cache.store(&key, &stored).expect("store");
            fs::write(cache.path(&key), serde_json::to_vec(&entry).expect("json")).expect("write");
        };
        let far = crate::token::unix_seconds(SystemTime::now()) + 10 * 365 * 86_400;
        write("", far);
        assert!(cache.load(&key, Duration::ZERO).is_none(), "an empty token");
        write("ya29 with space", far);
        assert!(cache.load(&key, Duration::ZERO).is_none(), "whitespace");
        write("ya29.ok", far);
        let token = cache.load(&key, Duration::ZERO).expect("loads");
        assert!(token.remaining(SystemTime::now()) <= crate::token::MAX_LIFETIME, "capped");
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
