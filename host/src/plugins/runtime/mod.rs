//! The sandbox: one wasmtime [`PluginEngine`] (pooling allocator, epoch interruption), the
//! contract check that refuses foreign components, the host side of the WIT imports, and a pool
//! of initialised instances per plugin ([`LoadedPlugin`]).

mod bindings;
mod contract;
mod engine;
mod failure;
mod limits;
mod pool;

pub use bindings::{wit, Assets};
pub use contract::{
    check_contract, ContractError, ContractInfo, CONTRACT, GUEST_EXPORTS, HOST_IMPORTS,
};
pub use engine::{ContentHash, EngineOptions, PluginEngine};
pub use failure::PluginFailure;
pub use pool::{LoadedPlugin, PluginLimits};
