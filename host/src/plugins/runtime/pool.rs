//! A loaded plugin: its linked component (`InstancePre`) and a small pool of initialised
//! instances. `init` runs once per instance; an instance whose call trapped, timed out or hit a
//! limit is dropped, never reused, and a fresh one is made on the next call.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Store, UpdateDeadline};

use super::bindings::{wit, Assets, CallClock, PluginCtx};
use super::engine::{ticks, PluginEngine};
use super::failure::PluginFailure;
use super::limits::MemoryLimiter;
use crate::clock::Clock;
use crate::plugins::state::PluginState;

/// Longest text a plugin may rewrite a message to, in bytes.
pub const MAX_REWRITE_BYTES: usize = 64 * 1024;
/// Most score hits one verdict may carry.
pub const MAX_HITS: usize = 64;

/// Sandbox limits of one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Deadline of one `check` call, ms.
    pub deadline_ms: u64,
    /// Deadline of instantiation plus `init`, ms.
    pub init_deadline_ms: u64,
    /// Linear-memory cap, MiB.
    pub memory_mb: u64,
    /// Idle instances kept.
    pub instances: usize,
    /// Isolated per room: an instance serves one room only (no guest memory crosses rooms)
    /// and key-value state is namespaced `<plugin>/<room>`.
    pub per_room: bool,
}

struct Instance {
    store: Store<PluginCtx>,
    filter: wit::Filter,
    /// The room it serves, when isolated per room.
    room: Option<String>,
}

