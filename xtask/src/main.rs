//! `cargo xtask`: the project's build automation. Builds the wasm plugins (their own workspace
//! under `plugins/`) into components, runs the test suite exactly as CI does, and starts a dev
//! server.

mod corpus;
mod deny;
mod fuzz;
mod packages;
mod plugins;
mod shell;
mod stack;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Chowk build automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build every plugin and test fixture to `target/plugins/` (release, componentised).
    Plugins,
    /// The one test command: build the plugins and the `chowk` binary, then run every test
    /// (host and plugin crates).
    Test,
    /// Build the plugins and start `chowk serve --dev` on the embedded default (no Redis or
    /// NATS needed); prints the URL, an admin and a member token, and example requests.
    Run {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// The production topology on this machine: Redis primary + 2 replicas + 3 Sentinels,
    /// HAProxy routing to the primary, NATS with JetStream, on free ports; writes and prints a
    /// matching chowk.toml; stops everything on Ctrl-C.
    Stack {
        /// Folder for the stack's data, logs and chowk.toml (cleared first).
        #[arg(long, default_value = "target/stack")]
        dir: std::path::PathBuf,
    },
    /// Formatting, `cargo deny` (advisories, licenses, bans, sources) and clippy checks over
    /// both workspaces, as CI runs them. The host workspace is linted by building its tests
    /// with clippy as the compiler, so `cargo xtask test` afterwards compiles nothing again.
    Lint,
    /// Build the plugins, then run the benchmarks: the plugin chain (wasm vs native, loop
    /// interruption), the store (vs bare Redis commands), the relay (vs bare NATS), the HTTP
    /// API (vs an empty HTTP round trip) and hot reload (watched vs a direct reload).
    Bench,
    /// The long reliability runs (RELIABILITY.md): every `reliability::` scenario with many
    /// faults (≥ 20 primary kills with Sentinel and with HAProxy), one at a time, printing the
    /// checker's figures.
    Reliability {
        /// Only the scenarios whose test name contains this.
        #[arg(default_value = "reliability::")]
        filter: String,
    },
    /// The fuzz targets under libFuzzer (nightly and cargo-fuzz): request validation,
    /// `plugins.toml` and `chowk.toml` parsing, plugin verdicts. `cargo xtask test` runs the
    /// same targets on random inputs; this is the long run, by hand.
    Fuzz {
        /// One target (request, manifest, config, verdict); all of them if omitted.
        target: Option<String>,
        /// How long each target runs.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// The load tool (BENCHMARKS.md, "Load"): builds the plugins and the release `chowk` and
    /// `chowk-load`, then runs it on its own Redis (primary + replica) and NATS: the bare
    /// baseline, an empty chain and the default chain, open loop. Arguments go to the tool:
    /// `cargo xtask load -- --knee`, `--rate 2000`, `--acks 1`, `--smoke`, `--help`.
    Load {
        /// Arguments of `chowk-load`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build, then run `chowk eval --corpus` on a labelled TSV corpus and print recall, ham
    /// flagged, rules by label and families (default: ../shared/corpus/sms-spam.tsv; try
    /// corpus/sme/heldout.tsv, or PATH:odd for one half).
    Corpus {
        /// The TSV corpus.
        #[arg(default_value = "../shared/corpus/sms-spam.tsv")]
        tsv: String,
        /// The chain to evaluate.
        #[arg(long, default_value = "plugins.toml")]
        plugins: std::path::PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = shell::project_root()?;
    std::env::set_current_dir(&root)?;
    match cli.command {
        Command::Plugins => plugins::build(&root),
        Command::Run { listen } => {
            plugins::build(&root)?;
            shell::cargo(&[
                "run",
                "--locked",
                "-p",
                "chowk-host",
                "--bin",
                "chowk",
                "--",
                "serve",
                "--dev",
                "--listen",
                &listen,
            ])
        }
        Command::Stack { dir } => stack::run(&dir),
        Command::Test => {
            // The services the tests start themselves, on free ports (never the machine's own).
            packages::ensure(&["redis-server", "nats-server", "haproxy"])?;
            packages::ensure_pip(&[packages::SCHEMATHESIS])?;
            build_all(&root)?;
            let mut counts = shell::TestCounts::default();
            let result = run_tests(&mut counts);
            println!(
                "tests: {} passed, {} failed, {} skipped",
                counts.passed, counts.failed, counts.ignored
            );
            result
        }
        Command::Lint => {
            shell::cargo(&["fmt", "--all", "--", "--check"])?;
            shell::cargo(&[
                "fmt",
                "--manifest-path",
                "plugins/Cargo.toml",
                "--all",
                "--",
                "--check",
            ])?;
            shell::cargo(&["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"])?;
            deny::check(&root)?;
            build_all(&root)
        }
        Command::Bench => {
            plugins::build(&root)?;
            shell::cargo(&[
                "bench",
                "--locked",
                "-p",
                "chowk-tests",
                "--bench",
                "system",
            ])
        }
        Command::Load { args } => {
            packages::ensure(&["redis-server", "nats-server"])?;
            plugins::build(&root)?;
            shell::cargo(&[
                "build",
                "--release",
                "--locked",
                "-p",
                "chowk-host",
                "-p",
                "chowk-tests",
                "--bin",
                "chowk",
                "--bin",
                "chowk-load",
            ])?;
            shell::run(
                std::process::Command::new(root.join("target/release/chowk-load")).args(&args),
            )
        }
        Command::Corpus { tsv, plugins } => corpus::run(&root, &tsv, &plugins),
        Command::Fuzz { target, seconds } => {
            packages::ensure(&["redis-server"])?;
            plugins::build(&root)?;
            fuzz::run(&root, target.as_deref(), seconds)
        }
        Command::Reliability { filter } => {
            packages::ensure(&["redis-server", "nats-server", "haproxy"])?;
            build_all(&root)?;
            // One scenario at a time: each loads the machine with its own processes, and the
            // outage figures should not include another scenario's load.
            shell::run(
                shell::linted_cargo()
                    .env("CHOWK_RELIABILITY", "long")
                    .args([
                        "test",
                        "--locked",
                        "-p",
                        "chowk-tests",
                        "--test",
                        "it",
                        "--",
                    ])
                    .args([filter.as_str(), "--nocapture", "--test-threads", "1"]),
            )
        }
    }
}

/// The wasm components and the linted test build, side by side: the components' release build
/// has long single-threaded stretches (LTO, one codegen unit) that leave a core to the host
/// build. They use different target folders, so neither waits for the other's lock.
fn build_all(root: &std::path::Path) -> Result<()> {
    std::thread::scope(|scope| {
        let components = scope.spawn(|| plugins::build(root));
        let host = build_linted();
        let components = components
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the plugin build panicked")));
        host.and(components)
    })?;
    // After the components: their build may have added a new plugin crate to the workspace.
    let mut plugins = PLUGIN_TESTS.to_vec();
    plugins.push("--no-run");
    shell::cargo_linted(&plugins)
}

/// Build every target of the host workspace for testing, with clippy linting the workspace's
/// crates in the same compilation. This also builds `target/debug/chowk`, the binary the
/// process tests run (cargo builds a package's binaries for its integration tests); a separate
/// `cargo build --bin chowk` would build many dependencies again without the test-only features.
fn build_linted() -> Result<()> {
    shell::cargo_linted(&[
        "test",
        "--workspace",
        "--tests",
        "--benches",
        "--locked",
        "--no-run",
    ])
}

/// `cargo ...` for the plugins' native tests: their own workspace, and their own target folder.
/// Sharing `target/debug` with the host workspace would make the two overwrite each other's
/// builds of the crates both use (chowk-sdk, the plugins), which each compiles differently
/// (a workspace member is linted, a path dependency is not).
const PLUGIN_TESTS: [&str; 7] = [
    "test",
    "--manifest-path",
    "plugins/Cargo.toml",
    "--workspace",
    "--locked",
    "--target-dir",
    "target/plugins-native",
];

/// Every test of both workspaces: host crates (unit, integration and doc tests), the
/// benchmarks in test mode (a few iterations each), then the plugins' native tests. The target
/// selections match [`build_linted`]'s, so nothing is built again: `cargo test --doc` alone, or
/// `--all-targets`, would resolve features differently and rebuild dozens of dependencies.
fn run_tests(counts: &mut shell::TestCounts) -> Result<()> {
    shell::cargo_test(&["--workspace", "--locked"], counts)?;
    // `--bench "*"`, not `--benches`: that would run the libraries' unit tests a second time.
    shell::cargo_test(&["--workspace", "--bench", "*", "--locked"], counts)?;
    shell::cargo_test(&PLUGIN_TESTS[1..], counts)
}
