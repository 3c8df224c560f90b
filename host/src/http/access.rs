//! Who may do what in a room: members-only rooms admit members, room moderators and global
//! moderators/admins; moderating needs the moderator role or a room moderator seat.

use super::error::ApiError;
use super::extract::Caller;
use super::AppState;
use crate::auth::Role;
use crate::store::{Room, RoomId, Viewer, Visibility};

/// A room the caller may read, and how they see it.
#[derive(Debug)]
pub struct RoomAccess {
    /// The room.
    pub room: Room,
    /// The caller as a reader (moderators also see flagged messages).
    pub viewer: Viewer,
}

/// Parse a room id from the path (400 with the rule if it is not one).
pub fn room_id(id: String) -> Result<RoomId, ApiError> {
    Ok(RoomId::new(id)?)
}

/// Load `room` and check the caller may read it (404 unknown, 403 not a member).
pub async fn readable(
    state: &AppState,
    room: &RoomId,
    caller: &Caller,
) -> Result<RoomAccess, ApiError> {
    let store = &state.chat.store;
    let global = caller.0.has(Role::Moderator);
    let (info, roles) = if global {
        (store.room(room).await?, (true, true))
    } else {
        // Both on the one multiplexed connection: pipelined, one round trip.
        let (info, roles) = tokio::join!(store.room(room), store.roles(room, &caller.0.user));
        (info?, roles?)
    };
    let (member, moderator) = roles;
    if info.visibility == Visibility::Members && !member && !moderator {
        return Err(ApiError::forbidden(format!(
            "{} is not a member of {room}",
            caller.0.user
        )));
    }
    Ok(RoomAccess {
        room: info,
        viewer: Viewer {
            user: caller.0.user.clone(),
            moderator: global || moderator,
        },
    })
}

/// Check the caller moderates `room` (moderator role, or a room moderator).
pub async fn moderator(state: &AppState, room: &RoomId, caller: &Caller) -> Result<(), ApiError> {
    let access = readable(state, room, caller).await?;
    if access.viewer.moderator {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{} does not moderate {room}",
            caller.0.user
        )))
    }
}
