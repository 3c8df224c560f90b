//! System packages the tests and the stack need (redis-server, nats-server, haproxy): found on
//! PATH, or installed with apt-get when running as root (CI, fresh machines), or a failure that
//! names the exact install line. Python tools (schemathesis) likewise, with pip.

use std::process::{Command, Stdio};

use anyhow::{bail, Result};

use crate::shell;

/// The Debian package that provides `binary`.
fn package_of(binary: &str) -> &str {
    match binary {
        "redis-server" | "redis-cli" => "redis-server",
        other => other,
    }
}

fn on_path(binary: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    shell::output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// Make sure every binary is on PATH, installing its package if we may.
pub fn ensure(binaries: &[&str]) -> Result<()> {
    let mut missing: Vec<&str> = binaries
        .iter()
        .filter(|b| !on_path(b))
        .map(|b| package_of(b))
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!("apt-get install -y {}", missing.join(" "));
    if !is_root() {
        bail!(
            "missing {}: install with `sudo apt-get update && sudo {line}`",
            missing.join(", ")
        );
    }
    eprintln!("installing {} (apt-get)", missing.join(", "));
    shell::run(Command::new("apt-get").args(["update", "-qq"]))?;
    shell::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq"])
            .args(&missing),
    )?;
    if let Some(b) = binaries.iter().find(|b| !on_path(b)) {
        bail!("{b} is still missing after `{line}`");
    }
    Ok(())
}

/// Schemathesis, pinned: the API conformance test runs it against a live host.
pub const SCHEMATHESIS: (&str, &str) = ("schemathesis", "schemathesis==4.32.5");

/// Make sure each `(binary, pip requirement)` is on PATH, installing it with pip if not.
pub fn ensure_pip(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(binary, _)| !on_path(binary))
        .map(|(_, requirement)| *requirement)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!("python3 -m pip install {}", missing.join(" "));
    eprintln!("installing {} (pip)", missing.join(", "));
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "-q"])
        .args(&missing)
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        bail!("could not install {}: run `{line}`", missing.join(", "));
    }
    if let Some((b, _)) = tools.iter().find(|(b, _)| !on_path(b)) {
        bail!("{b} is still not on PATH after `{line}`");
    }
    Ok(())
}
