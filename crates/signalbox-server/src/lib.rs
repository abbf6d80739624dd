//! The `signalbox` binary's library: configuration loading, the HTTP service,
//! and the command-line tools. The binary (`main.rs`) is a thin shell over it.

// Tests may unwrap: a panic there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod api;
pub mod auth;
pub mod chat;
pub mod cli;
pub mod client;
pub mod metrics;
pub mod notify;
pub mod policies;
pub mod runtime;
pub mod serve;
pub mod service;
pub mod settings;
pub mod slack;
