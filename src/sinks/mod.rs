//! Where tokens go: files (atomic), the CLI's disk cache, and exec-credential output.

pub(crate) mod atomic;
pub(crate) mod exec_credential;
pub(crate) mod files;
pub(crate) mod token_cache;
