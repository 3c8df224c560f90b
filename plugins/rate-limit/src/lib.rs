//! `rate-limit`: per-sender, per-sender-in-room and per-room limits with a sliding-window
//! counter kept in host key-value state, so every host of a fleet shares the same counts.
//! Rejects with `rate_limited` and the time after which a retry will pass.
//!
//! The sliding window is the two-bucket estimate: `previous × (1 − elapsed/window) + current`.
//! Each message is first counted with one atomic `incr` per scope and then judged by the count
//! it got (a refusal gives it back), so concurrent messages, on one host or many, never get
//! more than the limit through. Every scope's reads and reservations go in one `kv-batch`:
//! one round trip to the store per message.

use chowk_sdk::{export_plugin, Host, Level, Message, Op, Plugin, Reject, Verdict};
use serde::Deserialize;

/// Plugin configuration. A scope set to `false`-y (omitted with no default) is not limited.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Limit for one sender across all rooms.
    pub per_sender: Option<Limit>,
    /// Limit for one sender in one room.
    pub per_sender_room: Option<Limit>,
    /// Limit for one room, all senders together.
    pub per_room: Option<Limit>,
    /// Senders never limited (for example, bots of trusted services).
    pub exempt_senders: Vec<String>,
    /// Reject (`true`, default) or allow (`false`) when the state store does not answer: a
    /// limiter that lets messages through whenever its store is slow is one that load defeats.
    pub fail_closed: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            per_sender: Some(Limit {
                max: 30,
                window_ms: 60_000,
            }),
            per_sender_room: Some(Limit {
                max: 5,
                window_ms: 10_000,
            }),
            per_room: Some(Limit {
                max: 600,
                window_ms: 60_000,
            }),
            exempt_senders: Vec::new(),
            fail_closed: true,
        }
    }
}

/// At most `max` messages per `window_ms`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Messages allowed per window.
    pub max: u32,
    /// Window length in milliseconds.
    pub window_ms: u64,
}

/// The rate limiter.
#[derive(Debug)]
pub struct RateLimit {
    scopes: Vec<(&'static str, Limit)>,
    exempt: Vec<String>,
    fail_closed: bool,
}

impl Plugin for RateLimit {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let mut scopes = Vec::new();
        for (name, limit) in [
            ("sender_room", config.per_sender_room),
            ("sender", config.per_sender),
            ("room", config.per_room),
        ] {
            if let Some(limit) = limit {
                if limit.max == 0 || limit.window_ms == 0 {
                    return Err(format!("per_{name}: max and window_ms must be positive"));
                }
                scopes.push((name, limit));
            }
        }
        Ok(RateLimit {
            scopes,
            exempt: config.exempt_senders,
            fail_closed: config.fail_closed,
        })
    }

    fn check(&self, message: &Message, host: &Host<'_>) -> Verdict {
        if self.exempt.contains(&message.sender) {
            return Verdict::Allow;
        }
        match self.admit(message, host) {
            Ok(None) => Verdict::Allow,
            Ok(Some(reject)) => Verdict::Reject(reject),
            Err(e) => {
                host.log(Level::Warn, &format!("rate-limit state unavailable: {e}"));
                if self.fail_closed {
                    Verdict::Reject(Reject::rate_limited("rate limiter unavailable", 1_000))
                } else {
                    Verdict::Allow
                }
            }
        }
    }
}

impl RateLimit {
    /// Reserve this message in every scope's current bucket (an atomic `incr` each, so
    /// concurrent checks, on any host, get distinct counts and never admit more than the
    /// limit) and read every scope's previous bucket, all in one batch: one round trip to the
    /// store. Then judge each scope by the count it got; a refusal gives the reservations back
    /// (a second batch, only then).
    fn admit(
        &self,
        message: &Message,
        host: &Host<'_>,
    ) -> Result<Option<Reject>, chowk_sdk::StateError> {
        let now = host.now_ms();
        let mut ops = Vec::with_capacity(2 * self.scopes.len());
        for &(name, limit) in &self.scopes {
            let subject = match name {
                "sender_room" => format!("{}\u{1f}{}", message.sender, message.room),
                "sender" => message.sender.clone(),
                _ => message.room.clone(),
            };
            let bucket = now / limit.window_ms;
            let key = |b: u64| format!("{name}:{subject}:{b}");
            ops.push(Op::Get(key(bucket.saturating_sub(1))));
            ops.push(Op::Incr {
                key: key(bucket),
                delta: 1,
                ttl_ms: Some(2 * limit.window_ms),
            });
        }
        let outcomes = host.batch(&ops)?;
        let verdict = self
            .scopes
            .iter()
            .enumerate()
            .find_map(|(i, &(name, limit))| {
                let previous = u64::try_from(outcomes[2 * i].count()).unwrap_or(0);
                let counted = outcomes[2 * i + 1].count();
                let before = u64::try_from(counted.saturating_sub(1)).unwrap_or(0);
                let wait = retry_after(limit, now % limit.window_ms, previous, before)?;
                let reason = format!(
                    "too many messages ({} per {} s {}); try again in {} s",
                    limit.max,
                    limit.window_ms / 1000,
                    match name {
                        "sender_room" => "in this room",
                        "sender" => "in all rooms",
                        _ => "for this room",
                    },
                    wait.div_ceil(1000)
                );
                Some(Reject::rate_limited(reason, wait))
            });
        if verdict.is_some() {
            let refunds: Vec<Op> = ops
                .into_iter()
                .filter_map(|op| match op {
                    Op::Incr { key, ttl_ms, .. } => Some(Op::Incr {
                        key,
                        delta: -1,
                        ttl_ms,
                    }),
                    _ => None,
                })
                .collect();
            // Best effort: a reservation not given back expires with its bucket.
            let _ = host.batch(&refunds);
        }
        Ok(verdict)
    }
}

