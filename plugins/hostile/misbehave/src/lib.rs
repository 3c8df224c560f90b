//! Test fixture: a plugin that misbehaves on purpose, chosen by its config, so the host's
//! containment can be tested with a real component. `on_init` / `on_check` take one of
//! `ok`, `loop`, `memory`, `recurse`, `panic`, `read_file`, `env`; `on_check` also
//! `remember` (report the previous message's room and text it kept in guest memory),
//! `rewrite_empty` and `rewrite_long` (rewrites no post could be); `when_text` limits the
//! misbehaviour of `check` to messages containing that text.

use std::cell::RefCell;

use chowk_sdk::{export_plugin, Hit, Host, Message, Plugin, Rewrite, Verdict};
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
        Behaviour::Remember | Behaviour::RewriteEmpty | Behaviour::RewriteLong => String::new(),
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
            other => act(other),
        };
        if detail.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Score(vec![Hit::new("misbehave", 0.0, detail)])
        }
    }
}

export_plugin!(Misbehave);
