//! Building the plugins workspace to wasm components in `target/plugins/`.
//!
//! Plugins are compiled for `wasm32-unknown-unknown` and turned into components here with
//! `wit-component`, so a Chowk plugin imports only the `chowk:plugin` interfaces and no WASI at
//! all. The `misbehave` fixture is also built for `wasm32-wasip2`, as the example of a component
//! that asks for capabilities the host does not give.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::shell;

const TARGETS: [&str; 2] = ["wasm32-unknown-unknown", "wasm32-wasip2"];

/// Build every plugin (`plugins/<name>`) to `target/plugins/<name>.wasm` and every fixture
/// (`plugins/hostile/<name>`) to `target/plugins/fixtures/<name>.wasm`.
pub fn build(root: &Path) -> Result<()> {
    ensure_targets()?;
    let manifest = root.join("plugins/Cargo.toml");
    let target_dir = root.join("target/wasm");
    let manifest_s = manifest.to_string_lossy();
    let target_dir_s = target_dir.to_string_lossy();
    let common = [
        "--release",
        "--locked",
        "--manifest-path",
        &*manifest_s,
        "--target-dir",
        &*target_dir_s,
    ];
    let mut args = vec!["build", "--workspace", "--target", TARGETS[0]];
    args.extend(common);
    shell::cargo(&args)?;
    let mut args = vec!["build", "-p", "misbehave", "--target", TARGETS[1]];
    args.extend(common);
    shell::cargo(&args)?;

    let out = root.join("target/plugins");
    fs::create_dir_all(out.join("fixtures"))?;
    let core_dir = target_dir.join(TARGETS[0]).join("release");
    for (dir, dest) in [
        (root.join("plugins"), out.clone()),
        (root.join("plugins/hostile"), out.join("fixtures")),
    ] {
        for name in crate_dirs(&dir)? {
            let core = core_dir.join(format!("{}.wasm", name.replace('-', "_")));
            let component = componentize(&core)?;
            let path = dest.join(format!("{name}.wasm"));
            fs::write(&path, &component).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("built {} ({} KiB)", path.display(), component.len() / 1024);
        }
    }
    let wasi = target_dir.join(TARGETS[1]).join("release/misbehave.wasm");
    fs::copy(&wasi, out.join("fixtures/misbehave-wasi.wasm"))
        .with_context(|| format!("copying {}", wasi.display()))?;
    Ok(())
}

/// Names of the crates directly under `dir` (folders with a Cargo.toml).
fn crate_dirs(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file() && path.join("src/lib.rs").is_file() {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Turn a core module with embedded WIT type information into a component.
fn componentize(core: &Path) -> Result<Vec<u8>> {
    let module = fs::read(core).with_context(|| format!("reading {}", core.display()))?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| anyhow::anyhow!("componentising {}: {e:#}", core.display()))
}

fn ensure_targets() -> Result<()> {
    let installed = shell::output(Command::new("rustup").args(["target", "list", "--installed"]))
        .context("rustup is needed to add the wasm targets")?;
    let missing: Vec<&str> = TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if !missing.is_empty() {
        shell::run(
            Command::new("rustup")
                .arg("target")
                .arg("add")
                .args(&missing),
        )?;
    }
    Ok(())
}
