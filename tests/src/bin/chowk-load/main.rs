//! `chowk-load`: the load tool (`cargo xtask load`). It starts Redis (primary + replica) and
//! nats-server on free ports, then one target at a time on them — the bare minimum (axum +
//! XADD + publish), Chowk with an empty chain, Chowk with the default chain — and drives each
//! open loop (requests on a fixed schedule, latency from the time each was due) with trade chat
//! from many senders into many rooms. It reports POST latency, POST → NATS subscriber latency,
//! SSE delivery, NATS ingest request-reply and 50-message history reads, CPU per message of
//! every process, the host's peak memory, the Redis commands a post costs, the first request
//! after `/readyz`, and a knee search (the highest rate whose p99 POST stays under 2 ms).
//! Baselines run in the same invocation, so ratios survive a noisy machine.

mod bare;
mod census;
mod mix;
mod open_loop;
mod procs;
mod target;
mod traffic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use serde_json::json;

use crate::open_loop::summary;
use crate::procs::CpuSnapshot;
use crate::target::{Stores, Target};
use crate::traffic::{Arrivals, Crowd};

#[derive(Parser)]
#[command(name = "chowk-load", about = "Open-loop load tool for Chowk")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// The bare baseline server (started by the tool itself).
    BareServer {
        #[arg(long)]
        redis: String,
        #[arg(long)]
        nats: String,
    },
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Posts per second of the main run.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Length of the main run (default chain), in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Length of each baseline run (bare, empty chain), in seconds.
    #[arg(long, default_value_t = 20)]
    baseline_seconds: u64,
    /// `min_replica_acks` of the Chowk hosts.
    #[arg(long, default_value_t = 0)]
    acks: u32,
    /// The `chowk` binary (default: next to this one).
    #[arg(long)]
    chowk: Option<PathBuf>,
    /// Folder with `plugins.toml`, `target/plugins/` and `models/` (default: the repository).
    #[arg(long)]
    chain_root: Option<PathBuf>,
    #[arg(long, default_value_t = 1000)]
    rooms: usize,
    #[arg(long, default_value_t = 50_000)]
    senders: usize,
    /// History reads per second during the main run (50-message pages).
    #[arg(long, default_value_t = 500.0)]
    history_rate: f64,
    /// NATS ingest requests per second during the main run.
    #[arg(long, default_value_t = 50.0)]
    ingest_rate: f64,
    /// Rooms watched over SSE during the main run.
    #[arg(long, default_value_t = 10)]
    sse_rooms: usize,
    /// Posts counted under `MONITOR` for the Redis commands per message (at least 1).
    #[arg(long, default_value_t = 200,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    census_posts: usize,
    /// Search the knee of every target (5-second steps from 250/s, ×1.25).
    #[arg(long)]
    knee: bool,
    /// Skip the baselines (bare, empty chain, redis-benchmark).
    #[arg(long)]
    no_baselines: bool,
    /// The CI smoke run: 10 s at 100/s on a small crowd, no baselines, no knee.
    #[arg(long)]
    smoke: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Some(Command::BareServer { redis, nats }) => runtime.block_on(bare::serve(&redis, &nats)),
        None => {
            let mut args = cli.run;
            if args.smoke {
                args = RunArgs {
                    rate: 100.0,
                    seconds: 10,
                    rooms: 50,
                    senders: 2000,
                    history_rate: 20.0,
                    ingest_rate: 10.0,
                    sse_rooms: 2,
                    census_posts: 50,
                    knee: false,
                    no_baselines: true,
                    ..args
                };
            }
            runtime.block_on(run(args))
        }
    }
}

/// One run of posts against one target, with the CPU each process used.
struct Phase {
    sent: usize,
    failed: usize,
    statuses: String,
    post: Histogram<u64>,
    e2e: Histogram<u64>,
    relayed: usize,
    stored: usize,
    cpu: Vec<(String, f64)>,
    achieved: f64,
}

