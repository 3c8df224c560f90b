//! The live feed of this host: a broadcast channel per room that the SSE endpoint subscribes
//! to. It is fed by the in-process relay when there is no `[nats]`, or by a subscription to
//! `chowk.room.*.messages` when there is, so clients on any host see messages posted on any
//! other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::broadcast;

use super::event::MessageView;
use super::{subjects, RelayError};
use crate::store::RoomId;

/// Header marking a `.messages` publication as an approval (an older message made visible).
pub const EVENT_HEADER: &str = "Chowk-Event";
/// [`EVENT_HEADER`] value of approvals.
pub const APPROVED: &str = "approved";

/// Live events a subscriber may miss before it is told it lagged (and replays from the store).
const CAPACITY: usize = 1024;

/// One message becoming visible in a room.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveMessage {
    /// The message.
    pub message: MessageView,
    /// `true` when a moderator approved it (it is older than messages already seen).
    pub approved: bool,
}

/// Per-room broadcast of visible messages.
#[derive(Debug, Default)]
pub struct LiveHub {
    rooms: Mutex<HashMap<String, broadcast::Sender<Arc<LiveMessage>>>>,
}

impl LiveHub {
    /// An empty hub.
    pub fn new() -> Arc<Self> {
        Arc::new(LiveHub::default())
    }

    fn rooms(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Arc<LiveMessage>>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Receive the room's messages from now on.
    pub fn subscribe(&self, room: &RoomId) -> broadcast::Receiver<Arc<LiveMessage>> {
        self.rooms()
            .entry(room.to_string())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    /// Hand a message to the room's subscribers (none: dropped, and the room forgotten).
    pub fn publish(&self, live: LiveMessage) {
        let mut rooms = self.rooms();
        let room = live.message.room.clone();
        if let Some(tx) = rooms.get(&room) {
            if tx.send(Arc::new(live)).is_err() {
                rooms.remove(&room);
            }
        }
    }

    /// Subscribers across all rooms (for tests and metrics).
    pub fn subscribers(&self) -> usize {
        self.rooms()
            .values()
            .map(broadcast::Sender::receiver_count)
            .sum()
    }

    /// Feed the hub from NATS until `shutdown`: every host relays into NATS, every host's hub
    /// listens. Returns once subscribed; the feed runs as its own task.
    pub async fn feed_from_nats(
        self: Arc<Self>,
        client: async_nats::Client,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, RelayError> {
        let mut sub = client
            .subscribe(subjects::MESSAGES_ALL)
            .await
            .map_err(|e| RelayError::Nats(e.to_string()))?;
        // Have the server know the subscription before the API serves (best effort: while NATS
        // is down the client subscribes again on reconnect).
        if !flushed(&client).await {
            tracing::warn!(
                "live feed subscribed while NATS is unreachable; it starts on reconnect"
            );
        }
        Ok(tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = sub.next() => {
                        let Some(msg) = next else { return };
                        match serde_json::from_slice::<MessageView>(&msg.payload) {
                            Ok(message) => {
                                let approved = msg
                                    .headers
                                    .as_ref()
                                    .and_then(|h| h.get(EVENT_HEADER))
                                    .is_some_and(|v| v.as_str() == APPROVED);
                                self.publish(LiveMessage { message, approved });
                            }
                            Err(e) => tracing::debug!(error = %e, subject = %msg.subject, "ignored a message that is not a Chowk message"),
                        }
                    }
                    _ = shutdown.cancelled() => return,
                }
            }
        }))
    }
}

/// Whether the server confirmed everything sent so far within a second (a flush waits for a
/// reconnect while NATS is down, and starting a host must not).
pub async fn flushed(client: &async_nats::Client) -> bool {
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(1), client.flush()).await,
        Ok(Ok(()))
    )
}
