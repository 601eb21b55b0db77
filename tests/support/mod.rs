//! Helpers shared by the integration tests.
// Each test crate uses only part of the support code.
#![allow(dead_code)]

pub mod agent;
pub mod apiserver;
pub mod clients;
pub mod emulator;
pub mod running;
