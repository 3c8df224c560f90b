//! Test fixture: a plugin that misbehaves on purpose, chosen by its config, so the host's
//! containment can be tested with a real component. `on_init` / `on_check` take one of
//! `ok`, `loop`, `memory`, `recurse`, `panic`, `read_file`, `env`; `on_check` also
//! `remember` (report the previous message's room and text it kept in guest memory),
//! `rewrite_empty` and `rewrite_long` (rewrites no post could be), and `echo_verdict` (the
//! message text spells the verdict, for fuzzing the host's side of the verdict: see
//! [`verdict_of`]); `when_text` limits the misbehaviour of `check` to messages containing that
//! text.

use std::cell::RefCell;

use chowk_sdk::{export_plugin, Hit, Host, Message, Plugin, Reject, Rewrite, Verdict};
use serde::Deserialize;

/// Fixture configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    on_init: Behaviour,
    on_check: Behaviour,
    when_text: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Behaviour {
    #[default]
    Ok,
    Loop,
    Memory,
    Recurse,
    Panic,
    ReadFile,
    Env,
    Remember,
    RewriteEmpty,
    RewriteLong,
    EchoVerdict,
}

/// The fixture, and what it remembers of the last message it saw.
pub struct Misbehave(Config, RefCell<Option<String>>);

fn act(b: Behaviour) -> String {
    match b {
        Behaviour::Ok => String::new(),
        Behaviour::Loop => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Behaviour::Memory => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Behaviour::Recurse => recurse(std::hint::black_box(u64::MAX)).to_string(),
        Behaviour::Panic => panic!("misbehave: deliberate panic"),
        Behaviour::ReadFile => match std::fs::read_to_string("/etc/passwd") {
            Ok(s) => format!("read {} bytes", s.len()),
            Err(e) => format!("no file access: {e}"),
        },
        Behaviour::Env => match std::env::var("HOME") {
            Ok(home) => format!("HOME is {home}"),
            Err(e) => format!("no environment: {e}"),
        },
        // Answered in `check`, which has the message.
        Behaviour::Remember
        | Behaviour::RewriteEmpty
        | Behaviour::RewriteLong
        | Behaviour::EchoVerdict => String::new(),
    }
}

/// Recursion with frames small enough to live in wasm locals, so it exhausts the engine's
/// stack rather than the guest's shadow stack in linear memory.
fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    std::hint::black_box(recurse(std::hint::black_box(n - 1))).wrapping_add(1)
}

impl Plugin for Misbehave {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        act(config.on_init);
        Ok(Misbehave(config, RefCell::new(None)))
    }

    fn check(&self, message: &Message, _host: &Host<'_>) -> Verdict {
        let triggered = match &self.0.when_text {
            Some(t) => message.text.contains(t.as_str()),
            None => true,
        };
        if !triggered {
            return Verdict::Allow;
        }
        let rewrite = |text: String| {
            Verdict::Rewrite(Rewrite {
                text,
                rule: "misbehave".into(),
                detail: String::new(),
            })
        };
        let detail = match self.0.on_check {
            Behaviour::Remember => {
                let seen = format!("{}: {}", message.room, message.text);
                match self.1.replace(Some(seen)) {
                    Some(previous) => format!("previously {previous}"),
                    None => "nothing before".into(),
                }
            }
            Behaviour::RewriteEmpty => return rewrite("\u{200B}".into()),
            Behaviour::RewriteLong => return rewrite("a".repeat(60_000)),
            Behaviour::EchoVerdict => return verdict_of(&message.text),
            other => act(other),
        };
        if detail.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Score(vec![Hit::new("misbehave", 0.0, detail)])
        }
    }
}

/// The verdict a text spells: its first character picks the kind, the rest (split at `|`) the
/// fields. `s` score: rule, points (any `f64` Rust parses: `NaN`, `inf`, `1e308`), detail,
/// repeated; `w` rewrite: the new text; `r` reject: code, reason, retry-after ms; else allow.
/// Repetitions: `*N` after the kind repeats the hits N times (up to 1,000).
pub fn verdict_of(text: &str) -> Verdict {
    let mut chars = text.chars();
    let kind = chars.next();
    let rest = chars.as_str();
    let (times, rest) = match rest.strip_prefix('*').and_then(|r| r.split_once(' ')) {
        Some((n, r)) => (n.parse::<usize>().unwrap_or(1).min(1_000), r),
        None => (1, rest),
    };
    let fields: Vec<&str> = rest.split('|').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or_default().to_owned();
    match kind {
        Some('s') => {
            let hits: Vec<Hit> = fields
                .chunks(3)
                .map(|c| {
                    let points = c.get(1).and_then(|p| p.parse::<f64>().ok()).unwrap_or(1.0);
                    Hit::new(c[0], points, c.get(2).copied().unwrap_or_default())
                })
                .collect();
            let hits = (0..times).flat_map(|_| hits.clone()).collect();
            Verdict::Score(hits)
        }
        Some('w') => Verdict::Rewrite(Rewrite {
            text: rest.repeat(times),
            rule: "echo".into(),
            detail: String::new(),
        }),
        Some('r') => Verdict::Reject(Reject {
            code: field(0),
            reason: field(1),
            retry_after_ms: fields.get(2).and_then(|r| r.parse().ok()),
        }),
        _ => Verdict::Allow,
    }
}

export_plugin!(Misbehave);
