//! `spam-rules`: weighted spam rules in the style of rspamd symbols. Each rule that fires adds a
//! labelled score (`link_shortener`, `prize_words`, ...); the chain's thresholds in
//! `plugins.toml` turn the total into `flag` or `reject`. Word lists cover English and
//! romanised Hindi and are matched with the SDK's evasion-resistant folding.

mod config;
mod rules;

use chowk_sdk::{export_plugin, Host, Message, Plugin, Verdict};

pub use config::Config;
use rules::Rules;

/// The spam-rules plugin.
pub struct SpamRules {
    rules: Rules,
}

impl Plugin for SpamRules {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(SpamRules {
            rules: Rules::from_config(config)?,
        })
    }

    fn check(&self, message: &Message, _host: &Host<'_>) -> Verdict {
        Verdict::from_hits(self.rules.score(&message.text))
    }
}

export_plugin!(SpamRules);
