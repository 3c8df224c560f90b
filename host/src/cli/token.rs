//! `chowk token`: mint a bearer token from the configured secret.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chowk_host::auth::{parse_ttl, Authority, Role};
use chowk_host::config::Config;

/// `chowk token` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The config file holding `[auth] jwt_secret` (or set CHOWK_AUTH_JWT_SECRET).
    #[arg(long, env = "CHOWK_CONFIG")]
    config: Option<PathBuf>,
    /// User id (the token's subject: the sender of what they post).
    #[arg(long)]
    user: String,
    /// member, moderator or admin.
    #[arg(long, default_value = "member")]
    role: Role,
    /// Lifetime, e.g. 24h, 30m, 7d.
    #[arg(long, default_value = "24h", value_parser = parse_ttl)]
    ttl: std::time::Duration,
}

/// Print a token.
pub fn run(args: Args) -> Result<ExitCode> {
    let config = Config::from_env_and_file(args.config.as_deref())?;
    let secret = config
        .auth
        .jwt_secret
        .context("no [auth] jwt_secret in the config (or CHOWK_AUTH_JWT_SECRET)")?;
    let authority = Authority::new(secret.as_bytes(), config.auth.leeway_s)?;
    println!("{}", authority.mint(&args.user, args.role, args.ttl)?);
    Ok(ExitCode::SUCCESS)
}
