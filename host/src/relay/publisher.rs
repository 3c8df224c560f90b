//! The relay: publishes stored messages from a per-room cursor kept in the store, to NATS or,
//! with no `[nats]`, straight into this host's [`LiveHub`] (the in-process relay).
//!
//! After every append the room is marked dirty and the relay is poked; it drains each dirty
//! room from its cursor (`chowk:{room:R}:relayed`) in batches, publishes, waits for the server
//! to confirm the batch (JetStream acks; with core NATS a request round trip after the flush,
//! answered only once the server has read every earlier publish of the connection), and only
//! then moves the cursor. Visible messages go to
//! `chowk.room.<room>.messages` (header `Nats-Msg-Id` = message id), flagged ones to
//! `.moderation`, and approved ones to `.messages` when approved. Without a poke it polls the
//! dirty set every second (other hosts' appends), and every 10 s and at start it scans every
//! room, which covers a host that died between storing and marking.
//! Delivery is at least once (to the subscribers the server has when it reads the batch, with
//! core NATS; to the stream, with JetStream): subscribers dedupe on `Nats-Msg-Id`. While NATS is down the
//! backlog stays in the store, not in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use tokio::sync::Notify;

use super::RelayError;
use crate::bus::signature::{RelayKey, SIGNATURE_HEADER};
use crate::bus::subjects::{APPROVED, EVENT_HEADER, MSG_ID_HEADER};
use crate::bus::{subjects, BusError, NatsConfig};
use crate::ids::RoomId;
use crate::live::{LiveHub, LiveMessage};
use crate::metrics::Metrics;
use crate::store::{Store, StoredMessage};
use crate::wire::{MessageView, ModerationEvent};

/// Messages published per batch (one flush, one cursor update).
const BATCH: usize = 100;

/// Wakes the relay after an append.
#[derive(Debug, Clone, Default)]
pub struct RelayHandle(Arc<Notify>);

impl RelayHandle {
    /// There is something new to relay.
    pub fn poke(&self) {
        self.0.notify_one();
    }
}

/// The JetStream stream that captures every room subject (with `[nats] jetstream = true`).
pub const JETSTREAM_STREAM: &str = "CHOWK_ROOMS";

/// Where the relay publishes.
#[derive(Debug)]
// One per host, made once and never moved on a hot path: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Sink {
    /// NATS (core, or JetStream with acks).
    Nats {
        client: async_nats::Client,
        jetstream: Option<async_nats::jetstream::Context>,
        acks: tokio::sync::Mutex<Vec<async_nats::jetstream::context::PublishAckFuture>>,
        duplicate_window: Duration,
        flush_timeout: Duration,
        /// Signs every publication (`Chowk-Signature`).
        key: RelayKey,
    },
    /// This host's live feed only (no `[nats]`).
    Local(Arc<LiveHub>),
}

/// The relay task.
#[derive(Debug)]
pub struct Relay {
    store: Arc<Store>,
    sink: Sink,
    wake: RelayHandle,
    metrics: Option<Metrics>,
    poll_every: Duration,
    scan_every: Duration,
}

impl Relay {
    /// A relay publishing to NATS with `client`, signing with `key`.
    pub fn new(
        store: Arc<Store>,
        client: async_nats::Client,
        config: &NatsConfig,
        key: RelayKey,
    ) -> Self {
        Self::with_sink(
            store,
            Sink::Nats {
                jetstream: config
                    .jetstream
                    .then(|| async_nats::jetstream::new(client.clone())),
                acks: tokio::sync::Mutex::default(),
                duplicate_window: Duration::from_secs(config.duplicate_window_s),
                flush_timeout: Duration::from_millis(config.flush_timeout_ms),
                key,
                client,
            },
        )
    }

    /// The in-process relay: stored messages go to `hub` (and so to this host's SSE clients).
    pub fn local(store: Arc<Store>, hub: Arc<LiveHub>) -> Self {
        Self::with_sink(store, Sink::Local(hub))
    }

    fn with_sink(store: Arc<Store>, sink: Sink) -> Self {
        Relay {
            store,
            sink,
            wake: RelayHandle::default(),
            metrics: None,
            poll_every: Duration::from_secs(1),
            scan_every: Duration::from_secs(10),
        }
    }

