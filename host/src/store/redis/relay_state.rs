//! What the relay keeps in Redis: the per-room cursor, the dirty-room set and the queue of
//! approved messages.

use super::*;

impl RedisStore {
    pub(in crate::store) async fn mark_dirty(&self, room: &RoomId) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SADD");
        cmd.arg(keys::RELAY_DIRTY).arg(room.as_str());
        self.command::<i64>(cmd).await.map(drop)
    }

    pub(in crate::store) async fn dirty_rooms(&self) -> Result<Vec<RoomId>, StoreError> {
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(keys::RELAY_DIRTY);
        let ids: Vec<String> = self.command(cmd).await?;
        Ok(ids
            .into_iter()
            .filter_map(|id| RoomId::new(id).ok())
            .collect())
    }

    pub(in crate::store) async fn clear_dirty(&self, room: &RoomId) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SREM");
        cmd.arg(keys::RELAY_DIRTY).arg(room.as_str());
        self.command::<i64>(cmd).await.map(drop)
    }

    pub(in crate::store) async fn relay_cursor(
        &self,
        room: &RoomId,
    ) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(keys::relayed(room));
        self.command(cmd).await
    }

    /// Forward only, in one script: two hosts' relays may finish in either order.
    pub(in crate::store) async fn set_relay_cursor(
        &self,
        room: &RoomId,
        id: &str,
    ) -> Result<(), StoreError> {
        parse_id(id)?;
        let (key, id) = (keys::relayed(room), id.to_owned());
        self.redis
            .run(|mut c| {
                let mut inv = scripts::CURSOR_FORWARD.key(&key);
                inv.arg(&id);
                async move {
                    let r = inv.invoke_async::<i64>(&mut c).await;
                    (c, r)
                }
            })
            .await
            .map(drop)
    }

    /// Run the reads of `reads` (their replies, as `T`) and, with `min_replica_acks`, prove
    /// that replicas hold what they read before anything is relayed: on the same connection, a
    /// write to the room's fence key and a `WAIT` for it. Replication is in order, so replicas
    /// that acknowledged the fence hold every entry read before it. Without this, a relay
    /// reading from a primary that is partitioned from its replicas (or about to die) would
    /// publish messages that are then lost with it: subscribers would see what the store never
    /// kept.
    async fn read_fenced<T: redis::FromRedisValue + Send + 'static>(
        &self,
        room: &RoomId,
        reads: redis::Pipeline,
    ) -> Result<T, StoreError> {
        let acks = self.config.min_replica_acks;
        if acks == 0 {
            return self
                .redis
                .run(|mut c| {
                    let p = reads.clone();
                    async move {
                        let r = p.query_async(&mut c).await;
                        (c, r)
                    }
                })
                .await;
        }
        let (fence, wait_ms, waiting) = (
            keys::fence(room),
            self.config.replica_ack_timeout_ms,
            self.waiting_timeout(),
        );
        self.replicated
            .run(|mut c| {
                c.set_response_timeout(waiting);
                let mut p = reads.clone();
                p.cmd("INCR").arg(&fence).ignore();
                p.cmd("WAIT").arg(acks).arg(wait_ms);
                async move {
                    // The reads' replies, then WAIT's count.
                    let r: Result<T, Failure> = match p.query_async::<redis::Value>(&mut c).await {
                        Ok(redis::Value::Array(mut replies)) if !replies.is_empty() => {
                            let got = replies
                                .pop()
                                .and_then(|v| redis::from_redis_value::<u32>(v).ok())
                                .unwrap_or(0);
                            if got < acks {
                                Err(Failure::NotReplicated { wanted: acks, got })
                            } else {
                                redis::from_redis_value(redis::Value::Array(replies)).map_err(|e| {
                                    Failure::Redis(redis::RedisError::from((
                                        redis::ErrorKind::Parse,
                                        "relay read",
                                        e.to_string(),
                                    )))
                                })
                            }
                        }
                        Ok(_) => Err(Failure::Redis(redis::RedisError::from((
                            redis::ErrorKind::Client,
                            "unexpected pipeline reply",
                        )))),
                        Err(e) => Err(e.into()),
                    };
                    (c, r)
                }
            })
            .await
    }

    pub(in crate::store) async fn relay_batch(
        &self,
        room: &RoomId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let start = after.map(|a| format!("({a}")).unwrap_or_else(|| "-".into());
        let mut reads = redis::pipe();
        reads.cmd("EXISTS").arg(keys::meta(room));
        reads
            .cmd("XRANGE")
            .arg(keys::messages(room))
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(limit);
        let (exists, reply): (bool, StreamRangeReply) = self.read_fenced(room, reads).await?;
        if !exists {
            return Err(StoreError::NotFound(format!("room {room}")));
        }
        self.decode(room, reply.ids).await
    }

    pub(in crate::store) async fn approved_backlog(
        &self,
        room: &RoomId,
        limit: usize,
    ) -> Result<Vec<(String, Option<StoredMessage>)>, StoreError> {
        let mut reads = redis::pipe();
        reads
            .cmd("LRANGE")
            .arg(keys::approved(room))
            .arg(0)
            .arg(limit.saturating_sub(1));
        let (ids,): (Vec<String>,) = self.read_fenced(room, reads).await?;
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

    /// Removes each published id once (`LREM 1`), in one round trip.
    pub(in crate::store) async fn ack_approved(
        &self,
        room: &RoomId,
        ids: &[String],
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let key = keys::approved(room);
        let ids = ids.to_vec();
        self.redis
            .run(|mut c| {
                let mut p = redis::pipe();
                for id in &ids {
                    p.cmd("LREM").arg(&key).arg(1).arg(id).ignore();
                }
                async move {
                    let r = p.query_async::<()>(&mut c).await;
                    (c, r)
                }
            })
            .await
    }
}
