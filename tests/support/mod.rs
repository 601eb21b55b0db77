//! Helpers shared by the integration tests.
// Each test crate uses only part of the support code.
#![allow(dead_code)]

pub mod emulator;
pub mod agent;
pub mod clients;
pub mod apiserver;