    /// Report published messages, errors and the backlog in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The handle appends use to wake this relay.
    pub fn handle(&self) -> RelayHandle {
        self.wake.clone()
    }

    /// With JetStream: create the stream capturing `chowk.room.>` if it does not exist.
    pub async fn ensure_stream(&self) -> Result<(), RelayError> {
        let Sink::Nats {
            jetstream: Some(js),
            duplicate_window,
            ..
        } = &self.sink
        else {
            return Ok(());
        };
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: JETSTREAM_STREAM.into(),
            subjects: vec!["chowk.room.>".into()],
            duplicate_window: *duplicate_window,
            ..Default::default()
        })
        .await
        .map(drop)
        .map_err(|e| nats_error(format!("JetStream stream {JETSTREAM_STREAM}: {e}")))
    }

    /// Relay until `shutdown` resolves, then drain once more.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_scan: Option<Instant> = None;
        let mut stream_ready = false;
        loop {
            if !stream_ready {
                match self.ensure_stream().await {
                    Ok(()) => stream_ready = true,
                    Err(e) => tracing::warn!(error = %e, "relay waits for JetStream"),
                }
            }
            let full = last_scan.is_none_or(|t| t.elapsed() >= self.scan_every);
            let pause = match self.drain(full).await {
                Ok(_) => {
                    if full {
                        last_scan = Some(Instant::now());
                    }
                    self.poll_every
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay could not publish; retrying");
                    if let Some(m) = &self.metrics {
                        m.relay_errors.inc();
                    }
                    Duration::from_millis(250)
                }
            };
            tokio::select! {
                _ = self.wake.0.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = &mut shutdown => {
                    if let Err(e) = self.drain(false).await {
                        tracing::warn!(error = %e, "relay stopped with messages left; the next host to start relays them");
                    }
                    return;
                }
            }
        }
    }

    /// Publish everything not yet relayed in the dirty rooms (every room with `full_scan`).
    /// Returns how many messages were published.
    pub async fn drain(&self, full_scan: bool) -> Result<usize, RelayError> {
        let rooms: Vec<RoomId> = if full_scan {
            self.store
                .rooms()
                .await?
                .into_iter()
                .map(|r| r.id)
                .collect()
        } else {
            self.store.dirty_rooms().await?
        };
        // The backlog gauge follows the dirty set this round read (a full scan lists every
        // room, dirty or not, so it leaves the gauge alone): what is left when it stops.
        let backlog = |left: usize| {
            if let (Some(m), false) = (&self.metrics, full_scan) {
                m.relay_backlog_rooms.set(left as i64);
            }
        };
        let total = rooms.len();
        let mut published = 0;
        for (i, room) in rooms.into_iter().enumerate() {
            // Unmark first: an append that lands while we drain marks the room again.
            if let Err(e) = self.store.clear_dirty(&room).await {
                backlog(total - i);
                return Err(e.into());
            }
            match self.drain_room(&room).await {
                Ok(n) => {
                    published += n;
                    if let Some(m) = &self.metrics {
                        m.relay_published.inc_by(n as u64);
                    }
                }
                Err(e) => {
                    let _ = self.store.mark_dirty(&room).await;
                    backlog(total - i);
                    return Err(e);
                }
            }
        }
        backlog(0);
        Ok(published)
    }

    async fn drain_room(&self, room: &RoomId) -> Result<usize, RelayError> {
        let mut published = 0;
        loop {
            let cursor = self.store.relay_cursor(room).await?;
            let batch = self
                .store
                .relay_batch(room, cursor.as_deref(), BATCH)
                .await?;
            let Some(last) = batch.last().map(|m| m.id.clone()) else {
                break;
            };
            for m in &batch {
                self.publish_stored(m).await?;
            }
            self.flush().await?;
            self.store.set_relay_cursor(room, &last).await?;
            published += batch.len();
            if batch.len() < BATCH {
                break;
            }
        }
        loop {
            let approved = self.store.approved_backlog(room, BATCH).await?;
            if approved.is_empty() {
                break;
            }
            for m in approved.iter().filter_map(|(_, m)| m.as_ref()) {
                self.publish_message(m, true).await?;
            }
            self.flush().await?;
            let ids: Vec<String> = approved.into_iter().map(|(id, _)| id).collect();
            self.store.ack_approved(room, &ids).await?;
            published += ids.len();
        }
        Ok(published)
    }

    async fn publish_stored(&self, m: &StoredMessage) -> Result<(), RelayError> {
        if !m.pending {
            // A flagged message no longer pending was approved before this batch was read (by
            // the time a slower relay, or a retry, reads past it): it is an approval wherever
            // it is published, so subscribers can tell an older message made visible.
            let approved = m.action == crate::store::StoredAction::Flag;
            return self.publish_message(m, approved).await;
        }
        if matches!(self.sink, Sink::Local(_)) {
            // Moderators read the queue over HTTP; nothing listens in-process.
            return Ok(());
        }
        let event = ModerationEvent::Flagged {
            message: MessageView::from(m),
            trace: serde_json::from_str(&m.trace).unwrap_or_default(),
        };
        // Its own dedupe id: the message itself is published to `.messages` with its id once
        // approved, and JetStream dedupes across the whole stream.
        self.publish(
            subjects::moderation(&m.room),
            &format!("{}:flagged", m.id),
            None,
            &event,
        )
        .await
    }

    async fn publish_message(&self, m: &StoredMessage, approved: bool) -> Result<(), RelayError> {
        let view = MessageView::from(m);
        if let Sink::Local(hub) = &self.sink {
            hub.publish(LiveMessage {
                message: view,
                approved,
            });
            return Ok(());
        }
        let event = approved.then_some(APPROVED);
        self.publish(subjects::messages(&m.room), &m.id, event, &view)
            .await
    }

    /// Publish to NATS with `Nats-Msg-Id` (and [`EVENT_HEADER`] for approvals): core NATS, or
    /// JetStream keeping the ack for [`Self::flush`].
    async fn publish(
        &self,
        subject: String,
        id: &str,
        event: Option<&str>,
        value: &impl serde::Serialize,
    ) -> Result<(), RelayError> {
        let Sink::Nats {
            client,
            jetstream,
            acks,
            key,
            ..
        } = &self.sink
        else {
            return Ok(());
        };
        let payload = serde_json::to_vec(value).map_err(|e| nats_error(e.to_string()))?;
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID_HEADER, id);
        if let Some(event) = event {
            headers.insert(EVENT_HEADER, event);
        }
        headers.insert(
            SIGNATURE_HEADER,
            key.sign(&subject, id, event, &payload).as_str(),
        );
        let Some(js) = jetstream else {
            return client
                .publish_with_headers(subject, headers, payload.into())
                .await
                .map_err(|e| nats_error(e.to_string()));
        };
        let ack = js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|e| nats_error(e.to_string()))?;
        acks.lock().await.push(ack);
        Ok(())
    }

    /// Wait until the server has everything published so far: JetStream acks (a batch holds
    /// at most 100, far below the client's limit of unacknowledged publishes), or with core
    /// NATS a round trip through the server after the flush.
    async fn flush(&self) -> Result<(), RelayError> {
        let Sink::Nats {
            client,
            jetstream,
            acks,
            flush_timeout,
            ..
        } = &self.sink
        else {
            return Ok(());
        };
        if jetstream.is_some() {
            let acks = std::mem::take(&mut *acks.lock().await);
            let all = futures::future::try_join_all(
                acks.into_iter().map(std::future::IntoFuture::into_future),
            );
            return match tokio::time::timeout(*flush_timeout, all).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(nats_error(e.to_string())),
                Err(_) => Err(nats_error("JetStream did not acknowledge in time")),
            };
        }
        // `flush` only empties the client's buffer into the socket; bytes in a socket of a
        // connection that then drops are lost. A request is a round trip through the server,
        // which handles a connection's messages in order: its answer (the server's "no
        // responders", or anyone's reply) proves the server read every publish before it.
        let confirm = async {
            client
                .flush()
                .await
                .map_err(|e| nats_error(e.to_string()))?;
            match client
                .request(subjects::RELAY_CONFIRM, bytes::Bytes::new())
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => Ok(()),
                Err(e) => Err(nats_error(e.to_string())),
            }
        };
        match tokio::time::timeout(*flush_timeout, confirm).await {
            Ok(result) => result,
            Err(_) => Err(nats_error(format!(
                "server did not confirm within {} ms",
                flush_timeout.as_millis()
            ))),
        }
    }
}

fn nats_error(message: impl Into<String>) -> RelayError {
    RelayError::Bus(BusError::Nats(message.into()))
}
