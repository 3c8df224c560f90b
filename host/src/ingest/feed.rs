//! The live feed from NATS: a subscription to `chowk.room.*.messages` whose messages (relayed by
//! any host) are handed to this host's [`LiveHub`], and so to its SSE streams. Only what a
//! host of the fleet relayed gets through: a publication whose `Chowk-Signature` does not
//! verify, or whose message names another room than its subject, is dropped and counted
//! (`chowk_live_feed_dropped_total`).

use std::sync::Arc;

use futures::StreamExt;

use crate::bus::signature::{RelayKey, SIGNATURE_HEADER};
use crate::bus::subjects::{self, APPROVED, EVENT_HEADER, MSG_ID_HEADER};
use crate::bus::{flushed, BusError};
use crate::ids::RoomId;
use crate::live::{LiveHub, LiveMessage};
use crate::metrics::Metrics;
use crate::wire::MessageView;

/// Feed `hub` from NATS until `shutdown`: every host relays into NATS, every host's hub
/// listens to what verifies under `key`. Returns once subscribed; the feed runs as its own
/// task.
pub async fn feed_live_hub(
    hub: Arc<LiveHub>,
    client: async_nats::Client,
    key: RelayKey,
    metrics: Metrics,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, BusError> {
    let mut sub = client
        .subscribe(subjects::MESSAGES_ALL)
        .await
        .map_err(|e| BusError::Nats(e.to_string()))?;
    // Have the server know the subscription before the API serves (best effort: while NATS
    // is down the client subscribes again on reconnect).
    if !flushed(&client).await {
        tracing::warn!("live feed subscribed while NATS is unreachable; it starts on reconnect");
    }
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                next = sub.next() => {
                    let Some(msg) = next else { return };
                    match relayed(&msg, &key) {
                        Some(live) => hub.publish(live),
                        None => {
                            metrics.live_feed_dropped.inc();
                            tracing::debug!(subject = %msg.subject, "dropped a publication no host of this fleet relayed");
                        }
                    }
                }
                _ = shutdown.cancelled() => return,
            }
        }
    }))
}

/// The live message in `msg`, if a host of the fleet relayed it: signed under `key`, a Chowk
/// message, of the room its subject names.
fn relayed(msg: &async_nats::Message, key: &RelayKey) -> Option<LiveMessage> {
    let headers = msg.headers.as_ref()?;
    let header = |name: &str| headers.get(name).map(|v| v.as_str());
    let id = header(MSG_ID_HEADER)?;
    let event = header(EVENT_HEADER);
    let signature = header(SIGNATURE_HEADER)?;
    if !key.verify(msg.subject.as_str(), id, event, &msg.payload, signature) {
        return None;
    }
    let message = serde_json::from_slice::<MessageView>(&msg.payload).ok()?;
    let room = RoomId::new(message.room.clone()).ok()?;
    if message.id != id || msg.subject.as_str() != subjects::messages(&room) {
        return None;
    }
    Some(LiveMessage {
        message,
        approved: event == Some(APPROVED),
    })
}
