//! Native test harness: run a plugin's logic under plain `cargo test`, with in-memory state,
//! captured logs and a clock the test controls.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// A stored value and its expiry (ms).
type Entry = (String, Option<u64>);

use crate::{init_plugin, Host, HostApi, Level, Message, Op, Outcome, Plugin, StateError, Verdict};

/// Start time of every [`TestHost`] clock: 2023-11-14T22:13:20Z.
pub const START_MS: u64 = 1_700_000_000_000;

/// An in-memory host with a manual clock. Key expiry follows the manual clock.
#[derive(Debug)]
pub struct TestHost {
    now: Cell<u64>,
    state: RefCell<HashMap<String, Entry>>,
    logs: RefCell<Vec<(Level, String)>>,
    fail_state: Cell<bool>,
}

impl Default for TestHost {
    fn default() -> Self {
        TestHost {
            now: Cell::new(START_MS),
            state: RefCell::default(),
            logs: RefCell::default(),
            fail_state: Cell::new(false),
        }
    }
}

impl TestHost {
    /// A host whose clock reads [`START_MS`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Move the clock forward.
    pub fn advance_ms(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
    }

    /// Set the clock.
    pub fn set_now_ms(&self, ms: u64) {
        self.now.set(ms);
    }

    /// Make every state call fail, as if the store were unreachable.
    pub fn fail_state(&self, fail: bool) {
        self.fail_state.set(fail);
    }

    /// Log lines written so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.logs.borrow().clone()
    }

    /// The live (unexpired) keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        let now = self.now.get();
        let mut keys: Vec<String> = self
            .state
            .borrow()
            .iter()
            .filter(|(_, (_, exp))| exp.is_none_or(|e| e > now))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    /// This host as the [`Host`] handed to plugins.
    pub fn host(&self) -> Host<'_> {
        Host::new(self)
    }

    fn check_available(&self) -> Result<(), StateError> {
        if self.fail_state.get() {
            Err(StateError("test host: state store is down".into()))
        } else {
            Ok(())
        }
    }

    fn live(&self, key: &str) -> Option<String> {
        let now = self.now.get();
        let mut state = self.state.borrow_mut();
        match state.get(key) {
            Some((_, Some(exp))) if *exp <= now => {
                state.remove(key);
                None
            }
            Some((v, _)) => Some(v.clone()),
            None => None,
        }
    }
}

impl HostApi for TestHost {
    fn kv_get(&self, key: &str) -> Result<Option<String>, StateError> {
        self.check_available()?;
        Ok(self.live(key))
    }

    fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), StateError> {
        self.check_available()?;
        let exp = ttl_ms.map(|t| self.now.get() + t);
        self.state
            .borrow_mut()
            .insert(key.to_owned(), (value.to_owned(), exp));
        Ok(())
    }

    fn kv_incr(&self, key: &str, delta: i64, ttl_ms: Option<u64>) -> Result<i64, StateError> {
        self.check_available()?;
        let (next, exp) = match self.live(key) {
            Some(v) => {
                let cur: i64 = v
                    .parse()
                    .map_err(|_| StateError(format!("key {key:?} is not an integer")))?;
                let exp = self.state.borrow().get(key).and_then(|(_, e)| *e);
                (cur + delta, exp)
            }
            None => (delta, ttl_ms.map(|t| self.now.get() + t)),
        };
        self.state
            .borrow_mut()
            .insert(key.to_owned(), (next.to_string(), exp));
        Ok(next)
    }

    fn kv_batch(&self, ops: &[Op]) -> Result<Vec<Outcome>, StateError> {
        self.check_available()?;
        // All or nothing, like the host's stores: the entries the batch touches, as they were.
        let before: Vec<(String, Option<Entry>)> = ops
            .iter()
            .map(|op| {
                let key = op.key();
                (key.to_owned(), self.state.borrow().get(key).cloned())
            })
            .collect();
        let run = ops
            .iter()
            .map(|op| match op {
                Op::Get(key) => self.kv_get(key).map(Outcome::Value),
                Op::Set { key, value, ttl_ms } => {
                    self.kv_set(key, value, *ttl_ms).map(|()| Outcome::Done)
                }
                Op::Incr { key, delta, ttl_ms } => {
                    self.kv_incr(key, *delta, *ttl_ms).map(Outcome::Count)
                }
            })
            .collect::<Result<Vec<_>, _>>();
        if run.is_err() {
            let mut state = self.state.borrow_mut();
            for (key, was) in before.into_iter().rev() {
                match was {
                    Some(entry) => state.insert(key, entry),
                    None => state.remove(&key),
                };
            }
        }
        run
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }

    fn now_ms(&self) -> u64 {
        self.now.get()
    }
}

/// A plugin initialised from a JSON config, with its own [`TestHost`].
pub struct TestPlugin<P> {
    plugin: P,
    host: TestHost,
}

impl<P> std::fmt::Debug for TestPlugin<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPlugin")
            .field("plugin", &std::any::type_name::<P>())
            .field("host", &self.host)
            .finish()
    }
}

impl<P: Plugin> TestPlugin<P> {
    /// Initialise the plugin as the host would, from a JSON config value.
    pub fn new(config: serde_json::Value) -> Result<Self, String> {
        Ok(TestPlugin {
            plugin: init_plugin(&config.to_string())?,
            host: TestHost::new(),
        })
    }

    /// Initialise the plugin as the host would, with these assets readable through
    /// [`crate::assets::read`] (as `assets = { name = "file" }` in `plugins.toml` does).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_assets(
        config: serde_json::Value,
        assets: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Self, String> {
        let assets = assets.into_iter().collect();
        crate::assets::with_native(assets, || Self::new(config))
    }

    /// Initialise the plugin with an empty config (`{}`): its defaults.
    pub fn with_defaults() -> Result<Self, String> {
        Self::new(serde_json::json!({}))
    }

    /// Run `check` on a message.
    pub fn check(&self, message: &Message) -> Verdict {
        self.plugin.check(message, &self.host.host())
    }

    /// Run `check` on a message with this text (room `lobby`, sender `user`).
    pub fn check_text(&self, text: &str) -> Verdict {
        self.check(&Message::new(text))
    }

    /// The host: advance its clock, inspect its state and logs.
    pub fn host(&self) -> &TestHost {
        &self.host
    }

    /// The plugin value itself.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }
}