impl Phase {
    fn cpu_us_per_post(&self, name: &str) -> f64 {
        let s = self
            .cpu
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, s)| *s);
        s / self.sent.max(1) as f64 * 1e6
    }

    fn print(&self, label: &str) {
        println!(
            "  {label}: {} posts sent ({:.0}/s answered), answers {}",
            self.sent, self.achieved, self.statuses
        );
        println!("    POST          {}", summary(&self.post));
        println!(
            "    POST → NATS   {} ({} of {} stored relayed)",
            summary(&self.e2e),
            self.relayed,
            self.stored
        );
        let cpu: Vec<String> = self
            .cpu
            .iter()
            .map(|(n, s)| format!("{n} {:.1} µs", s / self.sent.max(1) as f64 * 1e6))
            .collect();
        println!("    CPU per post  {}", cpu.join(", "));
    }
}

struct Run {
    args: RunArgs,
    stores: Stores,
    crowd: Arc<Crowd>,
    arrivals: Arrivals,
    seq: u64,
}

impl Run {
    async fn phase(&mut self, target: &Target, rate: f64, seconds: u64) -> Phase {
        let mut procs = vec![("host".to_owned(), target.pid)];
        procs.extend(self.stores.processes());
        let before = CpuSnapshot::take(&procs);
        let started = Instant::now();
        let posts = traffic::post(
            &self.crowd,
            target,
            rate,
            Duration::from_secs(seconds),
            self.seq,
        )
        .await;
        let wall = started.elapsed();
        self.seq += (rate * seconds as f64) as u64;
        let stored = posts
            .stored
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.arrivals
            .wait_for(&stored, Duration::from_secs(5))
            .await;
        let cpu = CpuSnapshot::take(&procs).since(&before);
        let (e2e, relayed) = self.arrivals.latency_of(&stored);
        let statuses = format!(
            "{:?}",
            posts.statuses.lock().unwrap_or_else(|e| e.into_inner())
        );
        let sent = (rate * seconds as f64).round() as usize;
        Phase {
            sent,
            failed: posts.failed(),
            statuses,
            post: posts.latency.snapshot(),
            e2e: e2e.snapshot(),
            relayed,
            stored: stored.len(),
            cpu,
            achieved: posts.answered() as f64 / wall.as_secs_f64(),
        }
    }

