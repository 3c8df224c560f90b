//! The `chowk` command: `chowk init` writes a config, `chowk rooms` sets up rooms, `chowk serve`
//! runs a host, `chowk token` mints bearer tokens, `chowk eval` tries a plugin chain on
//! JSON-lines input, `chowk plugin check` validates a component against the contract and
//! `chowk plugin new` scaffolds one.

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chowk",
    version,
    about = "Community chat with a sandboxed WebAssembly plugin chain"
)]
struct Cli {
    /// Log format on stderr: `text` (coloured only on a terminal) or `json` (one object a line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CHOWK_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Write a working chowk.toml (random secret, store, bus, a lobby room) and plugins.toml.
    Init(cli::init::Args),
    /// Run the server (HTTP API, relay, ingest) until SIGTERM or Ctrl-C.
    Serve(cli::serve::Args),
    /// Create and list rooms and set their members in the store of a config.
    #[command(subcommand)]
    Rooms(cli::rooms::Command),
    /// Mint a bearer token from the configured secret.
    Token(cli::token::Args),
    /// Run JSON lines `{"text", "sender"?, "room"?, "label"?, "sent_at"?}` through a chain and
    /// print one JSON decision per line; a summary goes to stderr.
    Eval(cli::eval::Args),
    /// Train the spam classifier's model from labelled corpora and moderators' decisions; write
    /// it only if it is not worse on the held-out set.
    Train(cli::train::Args),
    /// Work with plugin components and chains (`chowk plugins publish` for a fleet).
    #[command(subcommand, visible_alias = "plugins")]
    Plugin(cli::plugin::Command),
}

fn init_logs(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHOWK_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
    });
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let result = match cli.command {
        Command::Init(args) => cli::init::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Rooms(cmd) => cli::rooms::run(cmd),
        Command::Token(args) => cli::token::run(args),
        Command::Eval(args) => cli::eval::run(args),
        Command::Train(args) => cli::train::run(args),
        Command::Plugin(cmd) => cli::plugin::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
