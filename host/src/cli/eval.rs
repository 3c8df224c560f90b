//! `chowk eval`: run labelled or unlabelled messages through a chain without storing anything,
//! print one decision per line, and a summary: actions, latency, recall and false positives
//! for labelled input, which rules fire on spam and on ham (per rule and per plugin), recall
//! per scam family when the corpus names families, and, with `--compare`, every message on
//! which a second chain decides differently.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chowk_host::clock::{Clock, ManualClock, SystemClock};
use chowk_host::plugins::{
    Action, Chain, ChainContext, Decision, EngineOptions, MemoryState, Message, PluginEngine,
};
use chowk_sdk::classifier::{parse_tsv, Half};
use serde::{Deserialize, Serialize};

/// Arguments of `chowk eval`.
#[derive(clap::Args)]
pub struct Args {
    /// The chain to run.
    #[arg(long, default_value = "plugins.toml")]
    plugins: PathBuf,
    /// JSON-lines input (default: standard input).
    #[arg(long, conflicts_with = "corpus")]
    input: Option<PathBuf>,
    /// A labelled TSV corpus instead (`label<TAB>text` or `label<TAB>family<TAB>lang<TAB>text`):
    /// `PATH`, or `PATH:even` / `PATH:odd` for one half of a fixed split (alternate lines).
    #[arg(long)]
    corpus: Option<String>,
    /// A second chain to run on the same messages; every message the two decide differently is
    /// listed.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Print only the summary, not a decision per line.
    #[arg(long)]
    summary_only: bool,
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
    /// Scam or trade family, for recall per family.
    family: Option<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    points: Option<f64>,
}

/// Spam and ham counts.
#[derive(Default, Clone, Copy)]
struct Split {
    spam: usize,
    ham: usize,
}

#[derive(Default)]
struct Summary {
    lines: usize,
    errors: usize,
    actions: [usize; 4],
    latencies_us: Vec<u64>,
    total: Split,
    caught: Split,
    rules: BTreeMap<(String, String), Split>,
    plugins: BTreeMap<String, Split>,
    families: BTreeMap<String, Split>,
    families_caught: BTreeMap<String, Split>,
}

/// One loaded chain with its own state and clock.
struct Run {
    chain: Chain,
    clock: Arc<ManualClock>,
}

impl Run {
    fn load(path: &Path, start_ms: u64) -> Result<Run> {
        let clock = Arc::new(ManualClock::new(start_ms));
        let ctx = ChainContext {
            engine: Arc::new(PluginEngine::new(EngineOptions::default())?),
            state: Arc::new(MemoryState::new(clock.clone())),
            clock: clock.clone(),
            max_text_chars: chowk_host::ids::DEFAULT_TEXT_CHARS,
        };
        let chain = Chain::load_file(&ctx, path, 1)
            .with_context(|| format!("loading {}", path.display()))?;
        Ok(Run { chain, clock })
    }

    fn evaluate(&self, n: usize, input: &Input, interval_ms: u64) -> (Decision, u64) {
        match input.sent_at {
            Some(t) => self.clock.set_ms(t),
            None => self.clock.advance_ms(interval_ms),
        }
        let message = Message {
            id: format!("eval-{n}"),
            room: input.room.clone().unwrap_or_else(|| "lobby".into()),
            sender: input.sender.clone().unwrap_or_else(|| format!("eval-{n}")),
            text: input.text.clone(),
            sent_at_ms: self.clock.now_ms(),
            metadata: Vec::new(),
        };
        let started = Instant::now();
        let decision = self.chain.evaluate(&message);
        (decision, started.elapsed().as_micros() as u64)
    }
}

