//! Hashing for fingerprints and cache keys. A leaf: credentials, sinks and the watcher all
//! use it, and it uses nothing of the crate.

use aws_lc_rs::digest;

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
