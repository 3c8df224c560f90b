//! The plugin chain: `plugins.toml` ([`manifest`]), the sandbox that runs components
//! ([`runtime`]), per-plugin key-value state ([`state`]), the circuit breaker ([`breaker`]), and
//! the files a plugin is built from ([`files`]: component and assets), and
//! the chain that turns plugin verdicts into one [`Decision`] ([`chain`]), with per-plugin
//! call latency ([`latency`]); hot reload builds and swaps whole chains ([`reload`]) when the
//! files change ([`watch`]) or a fleet's published chain does ([`fleet`]).

pub mod breaker;
pub mod chain;
pub mod decision;
pub mod files;
pub mod fleet;
pub mod latency;
pub mod manifest;
pub mod reload;
pub mod runtime;
pub mod state;
pub mod watch;

pub use chain::{Chain, ChainContext, LoadError, Message};
pub use decision::{Action, Decision, PluginRun, Reason, Rejection, RunOutcome};
pub use manifest::{Manifest, ManifestError};
pub use runtime::{ContractError, EngineOptions, PluginEngine, PluginFailure};
pub use state::{MemoryState, PluginState, StateError, StateOp, StateOutcome};
