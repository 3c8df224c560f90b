//! Subcommands of the `chowk` binary.

pub mod eval;
pub mod plugin;
pub mod serve;
pub mod token;
