//! Running commands: cargo and rustup, with their output passed through.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The repository root: the parent of this crate's manifest directory.
pub fn project_root() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.parent()
        .map(PathBuf::from)
        .context("xtask has no parent directory")
}

/// A `cargo` command without the variables `cargo run` set for xtask itself
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...): build scripts that watch them would otherwise
/// see them change between `cargo xtask test` and a plain `cargo test`, and rebuild the world.
fn cargo_command() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo_run = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || key == "CARGO_PRIMARY_PACKAGE";
        if set_by_cargo_run {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

/// Run `cargo ARGS` and fail if it fails.
pub fn cargo(args: &[&str]) -> Result<()> {
    run(cargo_command().args(args))
}

/// Run `cargo ARGS` with clippy as the compiler of the workspace's own crates (`-D warnings`):
/// the build both lints and produces the real artifacts, so the lint and the tests compile the
/// workspace once instead of once for `cargo clippy` (check) and once for `cargo test`. This is
/// what `cargo clippy` itself does (clippy-driver is a full rustc), with codegen left on.
pub fn cargo_linted(args: &[&str]) -> Result<()> {
    run(linted(cargo_command()).args(args))
}

/// `cargo` with clippy-driver as the workspace's compiler (so it reuses the linted build).
pub fn linted_cargo() -> Command {
    linted(cargo_command())
}

/// `cmd` with clippy-driver as the workspace's compiler and warnings denied.
fn linted(mut cmd: Command) -> Command {
    let driver = output(Command::new("rustup").args(["which", "clippy-driver"]))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "clippy-driver".into());
    cmd.env("RUSTC_WORKSPACE_WRAPPER", driver)
        .env("CLIPPY_ARGS", LINTS.join("__CLIPPY_HACKERY__"));
    cmd
}

/// The lint arguments, as `cargo clippy -- ARGS` would pass them.
const LINTS: [&str; 2] = ["-D", "warnings"];

/// Run a command, echoing it first, and fail with its exit status.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("could not start {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed: {status}", describe(cmd));
    }
    Ok(())
}

/// Run a command and capture its standard output.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("could not start {}", describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}\n{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Test counts summed over `cargo test` runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

/// Run `cargo test ARGS` (built as [`cargo_linted`] builds, so nothing is compiled twice),
/// passing its output through, and add its `test result:` lines to `counts`. Fails if cargo
/// fails.
pub fn cargo_test(args: &[&str], counts: &mut TestCounts) -> Result<()> {
    let mut cmd = linted(cargo_command());
    cmd.arg("test").args(args).stdout(Stdio::piped());
    eprintln!("$ {}", describe(&cmd));
    let mut child = cmd.spawn().context("could not start cargo test")?;
    let stdout = child.stdout.take().context("cargo test stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(label), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let n: u64 = n.parse().unwrap_or(0);
                match label {
                    "passed" => counts.passed += n,
                    "failed" => counts.failed += n,
                    "ignored" => counts.ignored += n,
                    _ => {}
                }
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{} failed: {status}", describe(&cmd));
    }
    Ok(())
}