/// `None` if one more message fits now; otherwise milliseconds until it will.
fn retry_after(limit: Limit, elapsed: u64, previous: u64, current: u64) -> Option<u64> {
    let w = limit.window_ms as f64;
    let max = f64::from(limit.max);
    let estimate = |prev: u64, cur: u64, e: f64| prev as f64 * (w - e) / w + cur as f64;
    if estimate(previous, current, elapsed as f64) + 1.0 <= max {
        return None;
    }
    let wait = if (current as f64) + 1.0 <= max && previous > 0 {
        // Wait in this window until the previous bucket's weight has shrunk enough.
        let needed_elapsed = w - (max - 1.0 - current as f64) * w / previous as f64;
        needed_elapsed - elapsed as f64
    } else {
        // Wait for the next window, then for this window's count to decay.
        let to_next = w - elapsed as f64;
        let needed = (w - (max - 1.0) * w / current.max(1) as f64).max(0.0);
        to_next + needed
    };
    Some((wait.ceil() as u64).max(1))
}

export_plugin!(RateLimit);

#[cfg(test)]
mod tests {
    use super::*;
    use chowk_sdk::testing::TestPlugin;
    use serde_json::json;

    fn limiter(config: serde_json::Value) -> TestPlugin<RateLimit> {
        TestPlugin::new(config).expect("valid config")
    }

    #[test]
    fn limits_a_sender_and_resets_with_time() {
        let p = limiter(json!({
            "per_sender": {"max": 3, "window_ms": 1000},
            "per_sender_room": null, "per_room": null
        }));
        let msg = Message::new("hi").from_sender("asha");
        for _ in 0..3 {
            assert!(p.check(&msg).is_allow());
        }
        let v = p.check(&msg);
        let r = v.as_reject().expect("fourth message is limited");
        assert_eq!(r.code, "rate_limited");
        let wait = r.retry_after_ms.expect("retry-after");
        assert!(wait > 0 && wait <= 2000, "{wait}");
        // Other senders are not affected.
        assert!(p.check(&Message::new("hi").from_sender("ravi")).is_allow());
        // After the advertised wait, one more message passes.
        p.host().advance_ms(wait);
        assert!(p.check(&msg).is_allow(), "allowed after retry-after");
        // After two full windows the sender starts fresh.
        p.host().advance_ms(2000);
        for _ in 0..3 {
            assert!(p.check(&msg).is_allow());
        }
    }

    #[test]
    fn sender_room_and_room_scopes_are_separate() {
        let p = limiter(json!({
            "per_sender": null,
            "per_sender_room": {"max": 1, "window_ms": 10000},
            "per_room": {"max": 2, "window_ms": 10000}
        }));
        let a = Message::new("x").from_sender("a").in_room("r1");
        assert!(p.check(&a).is_allow());
        assert!(p.check(&a).is_reject(), "same sender, same room");
        assert!(p.check(&a.clone().in_room("r2")).is_allow(), "other room");
        let b = Message::new("x").from_sender("b").in_room("r1");
        assert!(p.check(&b).is_allow(), "room has one slot left");
        let c = Message::new("x").from_sender("c").in_room("r1");
        assert!(p.check(&c).is_reject(), "room is full");
    }

    #[test]
    fn exempt_senders_and_state_failures() {
        let p = limiter(json!({
            "per_sender": {"max": 1, "window_ms": 1000},
            "exempt_senders": ["bot"]
        }));
        let bot = Message::new("x").from_sender("bot");
        for _ in 0..5 {
            assert!(p.check(&bot).is_allow());
        }
        p.host().fail_state(true);
        assert!(
            p.check(&Message::new("x")).is_reject(),
            "fails closed by default"
        );
        let open = limiter(json!({"fail_closed": false}));
        open.host().fail_state(true);
        assert!(open.check(&Message::new("x")).is_allow());
    }

    #[test]
    fn keys_are_bucketed_and_expire() {
        let p = limiter(
            json!({"per_sender": {"max": 5, "window_ms": 1000}, "per_sender_room": null, "per_room": null}),
        );
        assert!(p.check(&Message::new("x").from_sender("a")).is_allow());
        assert_eq!(p.host().keys().len(), 1);
        p.host().advance_ms(2001);
        assert!(
            p.host().keys().is_empty(),
            "counters expire after two windows"
        );
    }

    #[test]
    fn zero_limits_are_config_errors() {
        let err = TestPlugin::<RateLimit>::new(json!({"per_room": {"max": 0, "window_ms": 1}}))
            .expect_err("invalid");
        assert!(err.contains("per_room"), "{err}");
    }
}
