//! Posting (through the plugin chain) and reading history. The sender is always the token's
//! subject, never a body field.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::access::{self, room_id};
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path, Query};
use super::AppState;
use crate::ids::ClientId;
use crate::store::HistoryQuery;
use crate::wire::MessageView;

/// Default history page size.
pub const DEFAULT_LIMIT: usize = 50;

/// `POST /v1/rooms/{room}/messages` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The text, 1 to 4,000 characters (configurable).
    pub text: String,
    /// Your id for this message (1 to 128 printable characters): a retry with the same id
    /// returns the original instead of posting twice.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// Post a message. 201 when stored, 200 when `client_id` matched an earlier post.
#[utoipa::path(post, path = "/v1/rooms/{room}/messages", tag = "messages", security(("bearer" = [])),
    params(("room" = String, Path)), request_body = PostMessage,
    responses((status = 201, body = MessageView), (status = 200, description = "a retry: the original", body = MessageView),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "rejected by a plugin", body = ErrorBody),
        (status = 429, description = "rate limited; see Retry-After", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry with the same client_id", body = ErrorBody)))]
pub async fn post(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(room): Path<String>,
    Json(body): Json<PostMessage>,
) -> Result<(StatusCode, axum::Json<MessageView>), ApiError> {
    let room = room_id(room)?;
    let client_id = body.client_id.map(ClientId::new).transpose()?;
    let posted = state
        .chat
        .post(&room, &caller.0.user, body.text, client_id)
        .await?;
    let status = if posted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(MessageView::from(&posted.message))))
}

/// History query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Only messages older than this id.
    pub before: Option<String>,
    /// Only messages newer than this id.
    pub after: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<usize>,
}

/// A page of history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    /// Newest first.
    pub messages: Vec<MessageView>,
    /// Pass as `before` for the next (older) page; null at the start of the room.
    pub next_before: Option<String>,
}

/// Read history, newest first. Flagged messages appear only to moderators and their sender.
#[utoipa::path(get, path = "/v1/rooms/{room}/messages", tag = "messages", security(("bearer" = [])),
    params(("room" = String, Path), HistoryParams),
    responses((status = 200, body = History), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(room): Path<String>,
    Query(params): Query<HistoryParams>,
) -> Result<axum::Json<History>, ApiError> {
    let room = room_id(room)?;
    let access = access::readable(&state, &room, &caller).await?;
    let page = state
        .chat
        .store
        .history(
            &room,
            &HistoryQuery {
                before: params.before,
                after: params.after,
                limit: params.limit.unwrap_or(DEFAULT_LIMIT),
            },
            &access.viewer,
        )
        .await?;
    let view = if access.viewer.moderator {
        MessageView::for_moderator
    } else {
        |m: &crate::store::StoredMessage| MessageView::from(m)
    };
    Ok(axum::Json(History {
        messages: page.messages.iter().map(view).collect(),
        next_before: page.next_before,
    }))
}
