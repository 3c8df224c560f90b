//! `chowk init`: write a working `chowk.toml` (a random secret, the chosen store and bus, a
//! `lobby` bootstrap room) and, if there is none, a `plugins.toml` with the shipped chain and
//! the shipped spam model it reads (`models/sme.bin`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chowk_host::server::random_secret;

/// The shipped chain; its component paths are rewritten to `--plugins-dir`.
const DEFAULT_CHAIN: &str = include_str!("../../../plugins.toml");
/// The shipped spam model, written beside the chain as `models/sme.bin` (the operator's own
/// copy, which `chowk train` replaces).
const DEFAULT_MODEL: &[u8] = include_bytes!("../../../models/sme.bin");
/// Where the shipped chain expects the model, relative to `plugins.toml`.
const MODEL_PATH: &str = "models/sme.bin";
/// Where the shipped chain expects the components (relative to the repository).
const SHIPPED_PLUGINS_DIR: &str = "target/plugins";

/// `chowk init` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Where to write `chowk.toml` (and `plugins.toml`).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Redis URL: standalone, or an HAProxy front that routes to the primary. Without
    /// `--redis` or `--sentinels`, the in-memory store (a trial: nothing is persisted).
    #[arg(long, conflicts_with = "sentinels")]
    redis: Option<String>,
    /// Sentinel URLs, comma-separated (with `--master-name`).
    #[arg(long, value_delimiter = ',', requires = "master_name")]
    sentinels: Vec<String>,
    /// The primary's name in Sentinel.
    #[arg(long)]
    master_name: Option<String>,
    /// NATS URL. Without it, messages are relayed in-process (live events on this host only).
    #[arg(long)]
    nats: Option<String>,
    /// Folder of the built plugin components (`cargo xtask plugins` puts them in
    /// `target/plugins/` of the repository). Default: `./target/plugins` (with a warning when
    /// it holds no components yet).
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
    /// Overwrite an existing `chowk.toml`.
    #[arg(long)]
    force: bool,
}

/// Run `chowk init`.
pub fn run(args: Args) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let config_path = args.dir.join("chowk.toml");
    if config_path.exists() && !args.force {
        bail!(
            "{} exists; pass --force to overwrite it",
            config_path.display()
        );
    }
    let plugins_path = args.dir.join("plugins.toml");
    let wrote_chain = if plugins_path.exists() {
        false
    } else {
        let dir = plugins_dir(args.plugins_dir.as_deref())?;
        std::fs::write(&plugins_path, chain_for(&dir))
            .with_context(|| format!("cannot write {}", plugins_path.display()))?;
        let model = args.dir.join(MODEL_PATH);
        if !model.exists() {
            if let Some(parent) = model.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&model, DEFAULT_MODEL)
                .with_context(|| format!("cannot write {}", model.display()))?;
            println!(
                "wrote {} (the spam model; retrain it with `chowk train`)",
                model.display()
            );
        }
        true
    };
    write_private(&config_path, &config_text(&args)?)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let config = config_path.display();
    println!("wrote {config}");
    if wrote_chain {
        println!("wrote {}", plugins_path.display());
    }
    let rooms = if args.redis.is_some() || !args.sentinels.is_empty() {
        format!("\n  chowk rooms create my-room --config {config}     (lobby is created at start)")
    } else {
        "\n  (rooms: add [[bootstrap.rooms]] entries; lobby is there already)".to_owned()
    };
    println!(
        "\nNext:{rooms}\
         \n  chowk serve --config {config}\
         \n  chowk token --config {config} --user asha --role member"
    );
    Ok(ExitCode::SUCCESS)
}

fn plugins_dir(given: Option<&Path>) -> Result<PathBuf> {
    let dir = match given {
        Some(dir) => dir.to_owned(),
        None => PathBuf::from(SHIPPED_PLUGINS_DIR),
    };
    if !dir.join("spam-rules.wasm").is_file() {
        eprintln!(
            "warning: {} has no built components yet: build them with `cargo xtask plugins` in \
             the repository, or pass --plugins-dir",
            dir.display()
        );
    }
    Ok(std::path::absolute(&dir).unwrap_or(dir))
}

/// Write `text` readable by its owner only (it holds the token secret).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// The shipped chain with its components in `dir`.
fn chain_for(dir: &Path) -> String {
    let mut chain = String::new();
    for line in DEFAULT_CHAIN.lines() {
        match line
            .strip_prefix(&format!("path = \"{SHIPPED_PLUGINS_DIR}/"))
            .and_then(|rest| rest.split_once('"'))
        {
            Some((file, comment)) => {
                let path = dir.join(file);
                chain.push_str(&format!(
                    "path = {}{comment}",
                    toml_string(&path.display().to_string())
                ));
            }
            None => chain.push_str(line),
        }
        chain.push('\n');
    }
    chain
}

fn config_text(args: &Args) -> Result<String> {
    let mut t = String::new();
    let secret = random_secret()?;
    writeln!(
        t,
        "# Written by `chowk init`. Every key: chowk.example.toml in the repository.\n\
         # Keep this file private: the secret mints tokens.\n\n\
         [server]\nlisten = \"127.0.0.1:8080\"\n\n\
         [auth]\njwt_secret = \"{secret}\"\n\n\
         [plugins]\npath = \"plugins.toml\"\n"
    )?;
    match (&args.redis, args.sentinels.is_empty()) {
        (Some(url), _) => writeln!(t, "[redis]\nurl = {}\n", toml_string(url))?,
        (None, false) => writeln!(
            t,
            "[redis]\nsentinels = [{}]\nmaster_name = {}\n",
            args.sentinels
                .iter()
                .map(|s| toml_string(s))
                .collect::<Vec<_>>()
                .join(", "),
            toml_string(args.master_name.as_deref().unwrap_or("mymaster"))
        )?,
        (None, true) => writeln!(
            t,
            "# No [redis]: the in-memory store (one host, nothing persisted). Add one with\n\
             # `chowk init --force --redis redis://HOST:6379`.\n"
        )?,
    }
    match &args.nats {
        Some(url) => writeln!(t, "[nats]\nurl = {}\n", toml_string(url))?,
        None => writeln!(
            t,
            "# No [nats]: live events reach clients of this host only.\n"
        )?,
    }
    writeln!(
        t,
        "[[bootstrap.rooms]]\nid = \"lobby\"\nname = \"Lobby\"\ndescription = \"Say namaste\""
    )?;
    Ok(t)
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
