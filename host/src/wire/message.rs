//! A message as clients see it ([`MessageView`]: the HTTP API's answers, SSE events and NATS
//! publications) and what moderators' tools receive ([`ModerationEvent`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::RuleRef;
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
    /// The rules that counted (plugin and rule code). The plugins' details and points are
    /// for moderators: they may quote anything a plugin saw, in this room or another.
    pub reasons: Vec<RuleRef>,
    /// Chain generation that judged it.
    pub generation: u64,
    /// Whether it waits for a moderator.
    pub pending: bool,
    /// For moderators only (history read by a moderator): the decision trace, with every
    /// reason's detail and points and every plugin's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub trace: Option<Value>,
}

/// The part of a stored trace a message view shows: rule references; details, points and
/// the per-plugin runs are skipped without being built (a history page converts up to 200).
#[derive(Deserialize)]
struct StoredReasons {
    #[serde(default)]
    reasons: Vec<RuleRef>,
}

impl MessageView {
    /// The view a moderator gets: with the whole decision trace (parsed once, the reasons
    /// taken from it).
    pub fn for_moderator(m: &StoredMessage) -> Self {
        let trace: Option<Value> = serde_json::from_str(&m.trace).ok();
        let reasons = trace
            .as_ref()
            .and_then(|t| StoredReasons::deserialize(t).ok())
            .map(|t| t.reasons)
            .unwrap_or_default();
        MessageView::with(m, reasons, trace)
    }

    fn with(m: &StoredMessage, reasons: Vec<RuleRef>, trace: Option<Value>) -> Self {
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
            trace,
        }
    }
}

impl From<&StoredMessage> for MessageView {
    /// The view every reader gets (and NATS subscribers, and live streams).
    fn from(m: &StoredMessage) -> Self {
        let reasons = serde_json::from_str::<StoredReasons>(&m.trace)
            .map(|t| t.reasons)
            .unwrap_or_default();
        MessageView::with(m, reasons, None)
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
