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

    /// Forward only: two hosts' relays may finish in either order.
    pub(in crate::store) async fn set_relay_cursor(
        &self,
        room: &RoomId,
        id: &str,
    ) -> Result<(), StoreError> {
        parse_id(id)?;
        self.relay_commit(room, Some(id), &[]).await.map(drop)
    }

    /// Takes each published approval off the queue once (by id, not by count).
    pub(in crate::store) async fn ack_approved(
        &self,
        room: &RoomId,
        ids: &[String],
    ) -> Result<(), StoreError> {
        self.relay_commit(room, None, ids).await.map(drop)
    }

    /// The next batch to relay from `room`, in one script ([`scripts::RELAY_READ`]). With
    /// `min_replica_acks`, the script also writes the room's fence key and a `WAIT` for it
    /// follows on the same connection: replication is in order, so replicas that acknowledged
    /// the fence hold every entry read before it. Without this, a relay reading from a primary
    /// that is partitioned from its replicas (or about to die) would publish messages that are
    /// then lost with it: subscribers would see what the store never kept.
    pub(in crate::store) async fn relay_read(
        &self,
        room: &RoomId,
        limit: usize,
    ) -> Result<RelayBatch, StoreError> {
        let keys = [
            keys::meta(room),
            keys::messages(room),
            keys::relayed(room),
            keys::approved(room),
            keys::pending(room),
            keys::traces(room),
            keys::fence(room),
        ];
        let acks = self.config.min_replica_acks;
        let (wait_ms, waiting) = (self.config.replica_ack_timeout_ms, self.waiting_timeout());
        let pool = if acks > 0 {
            &self.replicated
        } else {
            &self.redis
        };
        let reply: Value = pool
            .run(|mut c| {
                if acks > 0 {
                    c.set_response_timeout(waiting);
                }
                let mut inv = scripts::RELAY_READ.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                inv.arg(limit).arg(if acks > 0 { "1" } else { "0" });
                async move {
                    let r = invoke_then_wait::<Value>(&mut c, &inv, acks, wait_ms).await;
                    (c, r)
                }
            })
            .await
            .map_err(naming_room(room))?;
        let Value::Array(parts) = reply else {
            return Err(corrupt("relay read reply"));
        };
        let [entries, flags, traces, approved, approved_entries]: [Value; 5] =
            parts.try_into().map_err(|_| corrupt("relay read reply"))?;
        let entries: StreamRangeReply =
            redis::from_redis_value(entries).map_err(|_| corrupt("relay read entries"))?;
        // A reply out of shape is an error, never a default: a flag read as "not pending"
        // would publish a held message, an entry read as gone would drop an approval.
        let flags: Vec<i64> =
            redis::from_redis_value(flags).map_err(|_| corrupt("relay read flags"))?;
        let traces: Vec<String> =
            redis::from_redis_value(traces).map_err(|_| corrupt("relay read traces"))?;
        if flags.len() != entries.ids.len() || traces.len() != entries.ids.len() {
            return Err(corrupt("relay read flags"));
        }
        let mut messages = Vec::with_capacity(entries.ids.len());
        for (i, e) in entries.ids.into_iter().enumerate() {
            let pending = flags.get(i).copied() == Some(1);
            let mut m = message_of(room, e.id, e.map, pending)?;
            if let Some(t) = traces.get(i).filter(|t| !t.is_empty()) {
                m.trace = t.clone();
            }
            messages.push(m);
        }
        let ids: Vec<String> = redis::from_redis_value(approved).unwrap_or_default();
        let found: Vec<Option<HashMap<String, Value>>> =
            redis::from_redis_value(approved_entries).unwrap_or_default();
        let mut approved = Vec::with_capacity(ids.len());
        for (id, fields) in ids
            .into_iter()
            .zip(found.into_iter().chain(std::iter::repeat(None)))
        {
            let m = fields
                .map(|f| message_of(room, id.clone(), f, false))
                .transpose()?;
            approved.push((id, m));
        }
        Ok(RelayBatch { messages, approved })
    }

    /// After publishing: the cursor forward to `last`, the `approved` ids off the queue, and
    /// the dirty mark cleared if the room is settled, in one script
    /// ([`scripts::RELAY_COMMIT`]). Returns whether it is settled.
    pub(in crate::store) async fn relay_commit(
        &self,
        room: &RoomId,
        last: Option<&str>,
        approved: &[String],
    ) -> Result<bool, StoreError> {
        let keys = [
            keys::relayed(room),
            keys::approved(room),
            keys::messages(room),
            keys::RELAY_DIRTY.to_owned(),
        ];
        let mut args = vec![last.unwrap_or_default().to_owned(), room.to_string()];
        args.extend(approved.iter().cloned());
        self.redis
            .run(|mut c| {
                let mut inv = scripts::RELAY_COMMIT.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                for a in &args {
                    inv.arg(a);
                }
                async move {
                    let r = inv.invoke_async::<i64>(&mut c).await.map(|s| s == 1);
                    (c, r)
                }
            })
            .await
    }
}
