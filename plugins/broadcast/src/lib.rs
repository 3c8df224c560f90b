//! `broadcast`: the same or nearly the same text posted into many rooms within a window, by one
//! sender or many, scores high from the `min_rooms`-th room on. Texts are compared by MinHash
//! over their folded words and word pairs, with numbers, links and handles reduced to their
//! kind (a scam template with a different phone number per copy is still one text), banded for
//! locality-sensitive hashing ([`minhash`]). Each band key is a bucket counted in the plugin's
//! key-value state (shared by every host): per band, one call marks the room, and a second
//! counts it when the room is new — so a tracked message costs up to `2 × bands` state calls,
//! and texts shorter than `min_chars` cost none.

mod minhash;

use chowk_sdk::{export_plugin, Hit, Host, Message, Op, Plugin, Verdict};
use serde::Deserialize;

pub use minhash::band_keys;

/// Configuration (`[plugins.config]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Texts shorter than this (in folded characters) are not tracked: "ok ji" and "good
    /// morning" are posted everywhere.
    pub min_chars: usize,
    /// Distinct rooms at which the text starts to score.
    pub min_rooms: u32,
    /// How long a text is remembered, ms.
    pub window_ms: u64,
    /// LSH bands (1–8): more bands catch texts that differ more, at one or two state calls
    /// per band. With 4 bands of 3 MinHash rows, texts sharing 70% of their words and pairs are
    /// caught 4 times in 5, and 85% nearly always.
    pub bands: u32,
    /// Points at `min_rooms`.
    pub points: f64,
    /// Points added per further room.
    pub points_per_room: f64,
    /// Most points.
    pub max_points: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_chars: 30,
            min_rooms: 3,
            window_ms: 3_600_000,
            bands: 4,
            points: 3.0,
            points_per_room: 1.0,
            max_points: 6.0,
        }
    }
}

/// The broadcast plugin.
pub struct Broadcast {
    config: Config,
}

impl Plugin for Broadcast {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !(1..=8).contains(&config.bands) {
            return Err(format!("bands must be 1..=8, got {}", config.bands));
        }
        if config.min_rooms < 2 {
            return Err(format!(
                "min_rooms must be at least 2, got {}",
                config.min_rooms
            ));
        }
        if config.window_ms == 0 {
            return Err("window_ms must be positive".into());
        }
        Ok(Broadcast { config })
    }

    fn check(&self, message: &Message, host: &Host<'_>) -> Verdict {
        let c = &self.config;
        let Some(keys) = band_keys(&message.text, c.min_chars, c.bands as usize) else {
            return Verdict::Allow;
        };
        // One batch for every band: mark this room for the band's bucket, and count the
        // bucket's rooms at the same time. When the room was marked before (the count went
        // up for a room already counted), the count is one too high: it is read as one less
        // and given back (a second batch, only then).
        let buckets: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(band, key)| format!("{band}:{key:x}"))
            .collect();
        let incr = |key: String, delta: i64| Op::Incr {
            key,
            delta,
            ttl_ms: Some(c.window_ms),
        };
        let ops: Vec<Op> = buckets
            .iter()
            .flat_map(|b| {
                [
                    incr(format!("room:{b}:{}", message.room), 1),
                    incr(format!("rooms:{b}"), 1),
                ]
            })
            .collect();
        // A state fault skips detection: broadcast detection fails open.
        let Ok(outcomes) = host.batch(&ops) else {
            return Verdict::Allow;
        };
        let mut rooms = 0;
        let mut refunds = Vec::new();
        for (i, bucket) in buckets.iter().enumerate() {
            let (marked, counted) = (outcomes[2 * i].count(), outcomes[2 * i + 1].count());
            if marked == 1 {
                rooms = rooms.max(counted);
            } else {
                rooms = rooms.max(counted - 1);
                refunds.push(incr(format!("rooms:{bucket}"), -1));
            }
        }
        if !refunds.is_empty() {
            let _ = host.batch(&refunds);
        }
        if rooms < i64::from(c.min_rooms) {
            return Verdict::Allow;
        }
        let extra = (rooms - i64::from(c.min_rooms)) as f64;
        let points = (c.points + extra * c.points_per_room).min(c.max_points);
        Verdict::Score(vec![Hit::new(
            "broadcast",
            points,
            format!("the same text was posted in {rooms} rooms within the window"),
        )])
    }
}

export_plugin!(Broadcast);

#[cfg(test)]
mod tests;
