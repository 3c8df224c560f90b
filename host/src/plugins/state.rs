//! Plugin key-value state behind the WIT `kv` import. Every call carries the plugin's name as
//! its namespace, set by the host, so a plugin can only ever reach its own keys. The in-memory
//! store here is the embedded default; the Redis store shares this trait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;

/// Longest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Why a state call failed. The plugin receives the message as its `kv` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The key or value is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// `incr` on a value that is not an integer.
    #[error("key {0:?} does not hold an integer")]
    NotAnInteger(String),
    /// The backing store is unreachable or failed.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
}

/// One operation of a batch ([`PluginState::batch`], the WIT `kv-batch` import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateOp {
    /// Read a key.
    Get(String),
    /// Write a key, expiring after `ttl_ms` if given.
    Set {
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Expiry.
        ttl_ms: Option<u64>,
    },
    /// Add `delta`; `ttl_ms` applies when this creates the key.
    Incr {
        /// Key.
        key: String,
        /// Amount.
        delta: i64,
        /// Expiry of a created key.
        ttl_ms: Option<u64>,
    },
}

impl StateOp {
    /// The key it touches.
    pub fn key(&self) -> &str {
        match self {
            StateOp::Get(key) | StateOp::Set { key, .. } | StateOp::Incr { key, .. } => key,
        }
    }

    fn check_sizes(&self) -> Result<(), StateError> {
        match self {
            StateOp::Set { key, value, .. } => check_sizes(key, Some(value)),
            other => check_sizes(other.key(), None),
        }
    }
}

/// What one operation of a batch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateOutcome {
    /// A `Get`'s value.
    Value(Option<String>),
    /// A `Set`.
    Done,
    /// An `Incr`'s new value.
    Count(i64),
}

/// Longest batch a plugin may send.
pub const MAX_BATCH_OPS: usize = 64;

/// Check a batch before it reaches a store: its length and every key and value.
pub fn check_batch(ops: &[StateOp]) -> Result<(), StateError> {
    if ops.len() > MAX_BATCH_OPS {
        return Err(StateError::TooLarge(format!(
            "a batch of {} operations; the limit is {MAX_BATCH_OPS}",
            ops.len()
        )));
    }
    ops.iter().try_for_each(StateOp::check_sizes)
}

/// Namespaced key-value state with TTLs.
pub trait PluginState: Send + Sync + std::fmt::Debug + 'static {
    /// Read `key` of namespace `ns`.
    fn get(&self, ns: &str, key: &str) -> Result<Option<String>, StateError>;
    /// Write `key` of namespace `ns`, expiring after `ttl_ms` if given.
    fn set(&self, ns: &str, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), StateError>;
    /// Atomically add `delta`; `ttl_ms` applies when the key is created.
    fn incr(&self, ns: &str, key: &str, delta: i64, ttl_ms: Option<u64>)
        -> Result<i64, StateError>;
    /// Run `ops` on namespace `ns` in order, atomically, in one round trip: one outcome per
    /// operation; on error none took effect.
    fn batch(&self, ns: &str, ops: &[StateOp]) -> Result<Vec<StateOutcome>, StateError>;
}

/// Check key and value sizes before they reach a store.
pub fn check_sizes(key: &str, value: Option<&str>) -> Result<(), StateError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StateError::TooLarge(format!(
            "key is {} bytes, the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if let Some(v) = value {
        if v.len() > MAX_VALUE_BYTES {
            return Err(StateError::TooLarge(format!(
                "value is {} bytes, the limit is {MAX_VALUE_BYTES}",
                v.len()
            )));
        }
    }
    Ok(())
}

type Entry = (String, Option<u64>);

/// In-process state: one host only, lost on restart. Expired keys are dropped lazily and by a
/// periodic sweep.
#[derive(Debug)]
pub struct MemoryState {
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<(String, String), Entry>,
    writes: u64,
}

const SWEEP_EVERY: u64 = 4096;

impl MemoryState {
    /// An empty store whose TTLs follow `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryState {
            clock,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map inconsistent (every update is a
        // single insert), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of live keys across all namespaces.
    pub fn len(&self) -> usize {
        let now = self.clock.now_ms();
        self.lock()
            .map
            .values()
            .filter(|(_, exp)| exp.is_none_or(|e| e > now))
            .count()
    }

    /// Whether no live key exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn live(&mut self, k: &(String, String), now: u64) -> Option<&Entry> {
        if self
            .map
            .get(k)
            .is_some_and(|(_, exp)| exp.is_some_and(|e| e <= now))
        {
            self.map.remove(k);
        }
        self.map.get(k)
    }

