//! The moderation queue of a room: flagged messages with their decision traces, and the
//! moderator's approve/remove decision.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::access::{self, room_id};
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path};
use super::AppState;
use crate::store::Decision;
use crate::wire::MessageView;

/// One flagged message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Flagged {
    /// The message (its own `trace` left out: it is the next field).
    pub message: MessageView,
    /// The full decision trace: reasons with details and points, and every plugin's run.
    #[schema(value_type = Object)]
    pub trace: serde_json::Value,
}

/// The queue.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Queue {
    /// Oldest first.
    pub messages: Vec<Flagged>,
}

/// `POST /v1/rooms/{room}/moderation/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decide {
    /// `approve` a flagged message (visible to everyone, relayed) or `remove` any message
    /// (deleted). Both are kept as training labels for the spam classifier (`chowk train`).
    pub decision: Decision,
}

/// Flagged messages waiting for a moderator (moderators only).
#[utoipa::path(get, path = "/v1/rooms/{room}/moderation", tag = "moderation", security(("bearer" = [])),
    params(("room" = String, Path)),
    responses((status = 200, body = Queue), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn queue(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(room): Path<String>,
) -> Result<axum::Json<Queue>, ApiError> {
    let room = room_id(room)?;
    access::moderator(&state, &room, &caller).await?;
    let pending = state.chat.store.pending(&room).await?;
    Ok(axum::Json(Queue {
        messages: pending
            .iter()
            .map(|m| Flagged {
                message: MessageView::from(m),
                trace: serde_json::from_str(&m.trace).unwrap_or_default(),
            })
            .collect(),
    }))
}

/// Approve a flagged message, or remove any message (moderators only). The decision and the
/// text are kept as a training label for the spam classifier (`chowk train`).
#[utoipa::path(post, path = "/v1/rooms/{room}/moderation/{id}", tag = "moderation", security(("bearer" = [])),
    params(("room" = String, Path), ("id" = String, Path, description = "Message id")), request_body = Decide,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, description = "no such message, or (approve) not flagged", body = ErrorBody),
        (status = 409, description = "approving a message that was removed", body = ErrorBody)))]
pub async fn decide(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((room, id)): Path<(String, String)>,
    Json(body): Json<Decide>,
) -> Result<StatusCode, ApiError> {
    let room = room_id(room)?;
    access::moderator(&state, &room, &caller).await?;
    state.chat.moderate(&room, &id, body.decision).await?;
    Ok(StatusCode::NO_CONTENT)
}
