//! `cargo xtask fuzz`: the libFuzzer targets of `fuzz/` (cargo-fuzz needs nightly), each run for
//! a set time with its corpus kept under `fuzz/corpus/<target>/`. What each target checks is in
//! `chowk_tests::fuzz`.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

use crate::shell;

/// The targets, as `fuzz/Cargo.toml` names them.
const TARGETS: [&str; 4] = ["request", "manifest", "config", "verdict"];

/// Run `target` (or every target) for `seconds` each.
pub fn run(root: &Path, target: Option<&str>, seconds: u64) -> Result<()> {
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !nightly {
        bail!("the fuzz targets need a nightly toolchain: `rustup toolchain install nightly`");
    }
    let cargo_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !cargo_fuzz {
        bail!("the fuzz targets need cargo-fuzz: `cargo install cargo-fuzz --locked`");
    }
    let targets: Vec<&str> = match target {
        Some(t) if TARGETS.contains(&t) => vec![t],
        Some(t) => bail!("no fuzz target {t}; the targets are {}", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    for target in targets {
        shell::run(
            Command::new("cargo")
                .current_dir(root.join("fuzz"))
                .args(["+nightly", "fuzz", "run", target, "--"])
                .arg(format!("-max_total_time={seconds}"))
                .arg("-rss_limit_mb=4096"),
        )?;
    }
    Ok(())
}
