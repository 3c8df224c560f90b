//! The host's imports as a plugin uses them: private key-value state, logging and the clock.

use std::fmt;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Very fine detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// The host could not read or write plugin state (for example, its store is unreachable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError(pub String);

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin state unavailable: {}", self.0)
    }
}

impl std::error::Error for StateError {}

/// One operation of a state batch ([`Host::batch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Read a key.
    Get(String),
    /// Write a key, expiring after `ttl_ms` if given.
    Set {
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Expiry, from now.
        ttl_ms: Option<u64>,
    },
    /// Add `delta` to an integer key (missing: 0); `ttl_ms` applies when this creates it.
    Incr {
        /// Key.
        key: String,
        /// Amount added (may be negative).
        delta: i64,
        /// Expiry of a key this creates.
        ttl_ms: Option<u64>,
    },
}

impl Op {
    /// The key it touches.
    pub fn key(&self) -> &str {
        match self {
            Op::Get(key) | Op::Set { key, .. } | Op::Incr { key, .. } => key,
        }
    }
}

/// What one operation of a batch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A `Get`: the value, `None` if missing or expired.
    Value(Option<String>),
    /// A `Set`.
    Done,
    /// An `Incr`: the new value.
    Count(i64),
}

impl Outcome {
    /// The value of a `Get`.
    pub fn value(&self) -> Option<&str> {
        match self {
            Outcome::Value(v) => v.as_deref(),
            _ => None,
        }
    }

    /// The number of an `Incr`, or of a `Get` whose value is an integer (0 otherwise).
    pub fn count(&self) -> i64 {
        match self {
            Outcome::Count(n) => *n,
            Outcome::Value(Some(v)) => v.parse().unwrap_or(0),
            _ => 0,
        }
    }
}

/// What a host provides. Implemented by the wasm bindings inside a component and by
/// [`crate::testing::TestHost`] natively; plugins use it through [`Host`].
pub trait HostApi {
    /// Read a key of this plugin's state.
    fn kv_get(&self, key: &str) -> Result<Option<String>, StateError>;
    /// Write a key of this plugin's state, optionally expiring after `ttl_ms`.
    fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), StateError>;
    /// Atomically add `delta` to an integer key and return the new value; `ttl_ms` applies when
    /// the key is created.
    fn kv_incr(&self, key: &str, delta: i64, ttl_ms: Option<u64>) -> Result<i64, StateError>;
    /// Run `ops` in order, atomically, in one round trip to the store (contract 0.3.0).
    fn kv_batch(&self, ops: &[Op]) -> Result<Vec<Outcome>, StateError>;
    /// Write a log line.
    fn log(&self, level: Level, message: &str);
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The host, as handed to [`crate::Plugin::check`].
pub struct Host<'a> {
    api: &'a dyn HostApi,
}

impl fmt::Debug for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

impl<'a> Host<'a> {
    /// Wrap a host implementation.
    pub fn new(api: &'a dyn HostApi) -> Self {
        Host { api }
    }

    /// Read a key of this plugin's private state.
    pub fn get(&self, key: &str) -> Result<Option<String>, StateError> {
        self.api.kv_get(key)
    }

    /// Write a key of this plugin's private state.
    pub fn set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), StateError> {
        self.api.kv_set(key, value, ttl_ms)
    }

    /// Atomically add `delta` to an integer key; `ttl_ms` applies when the key is created.
    pub fn incr(&self, key: &str, delta: i64, ttl_ms: Option<u64>) -> Result<i64, StateError> {
        self.api.kv_incr(key, delta, ttl_ms)
    }

    /// Run several state operations in one round trip to the store, in order and atomically
    /// (no other call runs between them): one [`Outcome`] per [`Op`]. Where each `get`, `set`
    /// or `incr` costs a round trip, a batch costs one; on error none of them took effect.
    pub fn batch(&self, ops: &[Op]) -> Result<Vec<Outcome>, StateError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        self.api.kv_batch(ops)
    }

    /// Milliseconds since the Unix epoch, from the host's clock.
    pub fn now_ms(&self) -> u64 {
        self.api.now_ms()
    }

    /// Write a log line at `level`.
    pub fn log(&self, level: Level, message: &str) {
        self.api.log(level, message)
    }
}
