//! A message as clients see it ([`MessageView`]: the HTTP API's answers, SSE events and NATS
//! publications) and what moderators' tools receive ([`ModerationEvent`]).

use serde::{Deserialize, Serialize};

use crate::plugins::Decision;
use crate::store::{StoredAction, StoredMessage};

/// A message as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageView {
    /// Message id (stream id).
    pub id: String,
    /// Room.
    pub room: String,
    /// Sender.
    pub sender: String,
    /// Text after rewrites.
    pub text: String,
    /// Receive time, ms since the epoch.
    pub time: u64,
    /// `allow`, `rewrite` or `flag`.
    pub action: StoredAction,
    /// Total spam score.
    pub score: f64,
    /// Why the chain decided as it did (plugin, rule, detail).
    #[schema(value_type = Vec<crate::plugins::Reason>)]
    pub reasons: serde_json::Value,
    /// Chain generation that judged it.
    pub generation: u64,
    /// Whether it waits for a moderator.
    pub pending: bool,
}

/// The part of a stored trace a message view shows; the per-plugin runs are skipped without
/// being built (a history page converts up to 200 of these).
#[derive(Deserialize)]
struct StoredReasons {
    #[serde(default)]
    reasons: Option<serde_json::Value>,
}

impl From<&StoredMessage> for MessageView {
    fn from(m: &StoredMessage) -> Self {
        let reasons = serde_json::from_str::<StoredReasons>(&m.trace)
            .ok()
            .and_then(|t| t.reasons)
            .unwrap_or_else(|| serde_json::json!([]));
        MessageView {
            id: m.id.clone(),
            room: m.room.to_string(),
            sender: m.sender.clone(),
            text: m.text.clone(),
            time: m.time_ms,
            action: m.action,
            score: m.score,
            reasons,
            generation: m.generation,
            pending: m.pending,
        }
    }
}

/// What moderators' tools receive on `chowk.room.<room>.moderation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModerationEvent {
    /// Stored but held for a moderator.
    Flagged {
        /// The message.
        message: MessageView,
        /// The full decision trace (JSON as stored).
        trace: serde_json::Value,
    },
    /// Refused; not stored.
    Rejected {
        /// Room.
        room: String,
        /// Sender.
        sender: String,
        /// Text as sent.
        text: String,
        /// The chain's decision with its trace.
        decision: Decision,
    },
}
