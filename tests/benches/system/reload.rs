//! Hot reload: time from writing a file to the new generation being live, through the real
//! file watcher, for a config-only change (components unchanged, so nothing is compiled) and
//! for a new component (compiled). Baseline in the same run: the same change applied by a
//! direct `Reloader::reload_file` call (no watcher, no debounce).
//!
//! Run with `cargo bench -p chowk-tests --bench system -- reload` (or `cargo xtask bench`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chowk_host::clock::SystemClock;
use chowk_host::plugins::reload::{ChainSource, Reloader};
use chowk_host::plugins::{ChainContext, MemoryState};
use chowk_tests::measure::latencies;
use tokio_util::sync::CancellationToken;

fn manifest(word: &str) -> String {
    format!(
        "version = 1\n[[plugins]]\nname = \"keyword-filter\"\npath = \"keyword-filter.wasm\"\n\
         [[plugins.config.lists]]\nname = \"b\"\naction = \"reject\"\nterms = [\"{word}\"]\n\
         [[plugins]]\nname = \"spam-rules\"\npath = \"spam-rules.wasm\"\n\
         [[plugins]]\nname = \"rate-limit\"\npath = \"rate-limit.wasm\"\n"
    )
}

/// A copy of `bytes` with a custom section appended: the same component, a new content hash.
fn with_custom_section(bytes: &[u8], tag: u64) -> Vec<u8> {
    let name = b"chowk-bench";
    let payload = tag.to_le_bytes();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8); // fits one LEB128 byte
    out.extend_from_slice(&section);
    out
}

/// Wait until the live generation passes `from`; the time since `start`.
fn until_past(reloader: &Reloader, from: u64, start: Instant) -> Duration {
    let deadline = start + Duration::from_secs(10);
    while reloader.generation() <= from {
        assert!(Instant::now() < deadline, "no reload within 10 s");
        std::thread::sleep(Duration::from_micros(100));
    }
    start.elapsed()
}

pub fn run(benching: bool) {
    // As a test (`cargo test`), two config changes and no new component: a new component
    // costs seconds of a debug-built Cranelift, and the integration tests cover that path.
    let (config_runs, component_runs) = if benching { (50, 15) } else { (2, 0) };
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = chowk_tests::plugins_dir();
    for name in ["keyword-filter", "spam-rules", "rate-limit"] {
        std::fs::copy(
            plugins.join(format!("{name}.wasm")),
            dir.path().join(format!("{name}.wasm")),
        )
        .expect("copy");
    }
    let spam = std::fs::read(plugins.join("spam-rules.wasm")).expect("read");
    let path = dir.path().join("plugins.toml");
    std::fs::write(&path, manifest("first")).expect("write");
    let clock = Arc::new(SystemClock);
    let ctx = ChainContext {
        engine: chowk_tests::engine(),
        state: Arc::new(MemoryState::new(clock.clone())),
        clock,
        max_text_chars: chowk_host::ids::DEFAULT_TEXT_CHARS,
    };
    let source = ChainSource::from_file(&path).expect("source");
    let reloader = Arc::new(Reloader::start(ctx, &source, 1).expect("chain"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let stop = CancellationToken::new();
    let watcher = rt
        .block_on(async {
            chowk_host::plugins::watch::spawn(reloader.clone(), path.clone(), stop.clone())
        })
        .expect("watcher");

    let mut n = 0u64;
    let mut config_change = |watched: bool| {
        n += 1;
        let from = reloader.generation();
        let start = Instant::now();
        std::fs::write(&path, manifest(&format!("word{n}"))).expect("write");
        if watched {
            until_past(&reloader, from, start)
        } else {
            reloader.reload_file(&path).expect("reload");
            start.elapsed()
        }
    };
    let direct = |reloader: &Reloader, path: &Path| {
        reloader.reload_file(path).expect("reload");
    };
    // Baseline first, with the watcher stopped so it does not race the direct reloads.
    stop.cancel();
    rt.block_on(watcher).expect("watcher stops");
    let config_direct: Vec<Duration> = (0..config_runs).map(|_| config_change(false)).collect();
    let component_direct: Vec<Duration> = (0..component_runs)
        .map(|i| {
            let start = Instant::now();
            std::fs::write(
                dir.path().join("spam-rules.wasm"),
                with_custom_section(&spam, 1_000 + i),
            )
            .expect("write");
            direct(&reloader, &path);
            start.elapsed()
        })
        .collect();

    let stop = CancellationToken::new();
    let watcher = rt
        .block_on(async {
            chowk_host::plugins::watch::spawn(reloader.clone(), path.clone(), stop.clone())
        })
        .expect("watcher");
    let config_watched: Vec<Duration> = (0..config_runs)
        .map(|_| {
            let d = config_change(true);
            // Let the watcher's debounce window close before the next write.
            std::thread::sleep(Duration::from_millis(50));
            d
        })
        .collect();
    let component_watched: Vec<Duration> = (0..component_runs)
        .map(|i| {
            let from = reloader.generation();
            let start = Instant::now();
            std::fs::write(
                dir.path().join("spam-rules.wasm"),
                with_custom_section(&spam, 2_000 + i),
            )
            .expect("write");
            let d = until_past(&reloader, from, start);
            std::thread::sleep(Duration::from_millis(50));
            d
        })
        .collect();
    stop.cancel();
    rt.block_on(watcher).expect("watcher stops");

    let (cw, cd) = (latencies(config_watched), latencies(config_direct));
    let (cw50, cw99, cd50) = (cw.median, cw.max, cd.median);
    println!("\nfile write → new generation live (3-plugin chain; {config_runs} config changes, {component_runs} new components):");
    println!(
        "  config-only, watched   median {cw50:>9.2?}  max {cw99:>9.2?}   direct reload median {cd50:>9.2?}  ratio {:.1}x   target < 100 ms",
        cw50.as_secs_f64() / cd50.as_secs_f64()
    );
    if component_runs == 0 {
        return;
    }
    let (nw, nd) = (latencies(component_watched), latencies(component_direct));
    let (nw50, nw99, nd50) = (nw.median, nw.max, nd.median);
    println!(
        "  new component, watched median {nw50:>9.2?}  max {nw99:>9.2?}   direct reload median {nd50:>9.2?}  ratio {:.1}x   target < 1 s",
        nw50.as_secs_f64() / nd50.as_secs_f64()
    );
}