/// Run `chowk eval`.
pub fn run(args: Args) -> Result<ExitCode> {
    let start = SystemClock.now_ms();
    let main = Run::load(&args.plugins, start)?;
    let other = match &args.compare {
        Some(path) => Some(Run::load(path, start)?),
        None => None,
    };
    let inputs = read_inputs(&args)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut summary = Summary::default();
    let mut differences = Vec::new();
    for (n, input) in inputs.into_iter().enumerate() {
        let n = n + 1;
        summary.lines += 1;
        let input = match input {
            Ok(i) => i,
            Err(e) => {
                summary.errors += 1;
                writeln!(out, "{}", serde_json::json!({ "error": e }))?;
                continue;
            }
        };
        let (decision, micros) = main.evaluate(n, &input, args.interval_ms);
        summary.latencies_us.push(micros);
        summary.record(&decision, &input);
        if let Some(other) = &other {
            let (theirs, _) = other.evaluate(n, &input, args.interval_ms);
            if theirs.action != decision.action {
                differences.push(format!(
                    "line {n}{}: {:?} ({:.1}) -> {:?} ({:.1}): {}",
                    input
                        .label
                        .as_deref()
                        .map(|l| format!(" [{l}]"))
                        .unwrap_or_default(),
                    decision.action,
                    decision.score,
                    theirs.action,
                    theirs.score,
                    input.text
                ));
            }
        }
        if !args.summary_only {
            serde_json::to_writer(&mut out, &output(&decision))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    summary.print();
    if let Some(path) = &args.compare {
        eprintln!(
            "\n{} decisions differ with {}:",
            differences.len(),
            path.display()
        );
        for d in &differences {
            eprintln!("  {d}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_inputs(args: &Args) -> Result<Vec<Result<Input, String>>> {
    if let Some(spec) = &args.corpus {
        let (path, half) = Half::split_spec(spec);
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        let labelled = parse_tsv(&text, half).with_context(|| path.to_owned())?;
        if labelled.is_empty() {
            bail!("{path}: no labelled lines");
        }
        return Ok(labelled
            .into_iter()
            .map(|l| {
                Ok(Input {
                    text: l.example.text,
                    sender: None,
                    room: None,
                    label: Some(if l.example.spam { "spam" } else { "ham" }.into()),
                    sent_at: None,
                    family: l.family,
                })
            })
            .collect());
    }
    let reader: Box<dyn BufRead> = match &args.input {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(BufReader::new(std::io::stdin())),
    };
    let mut inputs = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        inputs.push(serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", n + 1)));
    }
    Ok(inputs)
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
                points: r.points,
            })
            .collect(),
        code: d.rejection.as_ref().map(|r| r.code.as_str()),
    }
}

impl Split {
    fn add(&mut self, spam: bool) {
        if spam {
            self.spam += 1;
        } else {
            self.ham += 1;
        }
    }
}

impl Summary {
    fn record(&mut self, d: &Decision, input: &Input) {
        let i = match d.action {
            Action::Allow => 0,
            Action::Rewrite => 1,
            Action::Flag => 2,
            Action::Reject => 3,
        };
        self.actions[i] += 1;
        let Some(label) = input.label.as_deref() else {
            return;
        };
        let spam = label == "spam";
        let caught = matches!(d.action, Action::Flag | Action::Reject);
        self.total.add(spam);
        if caught {
            self.caught.add(spam);
        }
        let mut plugins = std::collections::BTreeSet::new();
        for r in &d.reasons {
            self.rules
                .entry((r.plugin.clone(), r.rule.clone()))
                .or_default()
                .add(spam);
            plugins.insert(r.plugin.clone());
        }
        for p in plugins {
            self.plugins.entry(p).or_default().add(spam);
        }
        if let Some(family) = &input.family {
            self.families.entry(family.clone()).or_default().add(spam);
            if caught {
                self.families_caught
                    .entry(family.clone())
                    .or_default()
                    .add(spam);
            }
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
        if self.total.spam > 0 {
            eprintln!(
                "spam caught (flag or reject): {}/{} = {:.1}% recall",
                self.caught.spam,
                self.total.spam,
                rate(self.caught.spam, self.total.spam)
            );
        }
        if self.total.ham > 0 {
            eprintln!(
                "ham flagged or rejected: {}/{} = {:.2}% false positives",
                self.caught.ham,
                self.total.ham,
                rate(self.caught.ham, self.total.ham)
            );
        }
        if self.total.spam + self.total.ham == 0 {
            return;
        }
        eprintln!("\nhits by plugin and rule (messages with a hit: on spam, on ham):");
        for (plugin, split) in &self.plugins {
            eprintln!("  {plugin:<28} {:>6} spam {:>6} ham", split.spam, split.ham);
            for ((_, rule), split) in self.rules.iter().filter(|((p, _), _)| p == plugin) {
                eprintln!("    {rule:<26} {:>6} spam {:>6} ham", split.spam, split.ham);
            }
        }
        if !self.families.is_empty() {
            eprintln!("\ncaught by family (spam recall, ham flagged):");
            for (family, total) in &self.families {
                let caught = self
                    .families_caught
                    .get(family)
                    .copied()
                    .unwrap_or_default();
                let (n, c) = if total.spam > 0 {
                    (total.spam, caught.spam)
                } else {
                    (total.ham, caught.ham)
                };
                let kind = if total.spam > 0 { "spam" } else { "ham" };
                eprintln!(
                    "  {family:<24} {kind:<4} {c:>4}/{n:<4} {:>5.1}%",
                    rate(c, n)
                );
            }
        }
    }
}

fn rate(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}
