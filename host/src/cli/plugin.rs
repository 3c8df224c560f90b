//! `chowk plugin new NAME`: scaffold a plugin crate (`scaffold.rs`).
//! `chowk plugin check FILE.wasm`: compile a component, check it against the contract, start it
//! with a config and assets, and print what it imports and exports. `chowk plugins publish`: upload a chain
//! to NATS for a fleet (`[plugins] source = "nats"`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use chowk_host::clock::SystemClock;
use chowk_host::plugins::runtime::{check_contract, LoadedPlugin, PluginLimits, CONTRACT};
use chowk_host::plugins::{EngineOptions, MemoryState, PluginEngine};

/// `chowk plugin ...`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Validate a component against the chowk:plugin contract and print its interface.
    Check {
        /// The component.
        file: PathBuf,
        /// Config (JSON) to call `init` with.
        #[arg(long, default_value = "{}")]
        config: String,
        /// An asset the plugin reads, as `NAME=PATH` (repeatable), like `assets` in
        /// `plugins.toml`.
        #[arg(long = "asset")]
        assets: Vec<String>,
    },
    /// Scaffold a new Rust plugin crate (source, native tests, README, manifest snippet).
    New {
        /// The plugin's name (also its crate's and component's): 1-64 of a-z, 0-9, _ and -.
        name: String,
        /// The plugins workspace.
        #[arg(long, default_value = "plugins")]
        dir: PathBuf,
    },
    /// Validate a chain and publish it, with its components, to NATS JetStream: hosts with
    /// `[plugins] source = "nats"` load it within a second.
    Publish {
        /// The chain manifest.
        #[arg(long, default_value = "plugins.toml")]
        plugins: PathBuf,
        /// The config file whose `[nats]` to use (or CHOWK_NATS_URL...).
        #[arg(long, env = "CHOWK_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Run a `plugin` subcommand.
pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Check {
            file,
            config,
            assets,
        } => check(file, config, &assets),
        Command::New { name, dir } => super::scaffold::new_plugin(&name, &dir),
        Command::Publish { plugins, config } => publish(plugins, config),
    }
}

fn publish(plugins: PathBuf, config: Option<PathBuf>) -> Result<ExitCode> {
    let config = chowk_host::config::Config::from_env_and_file(config.as_deref())?;
    let nats = config
        .nats
        .context("no [nats] section in the config (or CHOWK_NATS_URL): publishing needs NATS")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let published = runtime.block_on(async {
        let client = nats.connect("chowk-publish").await?;
        let published = chowk_host::plugins::fleet::publish(&client, &plugins).await?;
        client.flush().await?;
        anyhow::Ok(published)
    })?;
    println!(
        "published {} as revision {} ({} components, {} uploaded)",
        plugins.display(),
        published.revision,
        published.components,
        published.uploaded
    );
    Ok(ExitCode::SUCCESS)
}

fn check(file: PathBuf, config: String, assets: &[String]) -> Result<ExitCode> {
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut named = std::collections::BTreeMap::new();
    for asset in assets {
        let (name, path) = asset
            .split_once('=')
            .with_context(|| format!("--asset {asset:?}: expected NAME=PATH"))?;
        let data =
            std::fs::read(path).with_context(|| format!("--asset {name}: reading {path}"))?;
        named.insert(name.to_owned(), Arc::new(data));
    }
    let engine = PluginEngine::new(EngineOptions::default())?;
    let (component, hash) = engine.compile(&bytes)?;
    let info = match check_contract(engine.engine(), &component) {
        Ok(info) => info,
        Err(e) => {
            println!("{}: refused: {e}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let clock = Arc::new(SystemClock);
    let limits = PluginLimits {
        deadline_ms: 10,
        init_deadline_ms: 1_000,
        memory_mb: 32,
        instances: 1,
        per_room: false,
    };
    let state = Arc::new(MemoryState::new(clock.clone()));
    if let Err(e) = LoadedPlugin::new(
        &engine,
        "check",
        &component,
        hash.clone(),
        config,
        limits,
        Arc::new(named),
        state,
        clock,
    ) {
        println!("{}: refused: {e}", file.display());
        return Ok(ExitCode::FAILURE);
    }
    println!("{}: ok, a {CONTRACT} filter", file.display());
    println!("  sha256   {hash}");
    println!("  size     {} bytes", bytes.len());
    println!("  exports  {}", info.exports.join(", "));
    println!("  imports  {}", info.imports.join(", "));
    Ok(ExitCode::SUCCESS)
}