/// A plugin ready to judge messages.
pub struct LoadedPlugin {
    name: Arc<str>,
    hash: String,
    engine: wasmtime::Engine,
    pre: wit::FilterPre<PluginCtx>,
    config_json: String,
    assets: Assets,
    limits: PluginLimits,
    call_ticks: u64,
    init_ticks: u64,
    tick: Duration,
    state: Arc<dyn PluginState>,
    clock: Arc<dyn Clock>,
    idle: Mutex<Vec<Instance>>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("hash", &self.hash)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// Link a compiled component and initialise one instance, so that a bad config or a broken
    /// `init` is reported now rather than on the first message.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: &PluginEngine,
        name: &str,
        component: &Component,
        hash: String,
        config_json: String,
        limits: PluginLimits,
        assets: Assets,
        state: Arc<dyn PluginState>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PluginFailure> {
        let instance_pre = engine
            .linker()
            .instantiate_pre(component)
            .map_err(|e| PluginFailure::Instantiate(format!("{e:#}")))?;
        let pre = wit::FilterPre::new(instance_pre)
            .map_err(|e| PluginFailure::Instantiate(format!("{e:#}")))?;
        let plugin = LoadedPlugin {
            name: Arc::from(name),
            hash,
            engine: engine.engine().clone(),
            pre,
            config_json,
            assets,
            limits,
            call_ticks: engine.ticks_for(limits.deadline_ms),
            init_ticks: engine.ticks_for(limits.init_deadline_ms),
            tick: engine.epoch_tick(),
            state,
            clock,
            idle: Mutex::default(),
        };
        // As many ready instances as posts may run the chain at once (one per core), so the
        // first posts after a start or a reload do not pay for instantiation.
        let warm = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, limits.instances);
        for _ in 0..warm {
            let instance = plugin.instantiate()?;
            plugin.checkin(instance);
        }
        Ok(plugin)
    }

    /// Plugin name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the component.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The plugin's limits.
    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    /// Idle initialised instances right now.
    pub fn idle_instances(&self) -> usize {
        self.lock_idle().len()
    }

    /// Judge one message on a pooled instance.
    pub fn check(&self, message: &wit::Message) -> Result<wit::Verdict, PluginFailure> {
        let mut instance = match self.take_idle(&message.room) {
            Some(i) => i,
            None => self.instantiate()?,
        };
        if self.limits.per_room && instance.room.as_deref() != Some(message.room.as_str()) {
            // A fresh instance (any other was found by its room): it joins this room for good.
            instance.store.data_mut().namespace =
                Arc::from(format!("{}/{}", self.name, message.room));
            instance.room = Some(message.room.clone());
        }
        instance.store.data_mut().call =
            CallClock::start(Duration::from_millis(self.limits.deadline_ms));
        instance.store.set_epoch_deadline(self.call_ticks);
        let result = instance
            .filter
            .chowk_plugin0_1_0_guest()
            .call_check(&mut instance.store, message);
        match result {
            Ok(verdict) => {
                self.checkin(instance);
                validate(verdict)
            }
            Err(e) => Err(self.classify(&e, &instance, self.limits.deadline_ms)),
        }
    }

    fn instantiate(&self) -> Result<Instance, PluginFailure> {
        let ctx = PluginCtx {
            plugin: self.name.clone(),
            namespace: self.name.clone(),
            state: self.state.clone(),
            clock: self.clock.clone(),
            assets: self.assets.clone(),
            limiter: MemoryLimiter::new((self.limits.memory_mb as usize) << 20),
            call: CallClock::start(Duration::from_millis(self.limits.init_deadline_ms)),
        };
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.limiter);
        // A deadline counts the plugin's own CPU time: at the epoch deadline, time spent waiting
        // (for host calls, however slow the store, or for a core) is given back.
        let tick = self.tick;
        store.epoch_deadline_callback(move |ctx| {
            Ok(match ctx.data().call.remaining() {
                Some(left) => UpdateDeadline::Continue(ticks(left, tick)),
                None => UpdateDeadline::Interrupt,
            })
        });
        store.set_epoch_deadline(self.init_ticks);
        let filter = match self.pre.instantiate(&mut store) {
            Ok(f) => f,
            Err(e) => {
                let failure = if store.data().limiter.hit() {
                    PluginFailure::MemoryLimit {
                        limit_mb: self.limits.memory_mb,
                    }
                } else if e.downcast_ref::<wasmtime::Trap>().is_some() {
                    PluginFailure::classify(
                        &e,
                        false,
                        self.limits.init_deadline_ms,
                        self.limits.memory_mb,
                    )
                } else {
                    PluginFailure::Instantiate(format!("{e:#}"))
                };
                return Err(failure);
            }
        };
        let mut instance = Instance {
            store,
            filter,
            room: None,
        };
        let init = instance
            .filter
            .chowk_plugin0_1_0_guest()
            .call_init(&mut instance.store, &self.config_json);
        match init {
            Ok(Ok(())) => Ok(instance),
            Ok(Err(message)) => Err(PluginFailure::Init(message)),
            Err(e) => Err(self.classify(&e, &instance, self.limits.init_deadline_ms)),
        }
    }

    fn classify(
        &self,
        e: &wasmtime::Error,
        instance: &Instance,
        deadline_ms: u64,
    ) -> PluginFailure {
        PluginFailure::classify(
            e,
            instance.store.data().limiter.hit(),
            deadline_ms,
            self.limits.memory_mb,
        )
    }

    /// An idle instance for `room`: any, or one of that room's when isolated per room.
    fn take_idle(&self, room: &str) -> Option<Instance> {
        let mut idle = self.lock_idle();
        if !self.limits.per_room {
            return idle.pop();
        }
        let at = idle.iter().rposition(|i| i.room.as_deref() == Some(room))?;
        Some(idle.remove(at))
    }

    /// Keep an instance for reuse; isolated per room, the least recently used makes way.
    fn checkin(&self, instance: Instance) {
        let mut idle = self.lock_idle();
        if idle.len() >= self.limits.instances {
            if !self.limits.per_room || idle.is_empty() {
                return;
            }
            idle.remove(0);
        }
        idle.push(instance);
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Refuse answers that would burden the rest of the system.
fn validate(verdict: wit::Verdict) -> Result<wit::Verdict, PluginFailure> {
    match &verdict {
        wit::Verdict::Rewrite(r) if r.text.len() > MAX_REWRITE_BYTES => {
            Err(PluginFailure::InvalidVerdict(format!(
                "rewrite of {} bytes exceeds {MAX_REWRITE_BYTES}",
                r.text.len()
            )))
        }
        wit::Verdict::Score(hits) if hits.len() > MAX_HITS => Err(PluginFailure::InvalidVerdict(
            format!("{} score hits exceed {MAX_HITS}", hits.len()),
        )),
        wit::Verdict::Score(hits) if hits.iter().any(|h| !h.points.is_finite()) => Err(
            PluginFailure::InvalidVerdict("a score hit has non-finite points".into()),
        ),
        _ => Ok(verdict),
    }
}
