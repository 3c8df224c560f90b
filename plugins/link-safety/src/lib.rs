//! `link-safety`: judges the links in a message, not its words. Rules (each a scored hit with
//! the link in its detail):
//! - `impersonation`: a brand's name (bank, wallet, telco, courier, app) inside a domain that is
//!   not one of the brand's own (`sbi-kyc-update.xyz`, `hdfcbank-secure.co`);
//! - `homoglyph_domain`: a host with non-Latin look-alike letters (`sbі.com`, Cyrillic `і`), and
//!   `punycode_domain`: a host with an `xn--` label;
//! - `ip_link`: a bare IP address instead of a name; `apk_link`: a link to an Android package;
//! - `risky_tld`: a top-level domain mostly used for throwaway sites; `shortener`: a URL
//!   shortener hiding the destination;
//! - `invite_from_new_sender`: a `t.me`, `wa.me` or group-invite link from a sender with few
//!   messages in the current window (every message is counted in the plugin's key-value state,
//!   shared across hosts: one state call per message; `new_sender_messages = 0` turns this
//!   rule and the counting off).
//!
//! Brands, allowed domains, shorteners and TLDs are configuration (`plugins.toml`).

mod config;
mod domain;

use chowk_sdk::text::{find_urls, fold_confusables, UrlMatch};
use chowk_sdk::{export_plugin, Hit, Host, Message, Plugin, Verdict};

pub use config::{Brand, Config, Points};
use domain::{is_ip, registered_domain};

/// The link-safety plugin.
pub struct LinkSafety {
    config: Config,
}

impl Plugin for LinkSafety {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        config.validate()?;
        Ok(LinkSafety { config })
    }

    fn check(&self, message: &Message, host: &Host<'_>) -> Verdict {
        let sent = self.count_message(message, host);
        let urls = find_urls(&message.text);
        if urls.is_empty() {
            return Verdict::Allow;
        }
        let mut hits = Vec::new();
        let mut invite = None;
        for url in &urls {
            self.judge(url, &mut hits);
            if invite.is_none() && self.is_invite(url) {
                invite = Some(url.url.clone());
            }
        }
        if let Some(link) = invite {
            if sent.is_some_and(|n| n <= i64::from(self.config.new_sender_messages)) {
                hits.push(Hit::new(
                    "invite_from_new_sender",
                    self.config.points.invite_from_new_sender,
                    format!(
                        "{link} from a sender with {} messages so far",
                        sent.unwrap_or_default()
                    ),
                ));
            }
        }
        // One hit per rule: the first link that triggered it.
        let mut seen = std::collections::HashSet::new();
        hits.retain(|h| seen.insert(h.rule.clone()));
        Verdict::from_hits(hits)
    }
}

impl LinkSafety {
    fn judge(&self, url: &UrlMatch, hits: &mut Vec<Hit>) {
        let c = &self.config;
        let p = &c.points;
        let host = url.host.as_str();
        let hit = |rule: &str, points: f64, why: &str| {
            Hit::new(rule, points, format!("{}: {why}", url.url))
        };
        if is_ip(host) {
            hits.push(hit("ip_link", p.ip_link, "an IP address instead of a name"));
            return;
        }
        let folded = fold_confusables(host);
        if !host.is_ascii() {
            hits.push(hit(
                "homoglyph_domain",
                p.homoglyph_domain,
                &format!("look-alike letters (reads as {folded})"),
            ));
        }
        if host.split('.').any(|l| l.starts_with("xn--")) {
            hits.push(hit(
                "punycode_domain",
                p.punycode_domain,
                "an encoded international name",
            ));
        }
        let registered = registered_domain(&folded);
        if c.is_allowed(&folded) {
            return;
        }
        if let Some(brand) = c.impersonated(&folded, &registered) {
            hits.push(hit(
                "impersonation",
                p.impersonation,
                &format!("names {} but is not one of its domains", brand.name),
            ));
        }
        let path = url.url.to_ascii_lowercase();
        if path
            .split(['?', '#'])
            .next()
            .is_some_and(|p| p.ends_with(".apk"))
        {
            hits.push(hit("apk_link", p.apk_link, "an Android app package"));
        }
        if c.shorteners
            .iter()
            .any(|s| *s == registered || *s == folded)
        {
            hits.push(hit(
                "shortener",
                p.shortener,
                "a shortener hides where it leads",
            ));
        }
        let tld = folded.rsplit('.').next().unwrap_or_default();
        if c.risky_tlds.iter().any(|t| t == tld) {
            hits.push(hit(
                "risky_tld",
                p.risky_tld,
                &format!(".{tld} is mostly throwaway sites"),
            ));
        }
    }

    fn is_invite(&self, url: &UrlMatch) -> bool {
        let host = url.host.as_str();
        self.config.invite_hosts.iter().any(|h| h == host)
    }

    /// Count the sender's message (the window starts with their first counted message) and
    /// return how many they sent, this one included; `None` when counting is off or the state
    /// is unavailable (then no sender is treated as new: a store fault must not flag members).
    fn count_message(&self, message: &Message, host: &Host<'_>) -> Option<i64> {
        if self.config.new_sender_messages == 0 {
            return None;
        }
        let key = format!("sent:{}", message.sender);
        host.incr(&key, 1, Some(self.config.new_sender_window_ms))
            .ok()
    }
}

export_plugin!(LinkSafety);

#[cfg(test)]
mod tests;
