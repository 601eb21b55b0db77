//! The integration tests: one binary with a module per surface, so `support` and the crate
//! link once. Tests that need a tool scripts/setup/install-test-deps.sh installs are
//! `#[ignore = "needs TOOL: ..."]`; scripts/test.sh runs them all with `--include-ignored`.

mod support;

mod bad_input;
mod completions;
mod docker_credential;
mod docs_blocks;
mod doctor;
mod exec_credential;
mod federation;
mod git_credential;
mod gke_plugin;
mod hostile_upstream;
mod image;
mod interop_emulator;
mod interop_federation;
mod interop_metadata;
mod listeners;
mod login;
mod metadata_api;
mod print;
mod release;
mod run;
mod stampede;
mod webhook;
