//! What the store keeps: rooms, messages and profiles, with their validation. Shared by the
//! Redis store and the in-memory store so both behave the same.

use serde::{Deserialize, Serialize};

use super::{NewRoom, StoreError};
use crate::ids::{ClientId, RoomId, UserId};

/// Most messages one history page returns.
pub const MAX_PAGE: usize = 200;
/// Default retention of a room: messages kept (older ones are trimmed).
pub const DEFAULT_RETENTION: u64 = 10_000;

/// Who may read and post in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone signed in.
    #[default]
    Open,
    /// Members only.
    Members,
}

/// A room (community).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Room {
    /// Id.
    pub id: RoomId,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Open or members-only.
    pub visibility: Visibility,
    /// Messages kept.
    pub retention: u64,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
}

/// What the chain decided, as stored with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoredAction {
    /// Stored as sent.
    Allow,
    /// Stored with rewritten text.
    Rewrite,
    /// Stored, hidden from everyone but moderators and the sender until approved.
    Flag,
}

impl StoredAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StoredAction::Allow => "allow",
            StoredAction::Rewrite => "rewrite",
            StoredAction::Flag => "flag",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "allow" => StoredAction::Allow,
            "rewrite" => StoredAction::Rewrite,
            "flag" => StoredAction::Flag,
            _ => return None,
        })
    }
}

/// A message to store (after the chain judged it).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Room.
    pub room: RoomId,
    /// Sender (the token's subject).
    pub sender: UserId,
    /// Text after rewrites.
    pub text: String,
    /// Receive time, ms.
    pub time_ms: u64,
    /// The chain's action.
    pub action: StoredAction,
    /// The chain's total score.
    pub score: f64,
    /// The full decision trace, as JSON text (reasons and every plugin's run).
    pub trace: String,
    /// The reasons alone, as JSON text: what the message's own record keeps, so that history
    /// pages stay small (the Redis store keeps the full trace beside it for moderators).
    pub reasons: String,
    /// Generation of the chain that judged it.
    pub generation: u64,
    /// Client-chosen id for idempotent retries.
    pub client_id: Option<ClientId>,
}

impl NewMessage {
    /// The message as stored under `id`; flagged messages start pending.
    pub fn into_stored(self, id: String) -> StoredMessage {
        StoredMessage {
            id,
            pending: self.action == StoredAction::Flag,
            room: self.room,
            sender: self.sender.as_str().to_owned(),
            text: self.text,
            time_ms: self.time_ms,
            action: self.action,
            score: self.score,
            trace: self.trace,
            generation: self.generation,
            client_id: self.client_id.map(|c| c.as_str().to_owned()),
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    /// Message id (the stream id, `<ms>-<seq>`), ordered.
    pub id: String,
    /// Room.
    pub room: RoomId,
    /// Sender.
    pub sender: String,
    /// Text after rewrites.
    pub text: String,
    /// Receive time, ms.
    pub time_ms: u64,
    /// Chain action.
    pub action: StoredAction,
    /// Chain score.
    pub score: f64,
    /// Decision trace (JSON text).
    pub trace: String,
    /// Chain generation.
    pub generation: u64,
    /// Client id, if the client sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Whether it is flagged and waiting for a moderator.
    pub pending: bool,
}

/// Result of an append: the message, and whether this call created it (false: a retry with a
/// known client id returned the original).
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// The stored message.
    pub message: StoredMessage,
    /// Whether this call stored it.
    pub created: bool,
    /// Where a message this call stored landed in its room's stream.
    pub placed: Option<Placement>,
}

/// Where a new message landed in its room's stream, as its append saw it: the entry just
/// before it, and the relay's cursor at that moment. When the entry before it is the cursor,
/// everything before the message was already published, and the relay can publish it from
/// memory next, without reading it back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    /// The id of the entry before it (`None`: it is the room's first).
    pub previous: Option<String>,
    /// The relay's cursor when it was appended.
    pub relayed: Option<String>,
}

