//! Chat: every write a relay must see happens here, for every adapter (HTTP, NATS ingest).
//! Posting (validate, check the room and membership, return the original for a known client
//! id so a retry is neither judged nor rate-limited twice, run the plugin chain off the async
//! workers, store, wake the relay), moderation decisions, dry runs of the chain, and profile
//! changes. Chat knows no HTTP and no NATS: what it tells the world goes through an
//! [`Outbox`], which the relay implements.

mod access;
mod admission;
mod error;
mod outbox;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use access::RoomAccess;
use admission::Admission;
pub use error::{ChatError, RATE_LIMITED_RULE};
pub use outbox::{Announcement, NoOutbox, Outbox};

use crate::clock::Clock;
use crate::ids::{ClientId, RoomId, UserId};
use crate::metrics::Metrics;
use crate::plugins::{Action, Chain, Decision, Message, Rejection};
use crate::store::{
    Decision as Moderation, NewMessage, Profile, ProfilePatch, Store, StoredAction, StoredMessage,
};

/// Default of `[limits] posts_in_flight`.
pub const DEFAULT_POSTS_IN_FLIGHT: usize = 64;
/// Default of `[limits] sender_posts_in_flight`.
pub const DEFAULT_SENDER_POSTS_IN_FLIGHT: usize = 4;

/// A stored message and whether this call stored it.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The message as stored.
    pub message: StoredMessage,
    /// `false` when a known client id returned the original.
    pub created: bool,
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
    outbox: Arc<dyn Outbox>,
    max_text_chars: usize,
    admission: Admission,
}

impl Chat {
    /// A chat service whose writes go out through `outbox`; texts up to `max_text_chars`
    /// characters.
    pub fn new(
        store: Arc<Store>,
        chain: Arc<ArcSwap<Chain>>,
        clock: Arc<dyn Clock>,
        outbox: Arc<dyn Outbox>,
        max_text_chars: usize,
    ) -> Self {
        Chat {
            store,
            chain,
            clock,
            outbox,
            metrics: Metrics::new(),
            max_text_chars,
            admission: Admission::new(DEFAULT_POSTS_IN_FLIGHT, DEFAULT_SENDER_POSTS_IN_FLIGHT),
        }
    }

    /// At most `posts` posts at a time on this host, `per_sender` of them from one sender.
    pub fn with_admission(mut self, posts: usize, per_sender: usize) -> Self {
        self.admission = Admission::new(posts, per_sender);
        self
    }

    /// Count decisions in `metrics` (shared with the rest of the host).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The longest text a post may have, in characters.
    pub fn max_text_chars(&self) -> usize {
        self.max_text_chars
    }

