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
    sync_workspace(root)?;
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
            write_if_changed(&path, &component)?;
            eprintln!("built {} ({} KiB)", path.display(), component.len() / 1024);
        }
    }
    let wasi = target_dir.join(TARGETS[1]).join("release/misbehave.wasm");
    let wasi_bytes = fs::read(&wasi).with_context(|| format!("reading {}", wasi.display()))?;
    write_if_changed(&out.join("fixtures/misbehave-wasi.wasm"), &wasi_bytes)?;
    Ok(())
}

/// Make the plugins workspace list every plugin crate under `plugins/` (a new crate needs no
/// hand edit of `plugins/Cargo.toml`), and bring its lock file up to date for new members only
/// (`cargo update --workspace` adds what they need without moving other versions).
fn sync_workspace(root: &Path) -> Result<()> {
    let manifest = root.join("plugins/Cargo.toml");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let mut members: Vec<String> = crate_dirs(&root.join("plugins"))?;
    members.push("hostile/*".into());
    let line = format!(
        "members = [{}]",
        members
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let current = text
        .lines()
        .find(|l| l.starts_with("members = "))
        .context("plugins/Cargo.toml has no `members = [...]` line")?;
    if current != line {
        eprintln!("plugins workspace: {line}");
        fs::write(&manifest, text.replacen(current, &line, 1))
            .with_context(|| format!("writing {}", manifest.display()))?;
    }
    let lock = fs::read_to_string(root.join("plugins/Cargo.lock")).unwrap_or_default();
    let fixtures = crate_dirs(&root.join("plugins/hostile"))?;
    let unlocked = members
        .iter()
        .chain(&fixtures)
        .filter(|m| !m.contains('*'))
        .any(|m| !lock.contains(&format!("name = \"{m}\"")));
    if unlocked {
        let manifest_s = manifest.to_string_lossy();
        shell::cargo(&["update", "--workspace", "--manifest-path", &*manifest_s])?;
    }
    Ok(())
}

/// Write `bytes` to `path` unless it holds them already, atomically (a temporary file renamed
/// over it): hosts watching the folder and tests loading components never see a half-written
/// file, and an unchanged component does not trigger a reload.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let tmp = path.with_extension("wasm.tmp");
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
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
