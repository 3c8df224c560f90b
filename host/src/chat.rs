//! Posting a message: the one pipeline the HTTP API and NATS ingest share. Validate, check the
//! room and membership, return the original for a known client id (so a retry is neither judged
//! nor rate-limited twice), run the plugin chain off the async workers, store, and wake the
//! relay. Rejections are reported to moderators' tools over NATS (best effort). Profile updates
//! live here too, because they are announced on `chowk.profile.<user>`.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::plugins::{Action, Chain, Decision, Message, Rejection};
use crate::relay::event::{stored_trace, ModerationEvent};
use crate::relay::publisher::publish_json;
use crate::relay::{subjects, RelayHandle};
use crate::store::{
    NewMessage, Profile, ProfilePatch, RoomId, Store, StoreError, StoredAction, StoredMessage,
    Visibility,
};

/// Default longest text, in characters.
pub const DEFAULT_MAX_TEXT_CHARS: usize = 4_000;

/// A stored message and whether this call stored it.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The message as stored.
    pub message: StoredMessage,
    /// `false` when a known client id returned the original.
    pub created: bool,
}

/// Why a post failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PostError {
    /// Bad input (empty or too long text, bad client id...).
    #[error("{0}")]
    Invalid(String),
    /// The sender may not post in this room.
    #[error("{0}")]
    Forbidden(String),
    /// The chain refused the message.
    #[error("rejected by {}: {}", .rejection.plugin, .rejection.message)]
    Rejected {
        /// Who refused it and why.
        rejection: Rejection,
        /// The full decision.
        decision: Box<Decision>,
    },
    /// The store failed (not found, unavailable, not replicated...).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PostError {
    /// Stable error code for API bodies.
    pub fn code(&self) -> &'static str {
        match self {
            PostError::Invalid(_) => "invalid_request",
            PostError::Forbidden(_) => "forbidden",
            PostError::Rejected { rejection, .. } if rejection.code == "rate_limited" => {
                "rate_limited"
            }
            PostError::Rejected { .. } => "rejected",
            PostError::Store(StoreError::Invalid { .. }) => "invalid_request",
            PostError::Store(StoreError::NotFound(_)) => "not_found",
            PostError::Store(StoreError::Conflict(_)) => "conflict",
            PostError::Store(StoreError::Unavailable(_) | StoreError::NotReplicated { .. }) => {
                "unavailable"
            }
        }
    }
}

/// The chat service of one host.
#[derive(Debug)]
pub struct Chat {
    /// Storage.
    pub store: Arc<Store>,
    /// The live plugin chain (swapped whole on reload).
    pub chain: Arc<ArcSwap<Chain>>,
    /// The clock messages are stamped with.
    pub clock: Arc<dyn Clock>,
    /// Counters of decisions (and everything else `/metrics` shows).
    pub metrics: Metrics,
    relay: Option<RelayHandle>,
    nats: Option<async_nats::Client>,
    max_text_chars: usize,
}

impl Chat {
    /// A chat service; `relay` is woken after every stored message, `nats` (if any) receives
    /// rejection events.
    pub fn new(
        store: Arc<Store>,
        chain: Arc<ArcSwap<Chain>>,
        clock: Arc<dyn Clock>,
        relay: Option<RelayHandle>,
        nats: Option<async_nats::Client>,
    ) -> Self {
        Chat {
            store,
            chain,
            clock,
            relay,
            nats,
            metrics: Metrics::new(),
            max_text_chars: DEFAULT_MAX_TEXT_CHARS,
        }
    }

    /// Count decisions in `metrics` (shared with the rest of the host).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Change the text limit.
    pub fn with_max_text_chars(mut self, max: usize) -> Self {
        self.max_text_chars = max;
        self
    }

