//! [`RelayOutbox`]: the relay's side of `chat::Outbox`. A write wakes the relay task; an
//! announcement (a rejection for moderators' tools, a changed profile) is queued for a task that
//! publishes it on NATS. Neither ever waits: the queue is bounded and an announcement that does
//! not fit, or that NATS does not take within a second, is dropped and counted (the store is
//! the record; announcements are best effort by contract).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::RelayHandle;
use crate::bus::subjects;
use crate::chat::{Announcement, Outbox};
use crate::ids::RoomId;
use crate::store::{Placement, StoredMessage};
use crate::wire::ModerationEvent;

/// Announcements waiting for NATS before new ones are dropped.
const QUEUE: usize = 1024;
/// How long one announcement may take to be handed to the NATS client.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

/// Chat's outbox on a host: wakes the relay, queues announcements for NATS (if configured).
#[derive(Debug)]
pub struct RelayOutbox {
    wake: RelayHandle,
    announcements: Option<mpsc::Sender<Announcement>>,
    dropped: Arc<AtomicU64>,
}

impl RelayOutbox {
    /// An outbox waking `relay`; without `nats`, announcements go nowhere.
    pub fn new(relay: RelayHandle) -> Self {
        RelayOutbox {
            wake: relay,
            announcements: None,
            dropped: Arc::default(),
        }
    }

    /// Publish announcements with `client` from a task that runs until `shutdown`.
    pub fn announce_on(
        mut self,
        client: async_nats::Client,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        self.announcements = Some(tx);
        let task = tokio::spawn(publish_announcements(
            client,
            rx,
            self.dropped.clone(),
            shutdown,
        ));
        (self, task)
    }

    /// Announcements dropped because the queue was full or NATS did not take them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Outbox for RelayOutbox {
    fn wake(&self, room: &RoomId) {
        self.wake.poke_room(room);
    }

    fn appended(&self, message: &StoredMessage, placed: &Placement) {
        self.wake.poke_appended(message, placed);
    }

    fn announce(&self, announcement: Announcement) {
        let Some(tx) = &self.announcements else {
            return;
        };
        if tx.try_send(announcement).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("announcement dropped: the NATS queue is full");
        }
    }
}

async fn publish_announcements(
    client: async_nats::Client,
    mut rx: mpsc::Receiver<Announcement>,
    dropped: Arc<AtomicU64>,
    shutdown: CancellationToken,
) {
    loop {
        let announcement = tokio::select! {
            next = rx.recv() => match next {
                Some(a) => a,
                None => return,
            },
            _ = shutdown.cancelled() => return,
        };
        let (subject, payload) = match &announcement {
            Announcement::Rejected {
                room,
                sender,
                text,
                decision,
            } => (
                subjects::moderation(room),
                serde_json::to_vec(&ModerationEvent::Rejected {
                    room: room.to_string(),
                    sender: sender.to_string(),
                    text: text.clone(),
                    decision: (**decision).clone(),
                }),
            ),
            Announcement::ProfileChanged { user, profile } => (
                subjects::profile(user.as_str()),
                serde_json::to_vec(profile),
            ),
        };
        let sent = match payload {
            Ok(payload) => {
                tokio::time::timeout(PUBLISH_TIMEOUT, client.publish(subject, payload.into()))
                    .await
                    .is_ok_and(|r| r.is_ok())
            }
            Err(_) => false,
        };
        if !sent {
            dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("announcement not published (NATS slow or down)");
        }
    }
}
