//! The one wasmtime engine of the host: component model, pooling allocator, epoch
//! interruption driven by a ticker thread, a linker with only the Chowk imports, and a cache of
//! compiled components keyed by content hash.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{wit, PluginCtx};
use crate::plugins::manifest::MAX_MEMORY_MB;

/// SHA-256 of a component's bytes, hex.
pub type ContentHash = String;

/// Engine-wide sizing.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Plugin instances that may exist at once, across all plugins and chains (pool slots).
    pub max_instances: u32,
    /// Epoch tick: the granularity of every deadline.
    pub epoch_tick: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_instances: 256,
            epoch_tick: Duration::from_millis(1),
        }
    }
}

/// Why the engine could not start or a component could not be compiled.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

/// The host's wasmtime engine. Cheap to share behind an `Arc`; dropping it stops the ticker.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<PluginCtx>,
    options: EngineOptions,
    cache: Mutex<HashMap<ContentHash, Component>>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Set (to anything) to have the engine write a `perf` map of plugin code: profiles of the
/// host then name each plugin function (BENCHMARKS.md, "Profile").
pub const PERF_MAP_ENV: &str = "CHOWK_PERF_MAP";

impl PluginEngine {
    /// Build the engine and start its epoch ticker.
    pub fn new(options: EngineOptions) -> Result<Self, EngineError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(options.max_instances)
            .total_core_instances(options.max_instances * 4)
            .total_memories(options.max_instances * 2)
            .total_tables(options.max_instances * 4)
            .max_memory_size((MAX_MEMORY_MB as usize) << 20);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(512 * 1024)
            .parallel_compilation(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if std::env::var_os(PERF_MAP_ENV).is_some() {
            // Names for the compiled plugin code in `perf` profiles (/tmp/perf-<pid>.map).
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| EngineError(format!("{e:#}")))?;

        let mut linker = Linker::new(&engine);
        wit::Filter::add_to_linker::<_, HasSelf<_>>(&mut linker, |ctx| ctx)
            .map_err(|e| EngineError(format!("{e:#}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            let tick = options.epoch_tick;
            std::thread::Builder::new()
                .name("chowk-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| EngineError(format!("cannot start the epoch ticker: {e}")))?
        };
        Ok(PluginEngine {
            engine,
            linker,
            options,
            cache: Mutex::default(),
            stop,
            ticker: Some(ticker),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(super) fn linker(&self) -> &Linker<PluginCtx> {
        &self.linker
    }

    /// How often the epoch advances.
    pub fn epoch_tick(&self) -> Duration {
        self.options.epoch_tick
    }

    /// Epoch ticks for a deadline in ms (at least one).
    pub fn ticks_for(&self, ms: u64) -> u64 {
        ticks(Duration::from_millis(ms), self.options.epoch_tick)
    }

    /// Compile a component, or return the cached one with the same content hash.
    pub fn compile(&self, bytes: &[u8]) -> Result<(Component, ContentHash), EngineError> {
        let hash = hex::encode(Sha256::digest(bytes));
        if let Some(c) = self.lock_cache().get(&hash) {
            return Ok((c.clone(), hash));
        }
        check_header(bytes)?;
        let component = Component::new(&self.engine, bytes).map_err(|e| {
            // The root cause, on one line: wasmtime's full chain can span many lines.
            let cause = e.root_cause().to_string();
            let cause = cause.lines().next().unwrap_or_default();
            EngineError(format!("not a valid WebAssembly component: {cause}"))
        })?;
        self.lock_cache().insert(hash.clone(), component.clone());
        Ok((component, hash))
    }

    /// Number of compiled components cached.
    pub fn cached_components(&self) -> usize {
        self.lock_cache().len()
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<ContentHash, Component>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Refuse files that are not components before compiling them, with a message that says what
/// the file is instead (wasmtime's own errors print the bytes it found).
fn check_header(bytes: &[u8]) -> Result<(), EngineError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE: [u8; 4] = [1, 0, 0, 0];
    if !bytes.starts_with(MAGIC) {
        return Err(EngineError(
            "not a WebAssembly file (it does not start with the \\0asm header)".into(),
        ));
    }
    if bytes.get(4..8) == Some(&CORE_MODULE[..]) {
        return Err(EngineError(
            "a core WebAssembly module, not a component: build plugins with `cargo xtask plugins`, which turns them into components"
                .into(),
        ));
    }
    Ok(())
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// Epoch ticks of `tick` covering `d` (at least one).
pub(super) fn ticks(d: Duration, tick: Duration) -> u64 {
    let tick = tick.as_nanos().max(1);
    u64::try_from(d.as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX)
        .max(1)
}
