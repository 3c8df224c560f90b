//! The Chowk plugin SDK: implement [`Plugin`], call [`export_plugin!`], and your type becomes a
//! `chowk:plugin/filter` WebAssembly component. Text helpers live in [`text`], and [`testing`]
//! runs the same plugin natively under plain `cargo test`.
//!
//! ```
//! use chowk_sdk::{Host, Message, Plugin, Reject, Verdict};
//!
//! #[derive(Debug, Default, serde::Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct Config { max_len: usize }
//!
//! struct MaxLen(Config);
//!
//! impl Plugin for MaxLen {
//!     type Config = Config;
//!     fn new(config: Config) -> Result<Self, String> { Ok(MaxLen(config)) }
//!     fn check(&self, message: &Message, _host: &Host<'_>) -> Verdict {
//!         if message.text.chars().count() > self.0.max_len {
//!             return Verdict::Reject(Reject::new("too_long", "message is too long"));
//!         }
//!         Verdict::Allow
//!     }
//! }
//! chowk_sdk::export_plugin!(MaxLen);
//!
//! let plugin = chowk_sdk::testing::TestPlugin::<MaxLen>::new(serde_json::json!({"max_len": 3})).unwrap();
//! assert!(plugin.check_text("hello").is_reject());
//! ```

// The generated bindings name this crate by its external path, `::chowk_sdk`.
extern crate self as chowk_sdk;

pub mod assets;
pub mod classifier;
mod export;
mod host;
mod plugin;
pub mod testing;
pub mod text;
mod types;

pub use host::{Host, HostApi, Level, Op, Outcome, StateError};
pub use plugin::{init_plugin, Plugin};
pub use types::{Hit, Message, Reject, Rewrite, Verdict};

#[doc(hidden)]
pub use export::__rt;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use export::wit;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;
