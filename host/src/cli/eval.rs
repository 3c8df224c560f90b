//! `chowk eval`: run JSON lines through a chain without storing anything, print one decision
//! per line, and a summary (actions, latency, and recall/false positives for labelled input).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use chowk_host::clock::{Clock, ManualClock, SystemClock};
use chowk_host::plugins::{
    Action, Chain, ChainContext, Decision, EngineOptions, MemoryState, Message, PluginEngine,
};
use serde::{Deserialize, Serialize};

/// Arguments of `chowk eval`.
#[derive(clap::Args)]
pub struct Args {
    /// The chain to run.
    #[arg(long, default_value = "plugins.toml")]
    plugins: PathBuf,
    /// JSON-lines input (default: standard input).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Simulated time between input lines without `sent_at`, ms. Plugin state (rate limits)
    /// follows this clock.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    text: String,
    sender: Option<String>,
    room: Option<String>,
    /// `spam` or `ham`, for the summary's recall and false-positive rate.
    label: Option<String>,
    /// Receive time, ms since the epoch.
    sent_at: Option<u64>,
}

#[derive(Serialize)]
struct Output<'a> {
    action: Action,
    score: f64,
    text: &'a str,
    reasons: Vec<OutputReason<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
}

#[derive(Serialize)]
struct OutputReason<'a> {
    plugin: &'a str,
    rule: &'a str,
    detail: &'a str,
}

#[derive(Default)]
struct Summary {
    lines: usize,
    errors: usize,
    actions: [usize; 4],
    latencies_us: Vec<u64>,
    spam: usize,
    spam_caught: usize,
    ham: usize,
    ham_caught: usize,
}

/// Run `chowk eval`.
pub fn run(args: Args) -> Result<ExitCode> {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let ctx = ChainContext {
        engine: Arc::new(PluginEngine::new(EngineOptions::default())?),
        state: Arc::new(MemoryState::new(clock.clone())),
        clock: clock.clone(),
    };
    let chain = Chain::load_file(&ctx, &args.plugins, 1)
        .with_context(|| format!("loading {}", args.plugins.display()))?;

    let reader: Box<dyn BufRead> = match &args.input {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(BufReader::new(std::io::stdin())),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut summary = Summary::default();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        summary.lines += 1;
        let input: Input = match serde_json::from_str(&line) {
            Ok(i) => i,
            Err(e) => {
                summary.errors += 1;
                let err = serde_json::json!({"error": format!("line {}: {e}", n + 1)});
                writeln!(out, "{err}")?;
                continue;
            }
        };
        match input.sent_at {
            Some(t) => clock.set_ms(t),
            None => clock.advance_ms(args.interval_ms),
        }
        let message = Message {
            id: format!("eval-{}", n + 1),
            room: input.room.unwrap_or_else(|| "lobby".into()),
            sender: input.sender.unwrap_or_else(|| format!("eval-{}", n + 1)),
            text: input.text,
            sent_at_ms: clock.now_ms(),
            metadata: Vec::new(),
        };
        let started = Instant::now();
        let decision = chain.evaluate(&message);
        summary
            .latencies_us
            .push(started.elapsed().as_micros() as u64);
        summary.record(&decision, input.label.as_deref());
        serde_json::to_writer(&mut out, &output(&decision))?;
        writeln!(out)?;
    }
    out.flush()?;
    summary.print();
    Ok(ExitCode::SUCCESS)
}

fn output(d: &Decision) -> Output<'_> {
    Output {
        action: d.action,
        score: (d.score * 100.0).round() / 100.0,
        text: &d.text,
        reasons: d
            .reasons
            .iter()
            .map(|r| OutputReason {
                plugin: &r.plugin,
                rule: &r.rule,
                detail: &r.detail,
            })
            .collect(),
        code: d.rejection.as_ref().map(|r| r.code.as_str()),
    }
}

impl Summary {
    fn record(&mut self, d: &Decision, label: Option<&str>) {
        let i = match d.action {
            Action::Allow => 0,
            Action::Rewrite => 1,
            Action::Flag => 2,
            Action::Reject => 3,
        };
        self.actions[i] += 1;
        let caught = matches!(d.action, Action::Flag | Action::Reject);
        match label {
            Some("spam") => {
                self.spam += 1;
                self.spam_caught += usize::from(caught);
            }
            Some(_) => {
                self.ham += 1;
                self.ham_caught += usize::from(caught);
            }
            None => {}
        }
    }

    fn print(&mut self) {
        let [allow, rewrite, flag, reject] = self.actions;
        eprintln!(
            "{} lines: {allow} allow, {rewrite} rewrite, {flag} flag, {reject} reject, {} malformed",
            self.lines, self.errors
        );
        if !self.latencies_us.is_empty() {
            self.latencies_us.sort_unstable();
            let pct = |p: f64| {
                let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
                self.latencies_us[i]
            };
            eprintln!(
                "chain latency: median {} µs, p99 {} µs, max {} µs",
                pct(0.5),
                pct(0.99),
                pct(1.0)
            );
        }
        let rate = |a: usize, b: usize| {
            if b == 0 {
                0.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        if self.spam > 0 {
            eprintln!(
                "spam caught (flag or reject): {}/{} = {:.1}% recall",
                self.spam_caught,
                self.spam,
                rate(self.spam_caught, self.spam)
            );
        }
        if self.ham > 0 {
            eprintln!(
                "ham flagged or rejected: {}/{} = {:.2}% false positives",
                self.ham_caught,
                self.ham,
                rate(self.ham_caught, self.ham)
            );
        }
    }
}
