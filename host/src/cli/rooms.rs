//! `chowk rooms`: set up rooms and members in the store of a config, without the HTTP API.
//! Needs `[redis]`: the in-memory store lives inside one `chowk serve` process (use
//! `[[bootstrap.rooms]]` there).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chowk_host::clock::SystemClock;
use chowk_host::config::Config;
use chowk_host::ids::{RoomId, UserId};
use chowk_host::store::model::DEFAULT_RETENTION;
use chowk_host::store::{NewRoom, Store, Visibility};

/// `chowk rooms` subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a room.
    Create {
        /// The config whose `[redis]` holds the rooms.
        #[arg(long, env = "CHOWK_CONFIG")]
        config: Option<PathBuf>,
        /// Room id: 1-64 of a-z, 0-9, _ and -.
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
        /// Only members (and moderators) may read and post.
        #[arg(long)]
        members_only: bool,
        /// Messages kept (older ones are trimmed).
        #[arg(long, default_value_t = DEFAULT_RETENTION)]
        retention: u64,
    },
    /// List the rooms.
    List {
        /// The config whose `[redis]` holds the rooms.
        #[arg(long, env = "CHOWK_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Add or remove members (and room moderators) of a room.
    Members {
        /// The config whose `[redis]` holds the rooms.
        #[arg(long, env = "CHOWK_CONFIG")]
        config: Option<PathBuf>,
        /// The room.
        id: String,
        /// Users to add as members.
        #[arg(long, value_delimiter = ',')]
        add: Vec<String>,
        /// Users to remove as members.
        #[arg(long, value_delimiter = ',')]
        remove: Vec<String>,
        /// Users to make room moderators.
        #[arg(long, value_delimiter = ',')]
        moderator: Vec<String>,
    },
}

/// Run a `chowk rooms` subcommand.
pub fn run(command: Command) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(rooms(command))
}

pub(crate) async fn open(config: Option<&std::path::Path>) -> Result<Store> {
    let config = Config::from_env_and_file(config)?;
    let Some(redis) = &config.redis else {
        bail!(
            "this config has no [redis]: rooms of the in-memory store live inside one `chowk serve` \
             process. Add [redis] (`chowk init --redis URL`), or list the rooms under \
             [[bootstrap.rooms]] so the server creates them"
        );
    };
    Ok(Store::open(Some(redis), Arc::new(SystemClock))?)
}

async fn rooms(command: Command) -> Result<ExitCode> {
    match command {
        Command::Create {
            config,
            id,
            name,
            description,
            members_only,
            retention,
        } => {
            let store = open(config.as_deref()).await?;
            let made = store
                .create_room(NewRoom {
                    name: name.unwrap_or_else(|| id.clone()),
                    id: RoomId::new(id)?,
                    description,
                    visibility: if members_only {
                        Visibility::Members
                    } else {
                        Visibility::Open
                    },
                    retention,
                })
                .await?;
            let room = made.room;
            if made.created {
                println!("created room {} ({})", room.id, room.name);
            } else {
                println!(
                    "room {} ({}) exists already, with these settings",
                    room.id, room.name
                );
            }
        }
        Command::List { config } => {
            let store = open(config.as_deref()).await?;
            for room in store.rooms().await? {
                let visibility = match room.visibility {
                    Visibility::Open => "open",
                    Visibility::Members => "members-only",
                };
                println!(
                    "{}\t{}\t{visibility}\t{}",
                    room.id, room.name, room.retention
                );
            }
        }
        Command::Members {
            config,
            id,
            add,
            remove,
            moderator,
        } => {
            let store = open(config.as_deref()).await?;
            let room = RoomId::new(id)?;
            store.room(&room).await?;
            for (users, member, moderates) in [
                (add, true, false),
                (remove, false, false),
                (moderator, true, true),
            ] {
                for user in users {
                    let user = UserId::new(user)?;
                    if moderates {
                        store.set_moderator(&room, &user, true).await?;
                    } else {
                        store.set_member(&room, &user, member).await?;
                    }
                    let what = match (moderates, member) {
                        (true, _) => "moderator of",
                        (false, true) => "member of",
                        (false, false) => "no longer a member of",
                    };
                    println!("{user}: {what} {room}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