    fn wrote(&mut self, now: u64) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.map.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        }
    }

    fn put(&mut self, k: (String, String), value: &str, ttl_ms: Option<u64>, now: u64) {
        self.map
            .insert(k, (value.to_owned(), ttl_ms.map(|t| now + t)));
    }

    /// Add `delta` to the integer at `k` (`key` names it in the error).
    fn add(
        &mut self,
        k: (String, String),
        key: &str,
        delta: i64,
        ttl_ms: Option<u64>,
        now: u64,
    ) -> Result<i64, StateError> {
        let (next, exp) = match self.live(&k, now) {
            Some((v, exp)) => {
                let cur: i64 = v
                    .parse()
                    .map_err(|_| StateError::NotAnInteger(key.to_owned()))?;
                (cur.saturating_add(delta), *exp)
            }
            None => (delta, ttl_ms.map(|t| now + t)),
        };
        self.map.insert(k, (next.to_string(), exp));
        Ok(next)
    }
}

impl PluginState for MemoryState {
    fn get(&self, ns: &str, key: &str) -> Result<Option<String>, StateError> {
        check_sizes(key, None)?;
        let now = self.clock.now_ms();
        let k = (ns.to_owned(), key.to_owned());
        Ok(self.lock().live(&k, now).map(|(v, _)| v.clone()))
    }

    fn set(&self, ns: &str, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), StateError> {
        check_sizes(key, Some(value))?;
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        inner.put((ns.to_owned(), key.to_owned()), value, ttl_ms, now);
        inner.wrote(now);
        Ok(())
    }

    fn incr(
        &self,
        ns: &str,
        key: &str,
        delta: i64,
        ttl_ms: Option<u64>,
    ) -> Result<i64, StateError> {
        check_sizes(key, None)?;
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let next = inner.add((ns.to_owned(), key.to_owned()), key, delta, ttl_ms, now)?;
        inner.wrote(now);
        Ok(next)
    }

    fn batch(&self, ns: &str, ops: &[StateOp]) -> Result<Vec<StateOutcome>, StateError> {
        check_batch(ops)?;
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        // All or nothing: the entries the batch touches, as they were.
        let saved: Vec<((String, String), Option<Entry>)> = ops
            .iter()
            .map(|op| {
                let k = (ns.to_owned(), op.key().to_owned());
                let was = inner.map.get(&k).cloned();
                (k, was)
            })
            .collect();
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            let k = (ns.to_owned(), op.key().to_owned());
            let outcome = match op {
                StateOp::Get(_) => Ok(StateOutcome::Value(
                    inner.live(&k, now).map(|(v, _)| v.clone()),
                )),
                StateOp::Set { value, ttl_ms, .. } => {
                    inner.put(k, value, *ttl_ms, now);
                    Ok(StateOutcome::Done)
                }
                StateOp::Incr { key, delta, ttl_ms } => inner
                    .add(k, key, *delta, *ttl_ms, now)
                    .map(StateOutcome::Count),
            };
            match outcome {
                Ok(o) => outcomes.push(o),
                Err(e) => {
                    for (k, was) in saved.into_iter().rev() {
                        match was {
                            Some(entry) => inner.map.insert(k, entry),
                            None => inner.map.remove(&k),
                        };
                    }
                    return Err(e);
                }
            }
        }
        inner.wrote(now);
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn store() -> (Arc<ManualClock>, MemoryState) {
        let clock = Arc::new(ManualClock::new(1_000));
        (clock.clone(), MemoryState::new(clock))
    }

    #[test]
    fn namespaces_are_isolated() {
        let (_, s) = store();
        s.set("a", "k", "1", None).expect("set");
        assert_eq!(s.get("b", "k").expect("get"), None);
        assert_eq!(s.get("a", "k").expect("get").as_deref(), Some("1"));
    }

    #[test]
    fn ttl_follows_the_clock_and_incr_keeps_expiry() {
        let (clock, s) = store();
        assert_eq!(s.incr("a", "n", 2, Some(100)).expect("incr"), 2);
        clock.advance_ms(60);
        assert_eq!(s.incr("a", "n", 1, Some(100)).expect("incr"), 3);
        clock.advance_ms(40);
        assert_eq!(
            s.get("a", "n").expect("get"),
            None,
            "expired at 100 ms after creation"
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let (_, s) = store();
        s.set("a", "s", "text", None).expect("set");
        assert_eq!(
            s.incr("a", "s", 1, None),
            Err(StateError::NotAnInteger("s".into()))
        );
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(
            s.set("a", "k", &big, None),
            Err(StateError::TooLarge(_))
        ));
    }
}
