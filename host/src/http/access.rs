//! The HTTP side of room access: path ids parsed into their types (400 naming the field), and
//! the caller's token turned into the arguments of chat's access rule (which lives in
//! `chat/access.rs`, the same for every adapter).

use super::error::ApiError;
use super::extract::Caller;
use super::AppState;
use crate::auth::Role;
use crate::chat::RoomAccess;
use crate::ids::RoomId;

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
    Ok(state
        .chat
        .access(room, &caller.0.user, caller.0.has(Role::Moderator))
        .await?)
}

/// Check the caller moderates `room` (moderator role, or a room moderator).
pub async fn moderator(
    state: &AppState,
    room: &RoomId,
    caller: &Caller,
) -> Result<RoomAccess, ApiError> {
    Ok(state
        .chat
        .moderator_access(room, &caller.0.user, caller.0.has(Role::Moderator))
        .await?)
}