    /// Judge and store one message from `sender` (already authenticated by the caller).
    pub async fn post(
        &self,
        room: &RoomId,
        sender: &UserId,
        text: String,
        client_id: Option<ClientId>,
    ) -> Result<Posted, ChatError> {
        self.check_text(&text)?;
        let _admitted = self.admission.admit(sender)?;
        let context = self
            .store
            .prepare_post(room, sender, client_id.as_ref())
            .await?;
        if !access::admits(&context.room, context.member, context.moderator) {
            return Err(access::not_a_member(sender, room));
        }
        if let (Some(message), Some(cid)) = (context.existing, &client_id) {
            // A retry: the original, without judging it again. With `min_replica_acks`, finding
            // it is an acknowledgement too, so the replicas must hold it now: it is read again
            // where the write and `WAIT` go, and a primary that does not hold it (the read
            // above reached an old primary) means it was never acknowledged: judged anew.
            let original = if self.store.confirms_replicas() {
                self.store.find_client_id(room, sender, cid).await?
            } else {
                Some(message)
            };
            if let Some(message) = original {
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
            sender: sender.to_string(),
            text: text.clone(),
            sent_at_ms: now,
            metadata: client_id
                .iter()
                .map(|c| ("client-id".to_owned(), c.to_string()))
                .collect(),
        };
        let decision = self.judge(input).await?;
        self.metrics.observe_decision(&decision);
        let action = match decision.action {
            Action::Reject => {
                let rejection = decision.rejection.clone().unwrap_or_else(|| Rejection {
                    plugin: "chain".into(),
                    code: "rejected".into(),
                    message: "message rejected".into(),
                    retry_after_ms: None,
                });
                let decision = Box::new(decision);
                self.outbox.announce(Announcement::Rejected {
                    room: room.clone(),
                    sender: sender.clone(),
                    text,
                    decision: decision.clone(),
                });
                return Err(ChatError::Rejected {
                    rejection,
                    decision,
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
                sender: sender.clone(),
                text: decision.text.clone(),
                time_ms: now,
                action,
                score: decision.score,
                trace: stored_trace(&decision),
                reasons: stored_reasons(&decision),
                generation: decision.generation,
                client_id,
            })
            .await?;
        match &appended.placed {
            Some(placed) => self.outbox.appended(&appended.message, placed),
            // Stored by an earlier attempt of this call or of the client's (its answer was
            // lost): wake the relay anyway, in case no relay saw it yet.
            None => self.wake_relay(room),
        }
        Ok(Posted {
            message: appended.message,
            created: appended.created,
        })
    }

    /// Run `message` through the live chain without storing or relaying it (plugins with
    /// state, such as rate limits, do count it).
    pub async fn dry_run(&self, message: Message) -> Result<Decision, ChatError> {
        self.check_length(&message.text)?;
        self.judge(message).await
    }

    /// Approve a flagged message (visible to everyone, relayed) or remove any stored message;
    /// either decision is kept as a training label for `chowk train`. `NotFound` if there is
    /// nothing to decide. The caller has checked the moderator's access.
    pub async fn moderate(
        &self,
        room: &RoomId,
        id: &str,
        decision: Moderation,
    ) -> Result<(), ChatError> {
        self.store.moderate(room, id, decision).await?;
        self.wake_relay(room);
        Ok(())
    }

    /// Apply a profile update and announce the result (best effort: the profile itself is
    /// always readable over HTTP).
    pub async fn update_profile(
        &self,
        user: &UserId,
        patch: ProfilePatch,
    ) -> Result<Profile, ChatError> {
        let profile = self
            .store
            .update_profile(user, patch, self.clock.now_ms())
            .await?;
        self.outbox.announce(Announcement::ProfileChanged {
            user: user.clone(),
            profile: Box::new(profile.clone()),
        });
        Ok(profile)
    }

    fn check_text(&self, text: &str) -> Result<(), ChatError> {
        match crate::ids::text_problem(text, self.max_text_chars) {
            Some(message) => Err(ChatError::Invalid {
                field: "text",
                message,
            }),
            None => Ok(()),
        }
    }

    fn check_length(&self, text: &str) -> Result<(), ChatError> {
        match crate::ids::length_problem(text, self.max_text_chars) {
            Some(message) => Err(ChatError::Invalid {
                field: "text",
                message,
            }),
            None => Ok(()),
        }
    }

    /// The live chain's decision, computed on the blocking pool (plugins may block on state),
    /// as many at once as the machine has cores. A chain with no plugins decides at once,
    /// without the hop to another thread.
    async fn judge(&self, message: Message) -> Result<Decision, ChatError> {
        let chain = self.chain.load_full();
        if chain.is_empty() {
            return Ok(chain.evaluate(&message));
        }
        let _turn = self.admission.chain_turn().await?;
        tokio::task::spawn_blocking(move || chain.evaluate(&message))
            .await
            .map_err(|e| ChatError::Chain(e.to_string()))
    }

    /// Tell this host's relay `room` has something new (a message, or an approval). The store
    /// marked the room in the same step as the write, for every host's relay to see.
    fn wake_relay(&self, room: &RoomId) {
        self.outbox.wake(room);
    }
}

/// The decision trace stored with a message: reasons and per-plugin runs (moderators read
/// the runs; message views show the reasons).
pub fn stored_trace(d: &Decision) -> String {
    serde_json::json!({"reasons": d.reasons, "trace": d.trace}).to_string()
}

/// The reasons alone, in the same shape: what a message's own record keeps.
pub fn stored_reasons(d: &Decision) -> String {
    serde_json::json!({ "reasons": d.reasons }).to_string()
}
