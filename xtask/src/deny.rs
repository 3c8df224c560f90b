//! `cargo deny` in the lint: RustSec advisories, licenses, bans and sources of both workspaces
//! (the host's and the plugins'), against `deny.toml`. Installs cargo-deny when it is missing.
//! The advisory database is a git repository on github.com: where github.com cannot be reached
//! (this project's CI machines reach only the package registries) the advisories check says so
//! loudly and the other checks still run; anywhere else a failed advisories check fails.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

use crate::shell;

/// The cargo-deny release the lint uses.
const VERSION: &str = "0.20.2";

fn installed() -> bool {
    Command::new("cargo")
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Check both workspaces.
pub fn check(root: &Path) -> Result<()> {
    if !installed() {
        eprintln!("installing cargo-deny {VERSION}");
        shell::run(Command::new("cargo").args([
            "install",
            "cargo-deny",
            "--locked",
            "--version",
            VERSION,
        ]))?;
        if !installed() {
            bail!("cargo-deny is missing: `cargo install cargo-deny --locked --version {VERSION}`");
        }
    }
    let config = root.join("deny.toml");
    let deny = |manifest: &str, checks: &[&str]| {
        let mut cmd = Command::new("cargo");
        cmd.args(["deny", "--manifest-path"])
            .arg(root.join(manifest))
            .arg("--config")
            .arg(&config)
            .arg("check")
            .args(checks);
        cmd
    };
    for manifest in ["Cargo.toml", "plugins/Cargo.toml"] {
        shell::run(&mut deny(manifest, &["licenses", "bans", "sources"]))?;
        if let Err(e) = shell::run(&mut deny(manifest, &["advisories"])) {
            if github_reachable() {
                return Err(e);
            }
            eprintln!(
                "WARNING: advisories NOT checked for {manifest}: the RustSec database \
                 (github.com/rustsec/advisory-db) cannot be reached from this machine"
            );
        }
    }
    Ok(())
}

fn github_reachable() -> bool {
    Command::new("git")
        .args([
            "ls-remote",
            "https://github.com/rustsec/advisory-db",
            "HEAD",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}
