//! How a plugin call can fail, classified from wasmtime's errors.

use wasmtime::Trap;

/// A plugin failed to answer. The store it ran in is discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    /// The epoch deadline passed.
    #[error("timed out after {deadline_ms} ms")]
    Timeout {
        /// The deadline that passed.
        deadline_ms: u64,
    },
    /// Linear memory growth beyond the plugin's cap.
    #[error("exceeded its memory cap of {limit_mb} MiB")]
    MemoryLimit {
        /// The cap.
        limit_mb: u64,
    },
    /// Wasm stack exhausted (deep recursion).
    #[error("stack overflow")]
    StackOverflow,
    /// Any other trap (panic, unreachable, out-of-bounds access...).
    #[error("trapped: {0}")]
    Trap(String),
    /// `init` returned an error: the plugin's own message.
    #[error("init refused the config: {0}")]
    Init(String),
    /// The host could not create an instance (for example, the instance pool is exhausted).
    #[error("could not instantiate: {0}")]
    Instantiate(String),
    /// The plugin answered with something the host does not accept (e.g. an oversized rewrite).
    #[error("invalid answer: {0}")]
    InvalidVerdict(String),
}

impl PluginFailure {
    /// Stable short name: `timeout`, `memory_limit`, `stack_overflow`, `trap`, `init`,
    /// `instantiate`, `invalid_verdict`.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginFailure::Timeout { .. } => "timeout",
            PluginFailure::MemoryLimit { .. } => "memory_limit",
            PluginFailure::StackOverflow => "stack_overflow",
            PluginFailure::Trap(_) => "trap",
            PluginFailure::Init(_) => "init",
            PluginFailure::Instantiate(_) => "instantiate",
            PluginFailure::InvalidVerdict(_) => "invalid_verdict",
        }
    }

    /// Classify an error from a wasm call.
    pub(super) fn classify(
        err: &wasmtime::Error,
        memory_hit: bool,
        deadline_ms: u64,
        limit_mb: u64,
    ) -> Self {
        if memory_hit {
            return PluginFailure::MemoryLimit { limit_mb };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginFailure::Timeout { deadline_ms },
            Some(Trap::StackOverflow) => PluginFailure::StackOverflow,
            Some(trap) => PluginFailure::Trap(trap.to_string()),
            None => PluginFailure::Trap(format!("{err:#}")),
        }
    }
}
