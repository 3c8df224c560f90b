//! The cost of the sandbox: one realistic message through the six shipped plugins as wasm
//! components (in-memory plugin state; the classifier with the shipped model), against the same
//! plugin crates compiled natively and called directly through the SDK's harness, in the same
//! run. Also: how long an infinite-loop
//! plugin runs before its deadline stops it.
//!
//! Run with `cargo bench -p chowk-tests --bench system -- chain` (or `cargo xtask bench`, which
//! builds the components first). Prints criterion's estimates, then per-call latency
//! percentiles and the wasm/native ratio.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadcast::Broadcast;
use chowk_host::clock::{Clock, ManualClock};
use chowk_host::plugins::{
    Action, Chain, ChainContext, Manifest, MemoryState, Message, PluginEngine,
};
use chowk_sdk::testing::TestHost;
use chowk_sdk::testing::TestPlugin;
use chowk_sdk::{init_plugin, Plugin, Verdict};
use classifier::Classifier;
use criterion::Criterion;
use keyword_filter::KeywordFilter;
use link_safety::LinkSafety;
use rate_limit::RateLimit;
use spam_rules::SpamRules;

const TEXT: &str = "Namaste! Fresh Alphonso mangoes in stock, Rs 800 per dozen. Free delivery in \
                    Andheri and Bandra, call 98200 12345 or message on WhatsApp.";
/// Rooms the messages rotate over. Every message has a sender of its own and a room gets one
/// message per simulated second, so no rate limit is reached and every plugin runs on every
/// message (a benchmark whose messages stop at the rate limiter measures only the limiter).
const ROOMS: u64 = 1_000;

fn repo() -> PathBuf {
    chowk_tests::repo_root()
}

/// The shipped chain, as wasm components.
struct WasmChain {
    chain: Chain,
    clock: Arc<ManualClock>,
    n: u64,
}

impl WasmChain {
    fn new(engine: &Arc<PluginEngine>) -> Self {
        let manifest = Manifest::load(&repo().join("plugins.toml")).expect("plugins.toml");
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let ctx = context(engine, clock.clone());
        let chain =
            Chain::load(&ctx, &manifest, &repo(), 1).expect("run `cargo xtask plugins` first");
        WasmChain { chain, clock, n: 0 }
    }

    fn decide(&mut self) -> chowk_host::plugins::Decision {
        self.n += 1;
        self.clock.advance_ms(1);
        let message = Message {
            id: "1-0".into(),
            room: format!("room{}", self.n % ROOMS),
            sender: format!("user{}", self.n),
            text: TEXT.into(),
            sent_at_ms: self.clock.now_ms(),
            metadata: Vec::new(),
        };
        self.chain.evaluate(&message)
    }

    fn once(&mut self) -> Action {
        self.decide().action
    }

    /// Median time of each plugin over `iterations` messages (from the decision trace), and
    /// the median of their sum per message (the time spent inside plugin calls).
    fn per_plugin(&mut self, iterations: usize) -> (Vec<(String, u64)>, u64) {
        let mut times: Vec<(String, Vec<u64>)> = Vec::new();
        let mut sums = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let trace = self.decide().trace;
            sums.push(trace.iter().map(|run| run.elapsed_us).sum::<u64>());
            for run in trace {
                match times.iter_mut().find(|(n, _)| *n == run.plugin) {
                    Some((_, t)) => t.push(run.elapsed_us),
                    None => times.push((run.plugin, vec![run.elapsed_us])),
                }
            }
        }
        sums.sort_unstable();
        let each = times
            .into_iter()
            .map(|(name, mut t)| {
                t.sort_unstable();
                (name, t[t.len() / 2])
            })
            .collect();
        (each, sums[sums.len() / 2])
    }
}

/// The same six plugins, compiled natively, with the same chain semantics.
struct NativeChain {
    host: TestHost,
    rate: RateLimit,
    keywords: KeywordFilter,
    links: LinkSafety,
    spam: SpamRules,
    classifier: TestPlugin<Classifier>,
    broadcast: Broadcast,
    n: u64,
}

impl NativeChain {
    fn new() -> Self {
        let manifest = Manifest::load(&repo().join("plugins.toml")).expect("plugins.toml");
        let config = |name: &str| {
            manifest
                .plugins
                .iter()
                .find(|p| p.name == name)
                .expect("plugin in plugins.toml")
                .config_json()
        };
        let model = std::fs::read(repo().join("models/sme.bin")).expect("the shipped model");
        let classifier_config: serde_json::Value =
            serde_json::from_str(&config("classifier")).expect("json");
        NativeChain {
            host: TestHost::new(),
            rate: init_plugin(&config("rate-limit")).expect("rate-limit"),
            keywords: init_plugin(&config("keyword-filter")).expect("keyword-filter"),
            links: init_plugin(&config("link-safety")).expect("link-safety"),
            spam: init_plugin(&config("spam-rules")).expect("spam-rules"),
            classifier: TestPlugin::with_assets(classifier_config, [("model".to_owned(), model)])
                .expect("classifier"),
            broadcast: init_plugin(&config("broadcast")).expect("broadcast"),
            n: 0,
        }
    }

