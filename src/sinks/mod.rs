//! Where tokens go: files (atomic), the CLI's disk cache, and exec-credential output.

pub mod atomic;
pub mod exec_credential;
pub mod files;
pub mod token_cache;
