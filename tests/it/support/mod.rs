//! Helpers shared by the integration tests.

pub mod agent;
pub mod apiserver;
pub mod clients;
pub mod git_http;
pub mod http;
pub mod oci;
pub mod podman;
pub mod registry;
/// The local Google emulator: its own crate (`emulator/`), compiled once for every test.
#[allow(unused_imports)] // not every test crate uses it
pub use gcp_token_agent_emulator as emulator;
pub mod running;
pub mod tls_front;
