//! The plugin chain: `plugins.toml` ([`manifest`]), the sandbox that runs components
//! ([`runtime`]), per-plugin key-value state ([`state`]), the circuit breaker ([`breaker`]), and
//! the chain that turns plugin verdicts into one [`Decision`] ([`chain`]), with per-plugin
//! call latency ([`latency`]).

pub mod breaker;
pub mod chain;
pub mod decision;
pub mod latency;
pub mod manifest;
pub mod runtime;
pub mod state;

pub use chain::{Chain, ChainContext, LoadError, Message};
pub use decision::{Action, Decision, PluginRun, Reason, Rejection, RunOutcome};
pub use manifest::{Manifest, ManifestError};
pub use runtime::{ContractError, EngineOptions, PluginEngine, PluginFailure};
pub use state::{MemoryState, PluginState, StateError};
