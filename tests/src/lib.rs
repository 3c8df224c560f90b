//! Shared support for Chowk's integration tests: where the built plugin components are, one
//! shared plugin engine per test process, chains built from inline `plugins.toml` text,
//! ([`servers`]) real Redis, Sentinel, HAProxy and NATS processes started on free ports,
//! ([`api`]) whole hosts started in-process for API tests, ([`fault`]) a TCP fault proxy, and
//! ([`checker`]) the Jepsen-style checker of the reliability scenarios, and ([`fuzz`]) the fuzz
//! targets, shared by `fuzz/` (libFuzzer) and the tests.
//!
//! The components come from `cargo xtask plugins` (which `cargo xtask test` runs first); a test
//! that cannot find one fails and says so.

pub mod api;
pub mod checker;
pub mod fault;
pub mod fuzz;
pub mod measure;
pub mod servers;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chowk_host::clock::ManualClock;
use chowk_host::plugins::{
    Chain, ChainContext, EngineOptions, LoadError, Manifest, MemoryState, Message, PluginEngine,
};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// `target/plugins/`, where `cargo xtask plugins` puts the components.
pub fn plugins_dir() -> PathBuf {
    let dir = repo_root().join("target/plugins");
    let probe = dir.join("spam-rules.wasm");
    assert!(
        probe.is_file(),
        "{} is missing: build the plugins first with `cargo xtask plugins` (or run the whole suite with `cargo xtask test`)",
        probe.display()
    );
    dir
}

/// The engine shared by every test of this process.
pub fn engine() -> Arc<PluginEngine> {
    static ENGINE: OnceLock<Arc<PluginEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            Arc::new(PluginEngine::new(EngineOptions::default()).expect("engine starts"))
        })
        .clone()
}

/// A user id (panics on an invalid one: tests name valid users).
pub fn user(id: &str) -> chowk_host::ids::UserId {
    chowk_host::ids::UserId::new(id).expect("a valid user id")
}

/// A client id (panics on an invalid one).
pub fn client_id(id: &str) -> chowk_host::ids::ClientId {
    chowk_host::ids::ClientId::new(id).expect("a valid client id")
}

/// A test world: a manual clock and in-memory plugin state, shared by the chains it loads.
#[derive(Debug)]
pub struct World {
    /// The clock plugins and state see.
    pub clock: Arc<ManualClock>,
    /// Plugin state.
    pub state: Arc<MemoryState>,
}

impl Default for World {
    fn default() -> Self {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        World {
            state: Arc::new(MemoryState::new(clock.clone())),
            clock,
        }
    }
}

impl World {
    /// The chain context: the shared engine, this world's state and clock.
    pub fn context(&self) -> ChainContext {
        ChainContext {
            engine: engine(),
            state: self.state.clone(),
            clock: self.clock.clone(),
            max_text_chars: chowk_host::ids::DEFAULT_TEXT_CHARS,
        }
    }

    /// Load a chain from manifest text; component paths are relative to `target/plugins/`.
    pub fn try_chain(&self, manifest: &str, generation: u64) -> Result<Chain, LoadError> {
        let manifest = Manifest::parse(manifest)?;
        Chain::load(&self.context(), &manifest, &plugins_dir(), generation)
    }

    /// Like [`World::try_chain`], panicking with the load error.
    pub fn chain(&self, manifest: &str) -> Chain {
        self.try_chain(manifest, 1)
            .unwrap_or_else(|e| panic!("chain should load: {e}"))
    }
}

/// A message from `sender` in `room`.
pub fn msg(text: &str, sender: &str, room: &str) -> Message {
    Message {
        id: "1-0".into(),
        room: room.into(),
        sender: sender.into(),
        text: text.into(),
        sent_at_ms: 0,
        metadata: Vec::new(),
    }
}

/// A message from `user` in `lobby`.
pub fn text(text: &str) -> Message {
    msg(text, "user", "lobby")
}

/// A `plugins.toml` entry for the shipped rate-limit plugin with limits no test reaches (for
/// tests about processes and the post path, not verdicts). Inline tables, so that keys appended
/// after it still belong to the entry.
pub fn unreachable_rate_limit() -> String {
    format!(
        "[[plugins]]\nname = \"rate-limit\"\npath = \"{}\"\n\
         config = {{ per_sender = {{ max = 1000000, window_ms = 60000 }}, \
         per_sender_room = {{ max = 1000000, window_ms = 60000 }}, \
         per_room = {{ max = 1000000, window_ms = 60000 }} }}\n",
        plugins_dir().join("rate-limit.wasm").display()
    )
}
