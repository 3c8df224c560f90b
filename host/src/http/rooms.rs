//! Rooms: create (admin), list, read, and membership (admin or room moderator) and room
//! moderators (admin).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::access::{self, room_id};
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path};
use super::AppState;
use crate::auth::Role;
use crate::ids::UserId;
use crate::store::model::DEFAULT_RETENTION;
use crate::store::{NewRoom, Room, Visibility};

/// `POST /v1/rooms` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// Id: 1 to 64 of `a-z`, `0-9`, `_`, `-`.
    pub id: String,
    /// Display name, 1 to 80 characters.
    pub name: String,
    /// Up to 500 characters.
    #[serde(default)]
    pub description: String,
    /// `open` (anyone signed in) or `members`.
    #[serde(default)]
    pub visibility: Visibility,
    /// Messages kept (older ones are trimmed); default 10,000.
    #[serde(default)]
    pub retention: Option<u64>,
}

/// `GET /v1/rooms` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoomList {
    /// Every room, by id.
    pub rooms: Vec<Room>,
}

/// Create a room (admin). The same request again answers 200 with the room (safe to retry).
#[utoipa::path(post, path = "/v1/rooms", tag = "rooms", request_body = CreateRoom,
    security(("bearer" = [])),
    responses((status = 201, body = Room), (status = 200, description = "a retry: the room was created before with these settings", body = Room),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "the id is taken, with other settings", body = ErrorBody)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<CreateRoom>,
) -> Result<(StatusCode, axum::Json<Room>), ApiError> {
    caller.require(Role::Admin)?;
    let made = state
        .chat
        .store
        .create_room(NewRoom {
            id: room_id(body.id)?,
            name: body.name,
            description: body.description,
            visibility: body.visibility,
            retention: body.retention.unwrap_or(DEFAULT_RETENTION),
        })
        .await?;
    let status = if made.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(made.room)))
}

/// Every room.
#[utoipa::path(get, path = "/v1/rooms", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = RoomList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<axum::Json<RoomList>, ApiError> {
    Ok(axum::Json(RoomList {
        rooms: state.chat.store.rooms().await?,
    }))
}

/// One room.
#[utoipa::path(get, path = "/v1/rooms/{room}", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path, description = "Room id")),
    responses((status = 200, body = Room), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path(room): Path<String>,
) -> Result<axum::Json<Room>, ApiError> {
    Ok(axum::Json(state.chat.store.room(&room_id(room)?).await?))
}

async fn set_member(
    state: &AppState,
    caller: &Caller,
    room: String,
    user: String,
    member: bool,
) -> Result<StatusCode, ApiError> {
    let room = room_id(room)?;
    if !caller.0.has(Role::Admin) {
        access::moderator(state, &room, caller).await?;
    }
    let user = UserId::new(user)?;
    state.chat.store.set_member(&room, &user, member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a member (admin or room moderator).
#[utoipa::path(put, path = "/v1/rooms/{room}/members/{user}", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_member(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((room, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    set_member(&state, &caller, room, user, true).await
}

/// Remove a member (admin or room moderator).
#[utoipa::path(delete, path = "/v1/rooms/{room}/members/{user}", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((room, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    set_member(&state, &caller, room, user, false).await
}

async fn set_moderator(
    state: &AppState,
    caller: &Caller,
    room: String,
    user: String,
    moderator: bool,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let room = room_id(room)?;
    let user = UserId::new(user)?;
    state
        .chat
        .store
        .set_moderator(&room, &user, moderator)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a user a moderator of this room (admin).
#[utoipa::path(put, path = "/v1/rooms/{room}/moderators/{user}", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_moderator(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((room, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    set_moderator(&state, &caller, room, user, true).await
}

/// Remove a room moderator (admin).
#[utoipa::path(delete, path = "/v1/rooms/{room}/moderators/{user}", tag = "rooms", security(("bearer" = [])),
    params(("room" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_moderator(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((room, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    set_moderator(&state, &caller, room, user, false).await
}
