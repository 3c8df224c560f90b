//! `chowk serve`: run a host from `chowk.toml` (and `CHOWK_*` variables) until SIGTERM/SIGINT;
//! SIGHUP reloads the plugin chain.
//! `--dev` is the embedded trial: no secret needed (a random one is made), a `lobby` room, and
//! ready-to-use tokens and `curl` lines printed at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use chowk_host::auth::{Authority, Role};
use chowk_host::config::Config;
use chowk_host::server::{random_secret, Options, Server};
use chowk_host::store::{NewRoom, RoomId, StoreError, Visibility};

/// `chowk serve` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The config file (every key documented in chowk.example.toml).
    #[arg(long, env = "CHOWK_CONFIG")]
    config: Option<PathBuf>,
    /// Listen here instead of `[server] listen` (`127.0.0.1:0` picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Trial mode: make a secret if none is configured, create the `lobby` room, and print
    /// tokens and example requests.
    #[arg(long)]
    dev: bool,
}

/// Run `chowk serve`.
pub fn run(args: Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<ExitCode> {
    let mut config = Config::from_env_and_file(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    let dev_secret = if args.dev && config.auth.jwt_secret.is_none() {
        Some(random_secret()?)
    } else {
        None
    };
    let secret = config.auth.jwt_secret.clone().or(dev_secret.clone());
    let server = Server::start(
        config.clone(),
        Options {
            dev_secret,
            ..Options::default()
        },
    )
    .await?;
    let listener = match tokio::net::TcpListener::bind(config.server.listen).await {
        Ok(listener) => listener,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "{} is already in use: stop what listens there, or pick another address with \
             --listen 127.0.0.1:PORT (or [server] listen in the config)",
            config.server.listen
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot listen on {}", config.server.listen))
        }
    };
    let addr = listener.local_addr()?;
    println!("chowk: listening on http://{addr}");
    if args.dev {
        let secret = secret.context("dev mode has a secret")?;
        dev_banner(&server, &secret, addr, &config).await?;
    }
    #[cfg(unix)]
    {
        let state = server.state().clone();
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                match state.reload().await {
                    Ok(outcome) => eprintln!("chowk: SIGHUP reload: {outcome}"),
                    Err(failure) => eprintln!("chowk: SIGHUP reload failed: {}", failure.reason),
                }
            }
        });
    }
    server.run(listener, shutdown_signal()).await?;
    eprintln!("chowk: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn dev_banner(
    server: &Server,
    secret: &str,
    addr: SocketAddr,
    config: &Config,
) -> Result<()> {
    let lobby = RoomId::new("lobby")?;
    match server
        .state()
        .chat
        .store
        .create_room(NewRoom {
            id: lobby,
            name: "Lobby".into(),
            description: "Say namaste".into(),
            visibility: Visibility::Open,
            retention: chowk_host::store::model::DEFAULT_RETENTION,
        })
        .await
    {
        Ok(_) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let authority = Authority::new(secret.as_bytes(), 0)?;
    let day = Duration::from_secs(86_400);
    let admin = authority.mint("admin", Role::Admin, day)?;
    let member = authority.mint("asha", Role::Member, day)?;
    let store = if config.redis.is_some() {
        "Redis"
    } else {
        "in-memory store: nothing is persisted"
    };
    println!(
        "\nDev mode ({store}). Tokens valid for 24 h:\n\
         \n  admin (user \"admin\"):  {admin}\n  member (user \"asha\"):  {member}\n\
         \nTry it in another terminal:\n\
         \n  export TOKEN={member}\
         \n  curl -s -X POST http://{addr}/v1/rooms/lobby/messages -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"text\": \"Namaste! Fresh cotton sarees in stock today\"}}'\
         \n  curl -s http://{addr}/v1/rooms/lobby/messages -H \"Authorization: Bearer $TOKEN\"\
         \n  curl -sN http://{addr}/v1/rooms/lobby/events -H \"Authorization: Bearer $TOKEN\"\n\
         \nAPI: http://{addr}/openapi.json   Stop: Ctrl-C\n"
    );
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    eprintln!("chowk: shutting down (finishing requests, draining the relay)");
}