    fn once(&mut self) -> f64 {
        self.n += 1;
        self.host.advance_ms(1);
        let mut message = chowk_sdk::Message::new(TEXT)
            .from_sender(format!("user{}", self.n))
            .in_room(format!("room{}", self.n % ROOMS));
        let host = self.host.host();
        let mut score = 0.0;
        for verdict in [
            self.rate.check(&message, &host),
            self.keywords.check(&message, &host),
        ] {
            match verdict {
                Verdict::Reject(_) => return -1.0,
                Verdict::Rewrite(r) => message.text = r.text,
                v => score += v.points(),
            }
        }
        for verdict in [
            self.links.check(&message, &host),
            self.spam.check(&message, &host),
            self.classifier.plugin().check(&message, &host),
            self.broadcast.check(&message, &host),
        ] {
            score += verdict.points();
        }
        score
    }
}

fn context(engine: &Arc<PluginEngine>, clock: Arc<ManualClock>) -> ChainContext {
    ChainContext {
        engine: engine.clone(),
        state: Arc::new(MemoryState::new(clock.clone())),
        clock,
        max_text_chars: chowk_host::ids::DEFAULT_TEXT_CHARS,
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    (at(0.5), at(0.99))
}

fn latency<F: FnMut()>(iterations: usize, mut f: F) -> (Duration, Duration) {
    for _ in 0..iterations / 10 {
        f();
    }
    let samples = (0..iterations)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    percentiles(samples)
}

pub fn run(benching: bool) {
    // The engine the other benchmarks of this process share: components compile once.
    let engine = chowk_tests::engine();
    let mut wasm = WasmChain::new(&engine);
    let mut native = NativeChain::new();
    assert_eq!(
        wasm.once(),
        Action::Allow,
        "the benchmark message passes the chain"
    );

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("chain");
    group.bench_function("wasm_shipped_chain", |b| b.iter(|| black_box(wasm.once())));
    group.bench_function("native_shipped_chain", |b| {
        b.iter(|| black_box(native.once()))
    });
    group.finish();

    let iterations = if benching { 100_000 } else { 200 };
    let (w50, w99) = latency(iterations, || {
        black_box(wasm.once());
    });
    let (n50, n99) = latency(iterations, || {
        black_box(native.once());
    });
    println!("\nper-message latency over {iterations} calls (shipped chain, in-memory state):");
    println!("  wasm   median {w50:>10.2?}  p99 {w99:>10.2?}");
    println!("  native median {n50:>10.2?}  p99 {n99:>10.2?}");
    println!(
        "  ratio wasm/native: median {:.2}x, p99 {:.2}x",
        w50.as_secs_f64() / n50.as_secs_f64(),
        w99.as_secs_f64() / n99.as_secs_f64()
    );

    let (plugins, inside) = wasm.per_plugin(if benching { 20_000 } else { 100 });
    let each: Vec<String> = plugins
        .iter()
        .map(|(name, us)| format!("{name} {us} µs"))
        .collect();
    println!("  wasm per plugin (median): {}", each.join(", "));
    println!("  wasm time inside plugin calls per message (median): {inside} µs");

    // The sandbox's floor: a plugin that reads nothing and allows everything, called with the
    // benchmark's message (the host's side of a call, the message copied in, the verdict out).
    let manifest = Manifest::parse(
        "version = 1\n[[plugins]]\nname = \"noop\"\npath = \"target/plugins/fixtures/misbehave.wasm\"\n\
         config = { when_text = \"no text has this\" }\n",
    )
    .expect("manifest");
    let ctx = context(&engine, Arc::new(ManualClock::new(0)));
    let noop = Chain::load(&ctx, &manifest, &repo(), 1).expect("noop loads");
    let message = Message {
        id: "1-0".into(),
        room: "room1".into(),
        sender: "user1".into(),
        text: TEXT.into(),
        sent_at_ms: 0,
        metadata: Vec::new(),
    };
    assert_eq!(noop.evaluate(&message).action, Action::Allow);
    let (f50, f99) = latency(iterations, || {
        black_box(noop.evaluate(&message));
    });
    println!(
        "  one no-op plugin (the sandbox's floor per call): median {f50:>8.2?}  p99 {f99:>8.2?}"
    );

    // An infinite loop must be stopped within 2x its deadline.
    let deadline_ms = 10;
    let manifest = Manifest::parse(&format!(
        "version = 1\n[[plugins]]\nname = \"spin\"\npath = \"target/plugins/fixtures/misbehave.wasm\"\n\
         deadline_ms = {deadline_ms}\nbreaker = {{ failures = 1000000 }}\nconfig = {{ on_check = \"loop\" }}\n"
    ))
    .expect("manifest");
    let ctx = context(&engine, Arc::new(ManualClock::new(0)));
    let spin = Chain::load(&ctx, &manifest, &repo(), 1).expect("spin loads");
    let runs = if benching { 50 } else { 3 };
    let samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let d = spin.evaluate(&Message::default());
            assert!(d.trace[0].error.is_some(), "the loop was interrupted");
            t.elapsed()
        })
        .collect();
    let max = *samples.iter().max().expect("samples");
    let (s50, s99) = percentiles(samples);
    println!(
        "infinite loop, deadline {deadline_ms} ms, {runs} runs (includes re-instantiation): median {s50:.2?}, p99 {s99:.2?}, max {max:.2?} = {:.2}x the deadline",
        max.as_secs_f64() * 1000.0 / deadline_ms as f64
    );
}
