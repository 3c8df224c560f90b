//! The [`Plugin`] trait every Chowk filter implements.

use serde::de::DeserializeOwned;

use crate::{Host, Message, Verdict};

/// A message filter. One value is built per plugin instance from the plugin's `config` table in
/// `plugins.toml`, then [`Plugin::check`] is called for every message that reaches it.
pub trait Plugin: Sized + 'static {
    /// Typed configuration, deserialised from the plugin's config table. Use
    /// `#[serde(default, deny_unknown_fields)]` so that typos are errors, not silent defaults.
    type Config: DeserializeOwned;

    /// Build the plugin. An `Err` refuses the plugin; the host reports the message as given.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Judge one message.
    fn check(&self, message: &Message, host: &Host<'_>) -> Verdict;
}

/// Parse a JSON config and build the plugin, as the host's `init` call does.
pub fn init_plugin<P: Plugin>(config_json: &str) -> Result<P, String> {
    let config: P::Config =
        serde_json::from_str(config_json).map_err(|e| format!("invalid config: {e}"))?;
    P::new(config)
}
