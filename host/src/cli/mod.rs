//! Subcommands of the `chowk` binary.

pub mod eval;
pub mod init;
pub mod plugin;
pub mod rooms;
pub mod scaffold;
pub mod serve;
pub mod token;
pub mod train;
