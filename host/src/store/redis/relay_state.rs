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

    pub(in crate::store) async fn relay_batch(
        &self,
        room: &RoomId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let start = after.map(|a| format!("({a}")).unwrap_or_else(|| "-".into());
        let entries = self.range(room, false, (&start, "+"), limit, true).await?;
        self.decode(room, entries).await
    }

    pub(in crate::store) async fn approved_backlog(
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
