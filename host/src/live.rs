//! The live feed of this host: a broadcast channel per room that the SSE endpoint subscribes
//! to. It is fed by the in-process relay when there is no `[nats]`, or by the NATS feed in
//! `ingest/feed.rs` (a subscription to `chowk.room.*.messages`) when there is, so clients on
//! any host see messages posted on any other. It knows neither NATS nor HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::ids::RoomId;
use crate::wire::MessageView;

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
}