/// What a post needs to know before it is judged, read in one step.
#[derive(Debug, Clone, PartialEq)]
pub struct PostContext {
    /// The room.
    pub room: Room,
    /// Whether the sender is a member of it.
    pub member: bool,
    /// Whether the sender moderates it.
    pub moderator: bool,
    /// The message already stored under the post's client id, if any.
    pub existing: Option<StoredMessage>,
}

/// What the relay publishes next from one room.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RelayBatch {
    /// Stored messages after the relay's cursor, oldest first (pending ones with their full
    /// trace, for moderators).
    pub messages: Vec<StoredMessage>,
    /// Approved ids waiting to be relayed, with their message (`None` once removed).
    pub approved: Vec<(String, Option<StoredMessage>)>,
}

/// A history query. `before` and `after` are message ids (exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryQuery {
    /// Only messages older than this id.
    pub before: Option<String>,
    /// Only messages newer than this id (the oldest ones after it come first into the page).
    pub after: Option<String>,
    /// Page size, 1..=200.
    pub limit: usize,
}

/// Who is reading: decides whether flagged messages are visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// User id.
    pub user: UserId,
    /// Whether the user moderates the room (or is an admin).
    pub moderator: bool,
}

impl Viewer {
    /// Whether this viewer may see `m`.
    pub fn can_see(&self, m: &StoredMessage) -> bool {
        !m.pending || self.moderator || m.sender == self.user.as_str()
    }
}

/// One page of history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPage {
    /// Messages, newest first.
    pub messages: Vec<StoredMessage>,
    /// Cursor for the next (older) page, if there may be one.
    pub next_before: Option<String>,
}

/// Result of creating a room: the room, and whether this call created it (false: a retry with
/// the same settings found the room it made before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedRoom {
    /// The room.
    pub room: Room,
    /// Whether this call created it.
    pub created: bool,
}

impl Room {
    /// Whether `new` asks for this room as it is (a retry of its creation).
    pub fn has_settings_of(&self, new: &NewRoom) -> bool {
        self.id == new.id
            && self.name == new.name
            && self.description == new.description
            && self.visibility == new.visibility
            && self.retention == new.retention
    }
}

/// How long a moderation decision is remembered so that its retry answers as it did, ms.
pub const DECISION_MEMORY_MS: u64 = 7 * 24 * 3_600_000;

/// Labels kept per room (the oldest are trimmed).
pub const MAX_LABELS: usize = 10_000;

/// A moderator's decision kept as a training label for the spam classifier (`chowk train`):
/// removed means spam, approved means ham. Rejections by the chain are not labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The message id.
    pub message: String,
    /// The message text.
    pub text: String,
    /// Whether the moderator removed it (spam) or approved it (ham).
    pub spam: bool,
}

/// A moderator's decision on a message: approve a flagged one, or remove any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Make it visible to everyone.
    Approve,
    /// Delete it.
    Remove,
}

/// Parse a stream id `<ms>-<seq>`.
pub fn parse_id(id: &str) -> Result<(u64, u64), StoreError> {
    let bad = || StoreError::Invalid {
        field: "id".into(),
        message: format!(
            "{} is not a message id (<ms>-<seq>)",
            crate::ids::preview(id)
        ),
    };
    let (ms, seq) = id.split_once('-').ok_or_else(bad)?;
    Ok((
        ms.parse().map_err(|_| bad())?,
        seq.parse().map_err(|_| bad())?,
    ))
}

impl HistoryQuery {
    /// Check the cursors and the limit.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(StoreError::Invalid {
                field: "limit".into(),
                message: format!("must be 1..={MAX_PAGE}, got {}", self.limit),
            });
        }
        for (field, cursor) in [("before", &self.before), ("after", &self.after)] {
            if let Some(cursor) = cursor {
                parse_id(cursor).map_err(|_| StoreError::Invalid {
                    field: field.into(),
                    message: format!(
                        "{} is not a message id (<ms>-<seq>, as in a message's `id`)",
                        crate::ids::preview(cursor)
                    ),
                })?;
            }
        }
        Ok(())
    }
}