    /// Steps of 5 s from 250/s, ×1.25, until p99 POST passes 100 ms or more than 1% fail:
    /// the knee is the highest rate with p99 under 2 ms and at most 0.1% failed; saturation
    /// the highest that still kept up.
    async fn knee(&mut self, target: &Target) -> (f64, f64) {
        let (mut knee, mut saturation, mut rate) = (0.0, 0.0, 250.0);
        println!("  knee search ({}):", target.name);
        for _ in 0..20 {
            let p = self.phase(target, rate, 5).await;
            let p99_ms = p.post.value_at_quantile(0.99) as f64 / 1000.0;
            let failed = p.failed as f64 / p.sent.max(1) as f64;
            println!(
                "    {rate:>7.0}/s  p50 {:.3} ms  p99 {p99_ms:.3} ms  failed {:.2}%  host CPU {:.0} µs/post",
                p.post.value_at_quantile(0.5) as f64 / 1000.0,
                failed * 100.0,
                p.cpu_us_per_post("host")
            );
            if p99_ms < 2.0 && failed <= 0.001 {
                knee = rate;
            }
            if p99_ms >= 100.0 || failed > 0.01 {
                break;
            }
            saturation = rate;
            rate *= 1.25;
            // Let a backlog of the step drain before the next one.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        println!("    knee {knee:.0}/s, saturation {saturation:.0}/s");
        (knee, saturation)
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let chowk = args
        .chowk
        .clone()
        .unwrap_or_else(target::default_chowk_binary);
    anyhow::ensure!(chowk.is_file(), "{} is missing: build it with `cargo build --release -p chowk-host` (`cargo xtask load` does)", chowk.display());
    let chain_root = args
        .chain_root
        .clone()
        .unwrap_or_else(chowk_tests::repo_root);
    let default_chain = target::chain_text(&chain_root)?;
    println!(
        "# chowk-load: {} ({} cores), {}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        chowk.display()
    );
    println!(
        "rate {}/s for {} s (baselines {} s), {} rooms, {} senders, min_replica_acks {}",
        args.rate, args.seconds, args.baseline_seconds, args.rooms, args.senders, args.acks
    );
    let stores = Stores::start();
    let nats = async_nats::connect(stores.nats.url()).await?;
    let arrivals = Arrivals::default();
    arrivals.subscribe(&nats, "chowk.room").await?;
    arrivals.subscribe(&nats, "bare.room").await?;
    let crowd = Arc::new(Crowd::new(args.senders, args.rooms)?);
    let mut run = Run {
        args: args.clone(),
        stores,
        crowd,
        arrivals,
        seq: 0,
    };
    let mut summary_lines = Vec::new();

    if !args.no_baselines {
        println!("\n## redis-benchmark XADD (4 clients, 100,000 requests)");
        let rps = redis_benchmark(run.stores.primary.port())?;
        println!("  {rps:.0} requests/s");
        summary_lines.push(format!("redis-benchmark XADD: {rps:.0}/s"));

        println!("\n## bare minimum (axum + XADD + publish)");
        let bare = Target::bare(&run.stores)?;
        bare.wait_ready(&run.crowd.client).await?;
        run.phase(&bare, args.rate, 1).await; // warm-up
        let p = run.phase(&bare, args.rate, args.baseline_seconds).await;
        p.print(&format!("{}/s", args.rate));
        let bare_cpu = p.cpu_us_per_post("host");
        summary_lines.push(format!(
            "bare: host CPU {bare_cpu:.1} µs/post, POST p99 {:.3} ms",
            p99(&p.post)
        ));
        if args.knee {
            let (k, s) = run.knee(&bare).await;
            summary_lines.push(format!("bare: knee {k:.0}/s, saturation {s:.0}/s"));
        }
        drop(bare);

        println!("\n## Chowk, empty chain");
        let empty = start_chowk(&mut run, "empty chain", &chowk, target::EMPTY_CHAIN).await?;
        let p = run.phase(&empty, args.rate, args.baseline_seconds).await;
        p.print(&format!("{}/s", args.rate));
        let empty_cpu = p.cpu_us_per_post("host");
        summary_lines.push(format!(
            "empty chain: host CPU {empty_cpu:.1} µs/post ({:.2}× bare), POST p99 {:.3} ms",
            empty_cpu / bare_cpu,
            p99(&p.post)
        ));
        if args.knee {
            let (k, s) = run.knee(&empty).await;
            summary_lines.push(format!("empty chain: knee {k:.0}/s, saturation {s:.0}/s"));
        }
        drop(empty);
    }

    println!("\n## Chowk, default chain");
    let host = start_chowk(&mut run, "default chain", &chowk, &default_chain).await?;

    println!(
        "  Redis commands per post ({} posts under MONITOR, relay included):",
        args.census_posts
    );
    let monitor = census::Monitor::start(run.stores.primary.port())?;
    let rate = (args.census_posts as f64 / 2.0).max(1.0);
    let posts = traffic::post(&run.crowd, &host, rate, Duration::from_secs(2), run.seq).await;
    run.seq += args.census_posts as u64;
    let stored = posts
        .stored
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let relayed = run
        .arrivals
        .wait_for(&stored, Duration::from_secs(10))
        .await;
    let seen = monitor.finish();
    let (sent, in_scripts) = (seen.sent_total() as f64, seen.in_scripts_total() as f64);
    let per = |n: f64| n / args.census_posts as f64;
    println!(
        "    {:.2} sent by clients per post ({:.2} per stored message; {} of {} posts stored, relayed: {relayed}), {:.2} more run inside scripts",
        per(sent),
        sent / stored.len().max(1) as f64,
        stored.len(),
        args.census_posts,
        per(in_scripts)
    );
    println!("    sent: {:?}", seen.sent);
    println!("    in scripts: {:?}", seen.in_scripts);
    summary_lines.push(format!(
        "Redis commands per post: {:.2} sent ({:.2} inside scripts)",
        per(sent),
        per(in_scripts)
    ));

    // Pages for the history reads: the first rooms hold at least 50 messages before the run.
    let history_rooms: Vec<String> = run.crowd.rooms.iter().take(20).cloned().collect();
    prefill(&run.crowd, &host, &history_rooms, 55).await?;
    let sse = Arrivals::default();
    for room in run.crowd.rooms.iter().take(args.sse_rooms) {
        sse.watch(&run.crowd, &host.base, room).await?;
    }
    let mut procs = vec![("host".to_owned(), host.pid)];
    procs.extend(run.stores.processes());
    let before = CpuSnapshot::take(&procs);
    let started = Instant::now();
    let seconds = Duration::from_secs(args.seconds);
    let (posts, history, ingest) = tokio::join!(
        traffic::post(&run.crowd, &host, args.rate, seconds, run.seq),
        traffic::history(&run.crowd, &host, history_rooms, args.history_rate, seconds),
        traffic::ingest(&run.crowd, nats.clone(), args.ingest_rate, seconds, run.seq)
    );
    let wall = started.elapsed();
    run.seq += (args.rate * args.seconds as f64) as u64;
    let stored = posts
        .stored
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    run.arrivals.wait_for(&stored, Duration::from_secs(5)).await;
    let cpu = CpuSnapshot::take(&procs).since(&before);
    let (e2e, relayed) = run.arrivals.latency_of(&stored);
    let (sse_latency, sse_seen) = sse.latency_of(&stored);
    let (history, history_failed) = history?;
    let sent = (args.rate * args.seconds as f64) as usize;
    println!(
        "\n  main run: {}/s for {} s: {sent} posts ({:.0}/s answered), answers {:?}",
        args.rate,
        args.seconds,
        posts.answered() as f64 / wall.as_secs_f64(),
        posts.statuses.lock().unwrap_or_else(|e| e.into_inner())
    );
    let post_hist = posts.latency.snapshot();
    println!("    POST          {}", summary(&post_hist));
    println!(
        "    POST → NATS   {} ({relayed} of {} stored relayed)",
        summary(&e2e.snapshot()),
        stored.len()
    );
    println!(
        "    POST → SSE    {} ({sse_seen} delivered on {} streams)",
        summary(&sse_latency.snapshot()),
        args.sse_rooms
    );
    println!(
        "    history (50)  {} at {}/s, {history_failed} failed",
        summary(&history.snapshot()),
        args.history_rate
    );
    println!(
        "    NATS ingest   {} at {}/s, replies {:?}",
        summary(&ingest.0.snapshot()),
        args.ingest_rate,
        ingest.1
    );
    for (name, seconds) in &cpu {
        println!("    CPU {name}: {:.1} µs per post ({seconds:.2} s over the run, history and ingest included)", seconds / sent as f64 * 1e6);
    }
    let rss = procs::peak_rss_mib(host.pid).unwrap_or(0.0);
    println!("    host peak RSS {rss:.1} MiB");
    summary_lines.push(format!(
        "default chain at {}/s: POST p99 {:.3} ms, POST→NATS p99 {:.3} ms, history p99 {:.3} ms, host CPU {:.1} µs/post",
        args.rate,
        p99(&post_hist),
        p99(&e2e.snapshot()),
        p99(&history.snapshot()),
        cpu[0].1 / sent as f64 * 1e6
    ));
    if args.knee {
        let (k, s) = run.knee(&host).await;
        let rss = procs::peak_rss_mib(host.pid).unwrap_or(0.0);
        summary_lines.push(format!(
            "default chain: knee {k:.0}/s, saturation {s:.0}/s, host peak RSS {rss:.1} MiB"
        ));
    }
    println!("\n## Summary");
    for line in summary_lines {
        println!("- {line}");
    }
    Ok(())
}

fn p99(h: &Histogram<u64>) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.value_at_quantile(0.99) as f64 / 1000.0
}

/// Start a Chowk host with `chain` and every room, wait for `/readyz`, time the first post
/// after it, then post for 2 s so that what is measured next is past the host's start (its
/// relay looks at every room once).
async fn start_chowk(
    run: &mut Run,
    name: &str,
    chowk: &std::path::Path,
    chain: &str,
) -> anyhow::Result<Target> {
    let bootstrap = bootstrap_rooms(run.args.rooms);
    let target = Target::chowk(name, chowk, chain, &run.stores, run.args.acks, &bootstrap)?;
    target.wait_ready(&run.crowd.client).await?;
    let token = run.crowd.token(&format!("first-{}", run.seq))?;
    let t = Instant::now();
    let r = run
        .crowd
        .client
        .post(format!(
            "{}/v1/rooms/{}/messages",
            target.base, run.crowd.rooms[0]
        ))
        .bearer_auth(token)
        .json(&json!({ "text": "pehla message: aaj ka rate kya hai?" }))
        .send()
        .await?;
    println!(
        "  first POST after /readyz: {} in {:.3} ms",
        r.status(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    run.phase(&target, run.args.rate.min(500.0), 2).await;
    Ok(target)
}

/// `[[bootstrap.rooms]]` for every room, so they exist before the host reports ready.
fn bootstrap_rooms(rooms: usize) -> String {
    let mut s = String::new();
    for i in 0..rooms {
        s.push_str(&format!("[[bootstrap.rooms]]\nid = \"r{i:04}\"\n"));
    }
    s
}

/// Put `per_room` messages into each of `rooms` (distinct senders, so no limit is reached).
async fn prefill(
    crowd: &Crowd,
    target: &Target,
    rooms: &[String],
    per_room: usize,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    let jobs: Vec<(String, usize)> = rooms
        .iter()
        .flat_map(|r| (0..per_room).map(move |i| (r.clone(), i)))
        .collect();
    let results = futures::stream::iter(jobs.into_iter().enumerate())
        .map(|(n, (room, i))| async move {
            let token = crowd.token(&format!("prefill{n}"))?;
            let r = crowd
                .client
                .post(format!("{}/v1/rooms/{room}/messages", target.base))
                .bearer_auth(token)
                .json(&json!({ "text": crowd.mix.text(i as u64 * 10) }))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "prefill answered {}", r.status());
            Ok(())
        })
        .buffer_unordered(8)
        .collect::<Vec<anyhow::Result<()>>>()
        .await;
    results.into_iter().collect()
}

/// `redis-benchmark` XADD on the primary: requests per second.
fn redis_benchmark(port: u16) -> anyhow::Result<f64> {
    let binary = chowk_tests::servers::require_binary("redis-benchmark", "redis-tools");
    let out = std::process::Command::new(binary)
        .args(["-p", &port.to_string(), "-n", "100000", "-c", "4", "-q"])
        .args([
            "XADD",
            "rb:bench",
            "*",
            "text",
            "kal tak maal bhej dunga, UPI se payment kar dena",
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // `"XADD …": 57803.47 requests per second, p50=…`, after progress lines ending in `\r`.
    let last = text.rsplit('\r').next().unwrap_or(&text);
    let rps = last
        .split("requests per second")
        .next()
        .and_then(|s| s.rsplit(':').next())
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("redis-benchmark said {text:?}"))?;
    Ok(rps)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