    /// Judge and store one message from `sender` (already authenticated by the caller).
    pub async fn post(
        &self,
        room: &RoomId,
        sender: &str,
        text: String,
        client_id: Option<String>,
    ) -> Result<Posted, PostError> {
        if text.trim().is_empty() {
            return Err(PostError::Invalid("text: must not be empty".into()));
        }
        let chars = text.chars().count();
        if chars > self.max_text_chars {
            return Err(PostError::Invalid(format!(
                "text: at most {} characters, got {chars}",
                self.max_text_chars
            )));
        }
        crate::store::profile::validate_user(sender)?;
        let info = self.store.room(room).await?;
        if info.visibility == Visibility::Members {
            let (member, moderator) = self.store.roles(room, sender).await?;
            if !member && !moderator {
                return Err(PostError::Forbidden(format!(
                    "{sender} is not a member of {room}"
                )));
            }
        }
        if let Some(cid) = &client_id {
            if let Some(message) = self.store.find_client_id(room, sender, cid).await? {
                return Ok(Posted {
                    message,
                    created: false,
                });
            }
        }
        let now = self.clock.now_ms();
        let input = Message {
            id: String::new(),
            room: room.to_string(),
            sender: sender.to_owned(),
            text: text.clone(),
            sent_at_ms: now,
            metadata: client_id
                .iter()
                .map(|c| ("client-id".to_owned(), c.clone()))
                .collect(),
        };
        let chain = self.chain.load_full();
        let decision = tokio::task::spawn_blocking(move || chain.evaluate(&input))
            .await
            .map_err(|e| StoreError::Unavailable(format!("plugin chain task failed: {e}")))?;
        self.metrics.observe_decision(&decision);
        let action = match decision.action {
            Action::Reject => {
                self.report_rejection(room, sender, &text, &decision).await;
                let rejection = decision.rejection.clone().unwrap_or_else(|| Rejection {
                    plugin: "chain".into(),
                    code: "rejected".into(),
                    message: "message rejected".into(),
                    retry_after_ms: None,
                });
                return Err(PostError::Rejected {
                    rejection,
                    decision: Box::new(decision),
                });
            }
            Action::Allow => StoredAction::Allow,
            Action::Rewrite => StoredAction::Rewrite,
            Action::Flag => StoredAction::Flag,
        };
        let appended = self
            .store
            .append(NewMessage {
                room: room.clone(),
                sender: sender.to_owned(),
                text: decision.text.clone(),
                time_ms: now,
                action,
                score: decision.score,
                trace: stored_trace(&decision),
                generation: decision.generation,
                client_id,
            })
            .await?;
        if appended.created {
            self.poke_relay(room).await;
        }
        Ok(Posted {
            message: appended.message,
            created: appended.created,
        })
    }

    /// Tell the relay `room` has something new (a message, or an approval).
    pub async fn poke_relay(&self, room: &RoomId) {
        if let Err(e) = self.store.mark_dirty(room).await {
            tracing::warn!(error = %e, %room, "could not mark the room for the relay; its periodic scan will");
        }
        if let Some(relay) = &self.relay {
            relay.poke();
        }
    }

    /// Apply a profile update and announce the result on `chowk.profile.<user>` (best effort:
    /// the profile itself is always readable over HTTP).
    pub async fn update_profile(
        &self,
        user: &str,
        patch: ProfilePatch,
    ) -> Result<Profile, StoreError> {
        let profile = self
            .store
            .update_profile(user, patch, self.clock.now_ms())
            .await?;
        if let Some(nats) = &self.nats {
            if let Err(e) = publish_json(nats, subjects::profile(user), None, &profile).await {
                tracing::debug!(error = %e, %user, "profile change not announced");
            }
        }
        Ok(profile)
    }

    async fn report_rejection(&self, room: &RoomId, sender: &str, text: &str, decision: &Decision) {
        let Some(nats) = &self.nats else {
            return;
        };
        let event = ModerationEvent::Rejected {
            room: room.to_string(),
            sender: sender.to_owned(),
            text: text.to_owned(),
            decision: decision.clone(),
        };
        if let Err(e) = publish_json(nats, subjects::moderation(room), None, &event).await {
            tracing::debug!(error = %e, "rejection not reported to moderation subscribers");
        }
    }
}
