//! Host side of the WIT contract: the generated bindings and the store data ([`PluginCtx`])
//! that implements the `kv`, `kv-batch`, `log`, `clock` and `assets` imports for one plugin.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::plugins::state::{PluginState, StateOp, StateOutcome};

use super::limits::MemoryLimiter;

/// Bindings generated from `wit/` (world `chowk:plugin/filter`).
pub mod wit {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "chowk:plugin/filter@0.3.0",
    });

    pub use chowk::plugin0_1_0::types::{Hit, Message, Reject, Rewrite, Verdict};
}

use wit::chowk::plugin0_1_0::{clock, kv, log, types};
use wit::chowk::plugin0_2_0::assets;
use wit::chowk::plugin0_3_0::kv_batch;

/// A plugin's assets by name: the bytes of each file its manifest entry names.
pub type Assets = Arc<BTreeMap<String, Arc<Vec<u8>>>>;

/// Longest log line a plugin may write; longer lines are cut.
const MAX_LOG_BYTES: usize = 1024;

/// Per-store data: who the plugin is and what it may reach.
#[derive(Debug)]
pub struct PluginCtx {
    pub(super) plugin: Arc<str>,
    /// Where its key-value calls go: the plugin's name, or `<plugin>/<room>` for a plugin
    /// isolated per room (set before each call).
    pub(super) namespace: Arc<str>,
    pub(super) state: Arc<dyn PluginState>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) assets: Assets,
    pub(super) limiter: MemoryLimiter,
    /// The call under way, and its budget of the plugin's own (CPU) time.
    pub(super) call: CallClock,
}

/// How much CPU time a call has used on its thread: the plugin's own work. Time waiting for
/// host calls (state round trips) or for a core (other threads, other processes) is not the
/// plugin's and does not count against its deadline.
#[derive(Debug, Clone, Copy)]
pub struct CallClock {
    started: Duration,
    budget: Duration,
}

impl CallClock {
    /// A call starting now on this thread, allowed `budget` of CPU time.
    pub fn start(budget: Duration) -> Self {
        CallClock {
            started: thread_cpu_time(),
            budget,
        }
    }

    /// Its CPU time left (`None`: over budget). Call it on the thread the call runs on.
    pub fn remaining(&self) -> Option<Duration> {
        let used = thread_cpu_time().saturating_sub(self.started);
        self.budget.checked_sub(used).filter(|d| !d.is_zero())
    }
}

/// CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

impl types::Host for PluginCtx {}

impl kv::Host for PluginCtx {
    fn get(&mut self, key: String) -> Result<Option<String>, String> {
        self.state
            .get(&self.namespace, &key)
            .map_err(|e| e.to_string())
    }

    fn set(&mut self, key: String, value: String, ttl_ms: Option<u64>) -> Result<(), String> {
        self.state
            .set(&self.namespace, &key, &value, ttl_ms)
            .map_err(|e| e.to_string())
    }

    fn incr(&mut self, key: String, delta: i64, ttl_ms: Option<u64>) -> Result<i64, String> {
        self.state
            .incr(&self.namespace, &key, delta, ttl_ms)
            .map_err(|e| e.to_string())
    }
}

impl kv_batch::Host for PluginCtx {
    fn run(&mut self, ops: Vec<kv_batch::Op>) -> Result<Vec<kv_batch::Outcome>, String> {
        let ops: Vec<StateOp> = ops
            .into_iter()
            .map(|op| match op {
                kv_batch::Op::Get(key) => StateOp::Get(key),
                kv_batch::Op::Set(s) => StateOp::Set {
                    key: s.key,
                    value: s.value,
                    ttl_ms: s.ttl_ms,
                },
                kv_batch::Op::Incr(i) => StateOp::Incr {
                    key: i.key,
                    delta: i.delta,
                    ttl_ms: i.ttl_ms,
                },
            })
            .collect();
        let outcomes = self
            .state
            .batch(&self.namespace, &ops)
            .map_err(|e| e.to_string())?;
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                StateOutcome::Value(v) => kv_batch::Outcome::Value(v),
                StateOutcome::Done => kv_batch::Outcome::Done,
                StateOutcome::Count(n) => kv_batch::Outcome::Count(n),
            })
            .collect())
    }
}

impl log::Host for PluginCtx {
    fn write(&mut self, level: log::Level, message: String) {
        let mut message = message;
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl assets::Host for PluginCtx {
    fn read(&mut self, name: String) -> Option<Vec<u8>> {
        // A copy into the guest is unavoidable; plugins read an asset once, in `init`.
        self.assets.get(&name).map(|bytes| bytes.as_ref().clone())
    }
}

impl clock::Host for PluginCtx {
    fn now_ms(&mut self) -> u64 {
        self.clock.now_ms()
    }
}
