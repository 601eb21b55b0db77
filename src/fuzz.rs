//! Fuzz targets: one entry point per parser that reads input from outside the process. Each
//! feeds the bytes to the crate's real parser and ignores the outcome, because an error is a
//! correct answer to bad input; a panic, a hang or unbounded memory is a finding. A few
//! targets also assert a documented guarantee that no input may break.
//!
//! Compiled only for tests and with the `fuzzing` feature: `fuzz/` (cargo-fuzz, libFuzzer)
//! calls these, and under `cargo test` the module's tests replay each target's seed corpus
//! (`fuzz/corpus/<target>/`) plus deterministic mutations of it, on stable, as CI's smoke run.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

use crate::error::Origin;

mod credentials;
mod flags;
mod hardening;
mod helpers;
mod metadata;
#[cfg(test)]
mod tests;
mod upstream;

pub use credentials::{client_secrets, credentials_file, executable_response, subject_token};
pub use flags::{flag_values, run_config};
pub use hardening::{cache_entry, login_redirect, success_answer};
pub use helpers::{credential_helpers, exec_info};
pub use metadata::{metadata_host, metadata_request};
pub use upstream::{google_error, token_answer};

/// Where errors say the fuzzed input came from.
fn origin() -> Origin {
    Origin::file("fuzz-input.json", "fuzz")
}

/// An AdmissionReview body: the envelope, the pod's annotations and the mutation.
pub fn admission_review(data: &[u8]) {
    crate::webhook::fuzz_review(data);
}

/// A file holding fuzzed bytes, for parsers that take a path; removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(extension: &str, data: &[u8]) -> Option<Self> {
        // Unique per call: tests run targets on parallel threads of one process.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("gcp-token-agent-fuzz-{}-{n}.{extension}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, data).ok()?;
        Some(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
