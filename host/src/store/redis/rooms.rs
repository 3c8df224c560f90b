//! Rooms in Redis: metadata hash, member and moderator sets, the room index.

use super::*;

impl RedisStore {
    /// The room's metadata is created by a script that refuses an existing id; the index is a
    /// separate key (it lives outside the room's hash slot), added after. A retry — the same
    /// settings again, after a timeout or a failover that may have cut between the two — finds
    /// the room and adds it to the index again, so the index cannot miss a room that exists.
    pub(in crate::store) async fn create_room(
        &self,
        new: NewRoom,
    ) -> Result<CreatedRoom, StoreError> {
        let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
        let request = new.clone();
        let room = new.into_room(now);
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
        let (room, created) = if created == 1 {
            (room, true)
        } else {
            let existing = self.room(&room.id).await?;
            if !existing.has_settings_of(&request) {
                return Err(StoreError::Conflict(format!("room {}", room.id)));
            }
            (existing, false)
        };
        let mut cmd = redis::cmd("SADD");
        cmd.arg(keys::ROOMS).arg(room.id.as_str());
        self.command::<i64>(cmd).await?;
        Ok(CreatedRoom { room, created })
    }

    pub(in crate::store) async fn room(&self, id: &RoomId) -> Result<Room, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(keys::meta(id));
        let map: HashMap<String, String> = self.command(cmd).await?;
        if map.is_empty() {
            return Err(StoreError::NotFound(format!("room {id}")));
        }
        room_of(id, &map)
    }

    pub(in crate::store) async fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(keys::ROOMS);
        let mut ids: Vec<String> = self.command(cmd).await?;
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

    pub(super) async fn ensure_room(&self, room: &RoomId) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(keys::meta(room));
        let exists: bool = self.command(cmd).await?;
        if exists {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("room {room}")))
        }
    }

    pub(super) async fn set_flag(
        &self,
        room: &RoomId,
        key: String,
        user: &str,
        on: bool,
    ) -> Result<(), StoreError> {
        self.ensure_room(room).await?;
        let mut cmd = redis::cmd(if on { "SADD" } else { "SREM" });
        cmd.arg(key).arg(user);
        self.command::<i64>(cmd).await.map(drop)
    }

    pub(in crate::store) async fn set_member(
        &self,
        room: &RoomId,
        user: &str,
        member: bool,
    ) -> Result<(), StoreError> {
        self.set_flag(room, keys::members(room), user, member).await
    }

    pub(in crate::store) async fn set_moderator(
        &self,
        room: &RoomId,
        user: &str,
        moderator: bool,
    ) -> Result<(), StoreError> {
        self.set_flag(room, keys::moderators(room), user, moderator)
            .await
    }

    pub(in crate::store) async fn roles(
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
}
