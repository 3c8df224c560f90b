//! Who may read and post in a room, decided once for every adapter: open rooms admit everyone
//! signed in; members-only rooms admit members, the room's moderators and global moderators
//! (whose role comes from their token, so the adapter passes it in).

use super::{Chat, ChatError};
use crate::ids::{RoomId, UserId};
use crate::store::{Room, Viewer, Visibility};

/// A room the caller may read, and how they see it.
#[derive(Debug, Clone)]
pub struct RoomAccess {
    /// The room.
    pub room: Room,
    /// The caller as a reader (moderators also see flagged messages).
    pub viewer: Viewer,
}

/// The members-only rule: whether a caller with these roles is admitted to `room`.
pub(super) fn admits(room: &Room, member: bool, moderator: bool) -> bool {
    room.visibility == Visibility::Open || member || moderator
}

pub(super) fn not_a_member(user: &UserId, room: &RoomId) -> ChatError {
    ChatError::Forbidden(format!("{user} is not a member of {room}"))
}

impl Chat {
    /// Load `room` and check `user` may read it (`NotFound`, or `Forbidden` for a non-member of
    /// a members-only room). `global_moderator`: the caller's token carries the moderator (or
    /// admin) role.
    pub async fn access(
        &self,
        room: &RoomId,
        user: &UserId,
        global_moderator: bool,
    ) -> Result<RoomAccess, ChatError> {
        let (info, (member, moderator)) = if global_moderator {
            (self.store.room(room).await?, (true, true))
        } else {
            // Both on the one multiplexed connection: pipelined, one round trip.
            let (info, roles) = tokio::join!(self.store.room(room), self.store.roles(room, user));
            (info?, roles?)
        };
        if !admits(&info, member, moderator) {
            return Err(not_a_member(user, room));
        }
        Ok(RoomAccess {
            room: info,
            viewer: Viewer {
                user: user.clone(),
                moderator: global_moderator || moderator,
            },
        })
    }

    /// Like [`Chat::access`], and the caller must moderate the room.
    pub async fn moderator_access(
        &self,
        room: &RoomId,
        user: &UserId,
        global_moderator: bool,
    ) -> Result<RoomAccess, ChatError> {
        let access = self.access(room, user, global_moderator).await?;
        if !access.viewer.moderator {
            return Err(ChatError::Forbidden(format!(
                "{user} does not moderate {room}"
            )));
        }
        Ok(access)
    }
}
