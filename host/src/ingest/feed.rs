//! The live feed from NATS: a subscription to `chowk.room.*.messages` whose messages (relayed by
//! any host) are handed to this host's [`LiveHub`], and so to its SSE streams.

use std::sync::Arc;

use futures::StreamExt;

use crate::bus::subjects::{self, APPROVED, EVENT_HEADER};
use crate::bus::{flushed, BusError};
use crate::live::{LiveHub, LiveMessage};
use crate::wire::MessageView;

/// Feed `hub` from NATS until `shutdown`: every host relays into NATS, every host's hub
/// listens. Returns once subscribed; the feed runs as its own task.
pub async fn feed_live_hub(
    hub: Arc<LiveHub>,
    client: async_nats::Client,
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
                    match serde_json::from_slice::<MessageView>(&msg.payload) {
                        Ok(message) => {
                            let approved = msg
                                .headers
                                .as_ref()
                                .and_then(|h| h.get(EVENT_HEADER))
                                .is_some_and(|v| v.as_str() == APPROVED);
                            hub.publish(LiveMessage { message, approved });
                        }
                        Err(e) => tracing::debug!(error = %e, subject = %msg.subject, "ignored a message that is not a Chowk message"),
                    }
                }
                _ = shutdown.cancelled() => return,
            }
        }
    }))
}
