//! The Redis store: rooms, message streams, moderation, profiles and plugin state in Redis, the
//! primary database, made highly available with replicas and Sentinel (or an HAProxy front).
//! Key schema in [`keys`]; atomic steps in [`scripts`]; failover handling in `pool`.

mod config;
pub mod keys;
mod messages;
mod plugin_state;
mod pool;
mod profiles;
mod relay_state;
mod rooms;
mod scripts;

use std::collections::HashMap;
use std::time::Duration;

use redis::streams::{StreamId, StreamRangeReply};
use redis::Value;

pub use config::RedisConfig;
pub use plugin_state::RedisPluginState;
use pool::{invoke_then_wait, Failure, Redis};

use super::model::{
    parse_id, Appended, CreatedRoom, Decision, HistoryPage, HistoryQuery, Label, NewMessage,
    Placement, PostContext, RelayBatch, Room, StoredAction, StoredMessage, Viewer, Visibility,
    DECISION_MEMORY_MS, MAX_LABELS,
};
use super::profile::{Profile, ProfilePatch};
use super::{NewRoom, StoreError};
use crate::ids::RoomId;

/// Chat storage in Redis.
#[derive(Debug)]
pub struct RedisStore {
    redis: std::sync::Arc<Redis>,
    /// Connections for writes followed by `WAIT` (with `min_replica_acks`; otherwise the same
    /// as `redis`): a `WAIT` blocks its connection until the replicas answer or its timeout,
    /// so it must not share one with plugin state and reads. Each attempt's timeout covers the
    /// `WAIT`, so too few replicas is reported as such, not as a dead connection.
    replicated: std::sync::Arc<Redis>,
    config: RedisConfig,
}

fn str_of(map: &HashMap<String, Value>, field: &str) -> String {
    map.get(field)
        .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
        .unwrap_or_default()
}

/// A script's `NOROOM` answer, named after the room it was about.
fn naming_room(room: &RoomId) -> impl FnOnce(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => StoreError::NotFound(format!("room {room}")),
        e => e,
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("unexpected data in Redis: {what}"))
}

fn message_of(
    room: &RoomId,
    id: String,
    mut map: HashMap<String, Value>,
    pending: bool,
) -> Result<StoredMessage, StoreError> {
    let mut take = |field: &str| {
        map.remove(field)
            .and_then(|v| redis::from_redis_value::<String>(v).ok())
            .unwrap_or_default()
    };
    let action = StoredAction::parse(&take("action")).ok_or_else(|| corrupt("message action"))?;
    let cid = take("cid");
    Ok(StoredMessage {
        room: room.clone(),
        sender: take("sender"),
        text: take("text"),
        time_ms: take("time").parse().unwrap_or_default(),
        action,
        score: take("score").parse().unwrap_or_default(),
        trace: take("trace"),
        generation: take("gen").parse().unwrap_or_default(),
        client_id: (!cid.is_empty()).then_some(cid),
        pending,
        id,
    })
}

fn room_of(id: &RoomId, map: &HashMap<String, String>) -> Result<Room, StoreError> {
    let visibility = match map.get("visibility").map(String::as_str) {
        Some("members") => Visibility::Members,
        Some("open") => Visibility::Open,
        _ => return Err(corrupt("room visibility")),
    };
    let num = |f: &str| {
        map.get(f)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt(f))
    };
    Ok(Room {
        id: id.clone(),
        name: map.get("name").cloned().unwrap_or_default(),
        description: map.get("description").cloned().unwrap_or_default(),
        visibility,
        retention: num("retention")?,
        created_at_ms: num("created")?,
    })
}

impl RedisStore {
    /// Connect lazily: the pool is built now, connections on first use.
    pub fn new(config: RedisConfig) -> Result<Self, StoreError> {
        // TLS (rediss://) needs a process-wide rustls crypto provider; installing it twice is
        // harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_millis(config.timeout_ms);
        let budget = Duration::from_millis(config.retry_budget_ms);
        let redis = std::sync::Arc::new(Redis::new(&config, timeout, budget)?);
        let replicated = if config.min_replica_acks > 0 {
            let waiting = timeout + Duration::from_millis(config.replica_ack_timeout_ms);
            std::sync::Arc::new(Redis::new(&config, waiting, budget)?)
        } else {
            redis.clone()
        };
        Ok(RedisStore {
            redis,
            replicated,
            config,
        })
    }

    /// Plugin state kept in the same Redis, namespaced per plugin. `handle` is the runtime the
    /// blocking plugin calls use.
    pub fn plugin_state(&self, handle: tokio::runtime::Handle) -> RedisPluginState {
        RedisPluginState::new(
            self.redis.clone(),
            handle,
            Duration::from_millis(self.config.state_timeout_ms),
        )
    }

    /// Connections dropped after a failover signal (READONLY, MASTERDOWN, lost connection...),
    /// each followed by a fresh resolution of the primary.
    pub fn failovers_seen(&self) -> u64 {
        if std::sync::Arc::ptr_eq(&self.redis, &self.replicated) {
            self.redis.failovers_seen()
        } else {
            self.redis.failovers_seen() + self.replicated.failovers_seen()
        }
    }

    /// The settings this store runs with.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// How long one write-and-`WAIT` may take on its connection: the base timeout plus the
    /// `WAIT` (the client's own response timeout would otherwise cut the `WAIT` short).
    fn waiting_timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms + self.config.replica_ack_timeout_ms)
    }

    /// Whether the primary answers `PING`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.command::<String>(redis::cmd("PING")).await.map(drop)
    }

    /// Open connections (up to 8 per pool) and load the scripts a post runs, so that the
    /// first requests after start cost what later ones do.
    pub async fn warm(&self) -> Result<(), StoreError> {
        let pools = if std::sync::Arc::ptr_eq(&self.redis, &self.replicated) {
            vec![&self.redis]
        } else {
            vec![&self.redis, &self.replicated]
        };
        for pool in pools {
            let pings = (0..self.config.pool_size.clamp(1, 8)).map(|_| {
                pool.run(|mut c| async move {
                    let r = redis::cmd("PING").query_async::<String>(&mut c).await;
                    (c, r)
                })
            });
            futures::future::try_join_all(pings).await?;
        }
        self.redis
            .run(|mut c| async move {
                let scripts = [
                    &*scripts::PREPARE_POST,
                    &*scripts::APPEND,
                    &*scripts::RELAY_READ,
                    &*scripts::RELAY_COMMIT,
                    &*scripts::KV_BATCH,
                    &*scripts::INCR,
                ];
                let r = async {
                    for script in scripts {
                        script.load_async(&mut c).await?;
                    }
                    Ok::<(), redis::RedisError>(())
                }
                .await;
                (c, r)
            })
            .await
    }

    /// Run one command with no result conversion beyond `T`.
    async fn command<T: redis::FromRedisValue + Send + 'static>(
        &self,
        cmd: redis::Cmd,
    ) -> Result<T, StoreError> {
        self.redis
            .run(|mut c| {
                let cmd = cmd.clone();
                async move {
                    let r = cmd.query_async(&mut c).await;
                    (c, r)
                }
            })
            .await
    }
}
