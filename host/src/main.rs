//! The `chowk` command: `chowk serve` runs a host, `chowk token` mints bearer tokens, `chowk
//! eval` tries a plugin chain on JSON-lines input, `chowk plugin check` validates a component
//! against the contract.

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chowk",
    version,
    about = "Community chat with a sandboxed WebAssembly plugin chain"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (HTTP API, relay, ingest) until SIGTERM or Ctrl-C.
    Serve(cli::serve::Args),
    /// Mint a bearer token from the configured secret.
    Token(cli::token::Args),
    /// Run JSON lines `{"text", "sender"?, "room"?, "label"?, "sent_at"?}` through a chain and
    /// print one JSON decision per line; a summary goes to stderr.
    Eval(cli::eval::Args),
    /// Work with plugin components and chains (`chowk plugins publish` for a fleet).
    #[command(subcommand, visible_alias = "plugins")]
    Plugin(cli::plugin::Command),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CHOWK_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
            }),
        )
        .init();
    let result = match Cli::parse().command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Token(args) => cli::token::run(args),
        Command::Eval(args) => cli::eval::run(args),
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
