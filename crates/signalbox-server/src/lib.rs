//! The `signalbox` binary's library: configuration loading, the command-line tools, and the service.

pub mod cli;
pub mod policies;
pub mod settings;
