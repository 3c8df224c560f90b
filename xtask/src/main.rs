//! `cargo xtask`: the project's build automation. Builds the wasm plugins (their own workspace
//! under `plugins/`) into components, runs the test suite exactly as CI does, and starts a dev
//! server.

mod corpus;
mod plugins;
mod shell;

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
    /// Formatting and clippy checks over both workspaces, as CI runs them.
    Lint,
    /// Build the plugins, then run the benchmarks: the plugin chain (wasm vs native, loop
    /// interruption), the store (vs bare Redis commands), the relay (vs bare NATS), the HTTP
    /// API (vs an empty HTTP round trip) and hot reload (watched vs a direct reload).
    Bench,
    /// Build, then run `chowk eval` on a labelled `label<TAB>text` corpus and print recall and
    /// false-positive rate (default corpus: ../shared/corpus/sms-spam.tsv).
    Corpus {
        /// The TSV corpus.
        #[arg(default_value = "../shared/corpus/sms-spam.tsv")]
        tsv: std::path::PathBuf,
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
                "--quiet",
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
        Command::Test => {
            plugins::build(&root)?;
            // The process tests run the real binary from target/debug.
            shell::cargo(&["build", "--locked", "-p", "chowk-host", "--bin", "chowk"])?;
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
            plugins::build(&root)?;
            shell::cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ])?;
            shell::cargo(&[
                "clippy",
                "--manifest-path",
                "plugins/Cargo.toml",
                "--workspace",
                "--all-targets",
                "--locked",
                "--target-dir",
                "target",
                "--",
                "-D",
                "warnings",
            ])
        }
        Command::Bench => {
            plugins::build(&root)?;
            shell::cargo(&["bench", "--locked", "-p", "chowk-host", "--bench", "chain"])?;
            shell::cargo(&["bench", "--locked", "-p", "chowk-tests", "--bench", "store"])?;
            shell::cargo(&["bench", "--locked", "-p", "chowk-tests", "--bench", "relay"])?;
            shell::cargo(&["bench", "--locked", "-p", "chowk-tests", "--bench", "api"])?;
            shell::cargo(&[
                "bench",
                "--locked",
                "-p",
                "chowk-tests",
                "--bench",
                "reload",
            ])
        }
        Command::Corpus { tsv, plugins } => corpus::run(&root, &tsv, &plugins),
    }
}

/// Every test of both workspaces: host crates (unit, integration, benches in test mode), doc
/// tests, then the plugins' native tests.
fn run_tests(counts: &mut shell::TestCounts) -> Result<()> {
    shell::cargo_test(&["--workspace", "--all-targets", "--locked"], counts)?;
    shell::cargo_test(&["--workspace", "--doc", "--locked"], counts)?;
    shell::cargo_test(
        &[
            "--manifest-path",
            "plugins/Cargo.toml",
            "--workspace",
            "--locked",
            "--target-dir",
            "target",
        ],
        counts,
    )
}
