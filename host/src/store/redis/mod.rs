//! The Redis store: rooms, message streams, moderation, profiles and plugin state in Redis, the
//! primary database, made highly available with replicas and Sentinel (or an HAProxy front).
//! Key schema in [`keys`]; atomic steps in [`scripts`]; failover handling in `pool`.

mod config;
pub mod keys;
mod plugin_state;
mod pool;
mod scripts;

use std::collections::HashMap;
use std::time::Duration;

use redis::streams::{StreamId, StreamRangeReply};
use redis::Value;

pub use config::RedisConfig;
pub use plugin_state::RedisPluginState;
use pool::Redis;

use super::model::{
    parse_id, Appended, Decision, HistoryPage, HistoryQuery, NewMessage, Room, RoomId,
    StoredAction, StoredMessage, Viewer, Visibility,
};
use super::profile::{Profile, ProfilePatch};
use super::{NewRoom, StoreError};

/// Marker of a write that too few replicas confirmed in time.
const NOT_REPLICATED: &str = "not replicated";

/// Chat storage in Redis.
#[derive(Debug)]
pub struct RedisStore {
    redis: std::sync::Arc<Redis>,
    config: RedisConfig,
}

fn str_of(map: &HashMap<String, Value>, field: &str) -> String {
    map.get(field)
        .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
        .unwrap_or_default()
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
        let redis = Redis::new(
            &config,
            Duration::from_millis(config.timeout_ms),
            Duration::from_millis(config.retry_budget_ms),
        )?;
        Ok(RedisStore {
            redis: std::sync::Arc::new(redis),
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

    /// Whether the primary answers `PING`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.redis
            .run(|mut c| async move {
                let r = redis::cmd("PING").query_async::<String>(&mut c).await;
                (c, r)
            })
            .await
            .map(drop)
    }

    pub(super) async fn create_room(&self, new: NewRoom) -> Result<Room, StoreError> {
        let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
        let room = Room {
            id: new.id.clone(),
            name: new.name.trim().to_owned(),
            description: new.description,
            visibility: new.visibility,
            retention: new.retention,
            created_at_ms: now,
        };
        let visibility = match room.visibility {
            Visibility::Open => "open",
            Visibility::Members => "members",
        };
        let fields = [
            ("name", room.name.clone()),
            ("description", room.description.clone()),
            ("visibility", visibility.to_owned()),
            ("retention", room.retention.to_string()),
            ("created", now.to_string()),
        ];
        let meta = keys::meta(&room.id);
        let created: i64 = self
            .redis
            .run(|mut c| {
                let mut inv = scripts::CREATE_ROOM.key(&meta);
                for (k, v) in &fields {
                    inv.arg(*k).arg(v);
                }
                async move {
                    let r = inv.invoke_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        if created == 0 {
            return Err(StoreError::Conflict(format!("room {}", room.id)));
        }
        let id = room.id.to_string();
        self.redis
            .run(|mut c| {
                let id = id.clone();
                async move {
                    let r = redis::cmd("SADD")
                        .arg(keys::ROOMS)
                        .arg(id)
                        .query_async::<i64>(&mut c)
                        .await;
                    (c, r)
                }
            })
            .await?;
        Ok(room)
    }

    pub(super) async fn room(&self, id: &RoomId) -> Result<Room, StoreError> {
        let key = keys::meta(id);
        let map: HashMap<String, String> = self
            .redis
            .run(|mut c| {
                let key = key.clone();
                async move {
                    let r = redis::cmd("HGETALL").arg(key).query_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        if map.is_empty() {
            return Err(StoreError::NotFound(format!("room {id}")));
        }
        room_of(id, &map)
    }

    pub(super) async fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        let mut ids: Vec<String> = self
            .redis
            .run(|mut c| async move {
                let r = redis::cmd("SMEMBERS")
                    .arg(keys::ROOMS)
                    .query_async(&mut c)
                    .await;
                (c, r)
            })
            .await?;
        ids.sort();
        let mut rooms = Vec::with_capacity(ids.len());
        for id in ids {
            let id = RoomId::new(id)?;
            match self.room(&id).await {
                Ok(room) => rooms.push(room),
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(rooms)
    }

    async fn ensure_room(&self, room: &RoomId) -> Result<(), StoreError> {
        let key = keys::meta(room);
        let exists: bool = self
            .redis
            .run(|mut c| {
                let key = key.clone();
                async move {
                    let r = redis::cmd("EXISTS").arg(key).query_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        if exists {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("room {room}")))
        }
    }

    async fn set_flag(
        &self,
        room: &RoomId,
        key: String,
        user: &str,
        on: bool,
    ) -> Result<(), StoreError> {
        self.ensure_room(room).await?;
        let user = user.to_owned();
        self.redis
            .run(|mut c| {
                let (key, user) = (key.clone(), user.clone());
                async move {
                    let r = redis::cmd(if on { "SADD" } else { "SREM" })
                        .arg(key)
                        .arg(user)
                        .query_async::<i64>(&mut c)
                        .await;
                    (c, r)
                }
            })
            .await
            .map(drop)
    }

    pub(super) async fn set_member(
        &self,
        room: &RoomId,
        user: &str,
        member: bool,
    ) -> Result<(), StoreError> {
        self.set_flag(room, keys::members(room), user, member).await
    }

    pub(super) async fn set_moderator(
        &self,
        room: &RoomId,
        user: &str,
        moderator: bool,
    ) -> Result<(), StoreError> {
        self.set_flag(room, keys::moderators(room), user, moderator)
            .await
    }

    pub(super) async fn roles(
        &self,
        room: &RoomId,
        user: &str,
    ) -> Result<(bool, bool), StoreError> {
        let (meta, members, moderators) = (
            keys::meta(room),
            keys::members(room),
            keys::moderators(room),
        );
        let user = user.to_owned();
        let (exists, member, moderator): (bool, bool, bool) = self
            .redis
            .run(|mut c| {
                let mut p = redis::pipe();
                p.cmd("EXISTS")
                    .arg(&meta)
                    .cmd("SISMEMBER")
                    .arg(&members)
                    .arg(&user)
                    .cmd("SISMEMBER")
                    .arg(&moderators)
                    .arg(&user);
                async move {
                    let r = p.query_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        if !exists {
            return Err(StoreError::NotFound(format!("room {room}")));
        }
        Ok((member, moderator))
    }

    pub(super) async fn append(&self, m: NewMessage) -> Result<Appended, StoreError> {
        let keys = [
            keys::meta(&m.room),
            keys::messages(&m.room),
            keys::pending(&m.room),
            keys::client_id(&m.room, &m.sender, m.client_id.as_deref().unwrap_or("")),
        ];
        let fields: Vec<(&str, String)> = vec![
            ("sender", m.sender.clone()),
            ("text", m.text.clone()),
            ("time", m.time_ms.to_string()),
            ("action", m.action.as_str().to_owned()),
            ("score", m.score.to_string()),
            ("trace", m.trace.clone()),
            ("gen", m.generation.to_string()),
            ("cid", m.client_id.clone().unwrap_or_default()),
        ];
        let has_cid = if m.client_id.is_some() { "1" } else { "0" };
        let ttl_ms = (self.config.client_id_ttl_s * 1000).to_string();
        let acks = self.config.min_replica_acks;
        let wait_ms = self.config.replica_ack_timeout_ms;
        // Too few replica acks counts as a transient failure of this connection: it may lead to
        // a demoted primary that Sentinel has not converted yet. The retry (same client id)
        // returns the stored message and waits again, on a freshly resolved primary.
        let last_acks = std::sync::atomic::AtomicU32::new(0);
        let result: Result<(i64, String, HashMap<String, Value>, i64), StoreError> = self
            .redis
            .run(|mut c| {
                let last_acks = &last_acks;
                let mut inv = scripts::APPEND.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                inv.arg(has_cid).arg(&ttl_ms).arg(m.action.as_str());
                for (k, v) in &fields {
                    inv.arg(*k).arg(v);
                }
                async move {
                    let r: Result<(i64, String, HashMap<String, Value>, i64), _> =
                        inv.invoke_async(&mut c).await;
                    let r = match r {
                        Ok(t) if acks > 0 => {
                            match redis::cmd("WAIT")
                                .arg(acks)
                                .arg(wait_ms)
                                .query_async::<u32>(&mut c)
                                .await
                            {
                                Ok(n) if n >= acks => Ok(t),
                                Ok(n) => {
                                    last_acks.store(n, std::sync::atomic::Ordering::Relaxed);
                                    Err(redis::RedisError::from(std::io::Error::other(format!(
                                        "{NOT_REPLICATED}: {n} of {acks} replicas confirmed"
                                    ))))
                                }
                                Err(e) => Err(e),
                            }
                        }
                        other => other,
                    };
                    (c, r)
                }
            })
            .await;
        let (created, id, existing, pending) = result.map_err(|e| match e {
            StoreError::NotFound(_) => StoreError::NotFound(format!("room {}", m.room)),
            StoreError::Unavailable(msg) if msg.contains(NOT_REPLICATED) => {
                StoreError::NotReplicated {
                    wanted: acks,
                    got: last_acks.load(std::sync::atomic::Ordering::Relaxed),
                }
            }
            e => e,
        })?;
        if created == 1 {
            let pending = m.action == StoredAction::Flag;
            let message = StoredMessage {
                id,
                room: m.room,
                sender: m.sender,
                text: m.text,
                time_ms: m.time_ms,
                action: m.action,
                score: m.score,
                trace: m.trace,
                generation: m.generation,
                client_id: m.client_id,
                pending,
            };
            return Ok(Appended {
                message,
                created: true,
            });
        }
        if existing.is_empty() {
            return Err(StoreError::NotFound(format!(
                "message {id} (removed or trimmed)"
            )));
        }
        Ok(Appended {
            message: message_of(&m.room, id, existing, pending == 1)?,
            created: false,
        })
    }

    /// One batch of stream entries, newest first (`rev`) or oldest first. With `check_room`,
    /// the room's existence is checked in the same round trip.
    async fn range(
        &self,
        room: &RoomId,
        rev: bool,
        (start, end): (&str, &str),
        count: usize,
        check_room: bool,
    ) -> Result<Vec<StreamId>, StoreError> {
        let (meta, key) = (keys::meta(room), keys::messages(room));
        let (start, end) = (start.to_owned(), end.to_owned());
        let (exists, reply): (bool, StreamRangeReply) = self
            .redis
            .run(|mut c| {
                let mut p = redis::pipe();
                if check_room {
                    p.cmd("EXISTS").arg(&meta);
                } else {
                    p.cmd("ECHO").arg(1);
                }
                p.cmd(if rev { "XREVRANGE" } else { "XRANGE" })
                    .arg(&key)
                    .arg(&start)
                    .arg(&end)
                    .arg("COUNT")
                    .arg(count);
                async move {
                    let r = p.query_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        if !exists {
            return Err(StoreError::NotFound(format!("room {room}")));
        }
        Ok(reply.ids)
    }

    /// Which of `ids` are pending.
    async fn pending_of(&self, room: &RoomId, ids: &[String]) -> Result<Vec<bool>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let key = keys::pending(room);
        self.redis
            .run(|mut c| {
                let mut cmd = redis::cmd("SMISMEMBER");
                cmd.arg(&key).arg(ids);
                async move {
                    let r = cmd.query_async(&mut c).await;
                    (c, r)
                }
            })
            .await
    }

    pub(super) async fn history(
        &self,
        room: &RoomId,
        q: &HistoryQuery,
        viewer: &Viewer,
    ) -> Result<HistoryPage, StoreError> {
        self.ensure_room(room).await?;
        let rev = q.after.is_none();
        let mut start = match (&q.before, rev) {
            (Some(b), true) => format!("({b}"),
            (None, true) => "+".into(),
            (_, false) => format!("({}", q.after.as_deref().unwrap_or("-")),
        };
        let end = match (&q.after, &q.before, rev) {
            (Some(a), _, true) => format!("({a}"),
            (_, Some(b), false) => format!("({b}"),
            (None, _, true) => "-".into(),
            (_, None, false) => "+".into(),
        };
        if let (Some(a), Some(b)) = (&q.after, &q.before) {
            if parse_id(a)? >= parse_id(b)? {
                return Ok(HistoryPage {
                    messages: Vec::new(),
                    next_before: None,
                });
            }
        }
        // Fetch exactly a page; only when hidden (flagged) entries were skipped is more fetched.
        let batch = q.limit;
        let mut messages = Vec::with_capacity(q.limit);
        let mut first = true;
        'fill: loop {
            let entries = self.range(room, rev, (&start, &end), batch, first).await?;
            first = false;
            let flagged: Vec<String> = entries
                .iter()
                .filter(|e| str_of(&e.map, "action") == "flag")
                .map(|e| e.id.clone())
                .collect();
            let pending: HashMap<String, bool> = flagged
                .iter()
                .cloned()
                .zip(self.pending_of(room, &flagged).await?)
                .collect();
            let last_id = entries.last().map(|e| e.id.clone());
            let full = entries.len() == batch;
            for e in entries {
                let is_pending = pending.get(&e.id).copied().unwrap_or(false);
                let m = message_of(room, e.id, e.map, is_pending)?;
                if viewer.can_see(&m) {
                    messages.push(m);
                    if messages.len() == q.limit {
                        break 'fill;
                    }
                }
            }
            match last_id {
                Some(last) if full => start = format!("({last}"),
                _ => break,
            }
        }
        if rev {
            let next_before = (messages.len() == q.limit).then(|| messages[q.limit - 1].id.clone());
            Ok(HistoryPage {
                messages,
                next_before,
            })
        } else {
            messages.reverse();
            Ok(HistoryPage {
                messages,
                next_before: None,
            })
        }
    }

    pub(super) async fn pending(&self, room: &RoomId) -> Result<Vec<StoredMessage>, StoreError> {
        self.ensure_room(room).await?;
        let key = keys::pending(room);
        let mut ids: Vec<String> = self
            .redis
            .run(|mut c| {
                let key = key.clone();
                async move {
                    let r = redis::cmd("SMEMBERS").arg(key).query_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        ids.sort_by_key(|id| parse_id(id).unwrap_or_default());
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(e) = self
                .range(room, false, (&id, &id), 1, false)
                .await?
                .into_iter()
                .next()
            {
                out.push(message_of(room, e.id, e.map, true)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn moderate(
        &self,
        room: &RoomId,
        id: &str,
        decision: Decision,
    ) -> Result<(), StoreError> {
        let (pending, messages, approved) = (
            keys::pending(room),
            keys::messages(room),
            keys::approved(room),
        );
        let verb = match decision {
            Decision::Approve => "approve",
            Decision::Remove => "remove",
        };
        let id_owned = id.to_owned();
        let was: i64 = self
            .redis
            .run(|mut c| {
                let mut inv = scripts::MODERATE.key(&pending);
                inv.key(&messages).key(&approved).arg(&id_owned).arg(verb);
                async move {
                    let r = inv.invoke_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        if was == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("flagged message {id}")))
        }
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

    pub(super) async fn find_client_id(
        &self,
        room: &RoomId,
        sender: &str,
        cid: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(keys::client_id(room, sender, cid));
        let Some(id) = self.command::<Option<String>>(cmd).await? else {
            return Ok(None);
        };
        let Some(entry) = self
            .range(room, false, (&id, &id), 1, false)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let pending = self
            .pending_of(room, std::slice::from_ref(&id))
            .await?
            .first()
            .copied()
            .unwrap_or(false);
        message_of(room, entry.id, entry.map, pending).map(Some)
    }

    pub(super) async fn mark_dirty(&self, room: &RoomId) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SADD");
        cmd.arg(keys::RELAY_DIRTY).arg(room.as_str());
        self.command::<i64>(cmd).await.map(drop)
    }

    pub(super) async fn dirty_rooms(&self) -> Result<Vec<RoomId>, StoreError> {
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(keys::RELAY_DIRTY);
        let ids: Vec<String> = self.command(cmd).await?;
        Ok(ids
            .into_iter()
            .filter_map(|id| RoomId::new(id).ok())
            .collect())
    }

    pub(super) async fn clear_dirty(&self, room: &RoomId) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SREM");
        cmd.arg(keys::RELAY_DIRTY).arg(room.as_str());
        self.command::<i64>(cmd).await.map(drop)
    }

    pub(super) async fn relay_cursor(&self, room: &RoomId) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(keys::relayed(room));
        self.command(cmd).await
    }

    pub(super) async fn set_relay_cursor(&self, room: &RoomId, id: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(keys::relayed(room)).arg(id);
        self.command::<()>(cmd).await
    }

    pub(super) async fn relay_batch(
        &self,
        room: &RoomId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let start = after.map(|a| format!("({a}")).unwrap_or_else(|| "-".into());
        let entries = self.range(room, false, (&start, "+"), limit, true).await?;
        let flagged: Vec<String> = entries
            .iter()
            .filter(|e| str_of(&e.map, "action") == "flag")
            .map(|e| e.id.clone())
            .collect();
        let pending: HashMap<String, bool> = flagged
            .iter()
            .cloned()
            .zip(self.pending_of(room, &flagged).await?)
            .collect();
        entries
            .into_iter()
            .map(|e| {
                let p = pending.get(&e.id).copied().unwrap_or(false);
                message_of(room, e.id, e.map, p)
            })
            .collect()
    }

    pub(super) async fn approved_backlog(
        &self,
        room: &RoomId,
        limit: usize,
    ) -> Result<Vec<(String, Option<StoredMessage>)>, StoreError> {
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(keys::approved(room))
            .arg(0)
            .arg(limit.saturating_sub(1));
        let ids: Vec<String> = self.command(cmd).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let m = self
                .range(room, false, (&id, &id), 1, false)
                .await?
                .into_iter()
                .next()
                .map(|e| message_of(room, e.id, e.map, false))
                .transpose()?;
            out.push((id, m));
        }
        Ok(out)
    }

    pub(super) async fn ack_approved(&self, room: &RoomId, n: usize) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("LTRIM");
        cmd.arg(keys::approved(room)).arg(n).arg(-1);
        self.command::<()>(cmd).await
    }

    pub(super) async fn profile(&self, user: &str) -> Result<Profile, StoreError> {
        let key = keys::profile(user);
        let json: Option<String> = self
            .redis
            .run(|mut c| {
                let key = key.clone();
                async move {
                    let r = redis::cmd("GET").arg(key).query_async(&mut c).await;
                    (c, r)
                }
            })
            .await?;
        let json = json.ok_or_else(|| StoreError::NotFound(format!("profile {user}")))?;
        serde_json::from_str(&json).map_err(|_| corrupt("profile JSON"))
    }

    pub(super) async fn update_profile(
        &self,
        user: &str,
        patch: ProfilePatch,
        now_ms: u64,
    ) -> Result<Profile, StoreError> {
        let current = match self.profile(user).await {
            Ok(p) => p,
            Err(StoreError::NotFound(_)) => Profile {
                user: user.to_owned(),
                ..Profile::default()
            },
            Err(e) => return Err(e),
        };
        let mut updated = current.apply(patch)?;
        updated.updated_at_ms = now_ms;
        let json = serde_json::to_string(&updated).map_err(|e| corrupt(&e.to_string()))?;
        let key = keys::profile(user);
        self.redis
            .run(|mut c| {
                let (key, json) = (key.clone(), json.clone());
                async move {
                    let r = redis::cmd("SET")
                        .arg(key)
                        .arg(json)
                        .query_async::<()>(&mut c)
                        .await;
                    (c, r)
                }
            })
            .await?;
        Ok(updated)
    }
}
