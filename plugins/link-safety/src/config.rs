//! Configuration: brands and their own domains, allowed domains, shorteners, risky TLDs,
//! invite hosts, the new-sender window, and the points of each rule.

use serde::Deserialize;

use crate::domain::{is_within, tokens};

/// A brand scammers impersonate, with the domains that really are its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    /// Display name, for the hit's detail.
    pub name: String,
    /// Words that name the brand inside a domain (`sbi`, `hdfcbank`). Words of 4 or more
    /// letters also match inside a longer word of the host (`paytmkyc`); shorter ones must be
    /// a whole word.
    pub words: Vec<String>,
    /// The brand's own registered domains (subdomains included).
    pub domains: Vec<String>,
}

/// Points of each rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Points {
    /// A brand's name in a domain that is not the brand's.
    pub impersonation: f64,
    /// Non-Latin look-alike letters in a host.
    pub homoglyph_domain: f64,
    /// An `xn--` label.
    pub punycode_domain: f64,
    /// A bare IP address.
    pub ip_link: f64,
    /// A link to an `.apk`.
    pub apk_link: f64,
    /// A URL shortener.
    pub shortener: f64,
    /// A risky top-level domain.
    pub risky_tld: f64,
    /// An invite link from a sender with few messages.
    pub invite_from_new_sender: f64,
}

impl Default for Points {
    fn default() -> Self {
        Points {
            impersonation: 5.0,
            homoglyph_domain: 4.0,
            punycode_domain: 3.0,
            ip_link: 4.0,
            apk_link: 4.0,
            shortener: 1.5,
            risky_tld: 2.0,
            invite_from_new_sender: 2.0,
        }
    }
}

/// The plugin's configuration (`[plugins.config]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Brands to protect.
    pub brands: Vec<Brand>,
    /// Domains never judged (subdomains included), such as the community's own site.
    pub allow: Vec<String>,
    /// URL shortener domains.
    pub shorteners: Vec<String>,
    /// Risky top-level domains, without the dot.
    pub risky_tlds: Vec<String>,
    /// Hosts of chat invites and click-to-chat links.
    pub invite_hosts: Vec<String>,
    /// A sender with at most this many messages in the window is new (0: no counting).
    pub new_sender_messages: u32,
    /// The counting window, ms from the sender's first counted message.
    pub new_sender_window_ms: u64,
    /// Points per rule.
    pub points: Points,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brands: Vec::new(),
            allow: Vec::new(),
            shorteners: strings(&[
                "bit.ly",
                "tinyurl.com",
                "cutt.ly",
                "is.gd",
                "t.co",
                "rb.gy",
                "shorturl.at",
                "ow.ly",
                "tiny.cc",
                "rebrand.ly",
                "v.gd",
                "shorte.st",
                "adf.ly",
                "bitly.com",
            ]),
            risky_tlds: strings(&[
                "xyz", "top", "site", "online", "click", "loan", "work", "vip", "icu", "buzz",
                "fun", "space", "pw", "tk", "ml", "ga", "cf", "gq", "win", "bid", "rest", "cyou",
                "monster", "sbs", "cfd", "lol", "quest",
            ]),
            invite_hosts: strings(&[
                "t.me",
                "telegram.me",
                "wa.me",
                "chat.whatsapp.com",
                "whatsapp.com",
            ]),
            new_sender_messages: 3,
            new_sender_window_ms: 30 * 24 * 3_600_000,
            points: Points::default(),
        }
    }
}

impl Config {
    /// Refuse configurations that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        for (i, b) in self.brands.iter().enumerate() {
            if b.words.is_empty() || b.words.iter().any(|w| w.trim().is_empty()) {
                return Err(format!("brands[{i}] ({}): words must not be empty", b.name));
            }
            if b.domains.is_empty() {
                return Err(format!("brands[{i}] ({}): list its own domains", b.name));
            }
        }
        if self.new_sender_messages > 0 && self.new_sender_window_ms == 0 {
            return Err("new_sender_window_ms must be positive".into());
        }
        Ok(())
    }

    /// Whether a (folded) host is on the allow list or is any brand's own.
    pub fn is_allowed(&self, host: &str) -> bool {
        self.allow.iter().any(|d| is_within(host, d))
            || self
                .brands
                .iter()
                .flat_map(|b| &b.domains)
                .any(|d| is_within(host, d))
    }

    /// The brand a (folded) host names without being its own.
    pub fn impersonated(&self, host: &str, registered: &str) -> Option<&Brand> {
        let mut words: Vec<String> = tokens(host).map(str::to_owned).collect();
        // A name spelled out letter by letter (`s-b-i-kyc.click`) is also that name.
        let mut spelled = String::new();
        for t in tokens(host).chain(std::iter::once("")) {
            if t.chars().count() == 1 {
                spelled.push_str(t);
            } else {
                if spelled.len() > 1 {
                    words.push(std::mem::take(&mut spelled));
                }
                spelled.clear();
            }
        }
        self.brands.iter().find(|b| {
            !b.domains
                .iter()
                .any(|d| is_within(host, d) || d == registered)
                && b.words.iter().any(|w| {
                    let w = w.as_str();
                    words
                        .iter()
                        .any(|t| t == w || (w.len() >= 4 && t.contains(w)))
                })
        })
    }
}
