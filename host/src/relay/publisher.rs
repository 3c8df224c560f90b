//! The relay: publishes stored messages from a per-room cursor kept in the store, to NATS or,
//! with no `[nats]`, straight into this host's [`LiveHub`] (the in-process relay).
//!
//! Every append (and approval) marks its room dirty in the same store step, and chat pokes
//! this host's relay with the room. The relay drains each room from its cursor
//! (`chowk:{room:R}:relayed`) in batches: one store read (entries after the cursor, approvals
//! waiting), publish, wait for the server to confirm the batch (JetStream acks; with core NATS
//! a request round trip after the flush, answered only once the server has read every earlier
//! publish of the connection), then one commit (cursor forward, approvals taken, and the dirty
//! mark cleared only if nothing is left). Visible messages go to
//! `chowk.room.<room>.messages` (header `Nats-Msg-Id` = message id), flagged ones to
//! `.moderation`, and approved ones to `.messages` when approved. Every second it also reads
//! the dirty set (other hosts' writes, rooms left after a failure or a crash), and at start it
//! looks at every room.
//! Delivery is at least once (to the subscribers the server has when it reads the batch, with
//! core NATS; to the stream, with JetStream): subscribers dedupe on `Nats-Msg-Id`. While NATS is down the
//! backlog stays in the store, not in memory.

use std::collections::{HashMap, HashSet};
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
use crate::store::model::parse_id;
use crate::store::{Placement, Store, StoredMessage};
use crate::wire::{MessageView, ModerationEvent};

/// Messages published per batch (one read, one flush, one commit).
const BATCH: usize = 100;
/// Batches one drain of a room publishes at most before it turns to other rooms (the room
/// goes back in line, and stays marked in the store).
const MAX_BATCHES_PER_DRAIN: usize = 50;

/// Rooms drained from the store per round, at most (the rest wait for the next rounds).
const STORE_ROOMS_PER_ROUND: usize = 16;
/// Commits sent at once after publishing several rooms from memory.
const COMMITS_AT_ONCE: usize = 8;

/// Which rooms a relay round looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// The rooms this host wrote to.
    Local,
    /// The store's dirty set.
    Dirty,
    /// Every room.
    Everything,
}

/// Wakes the relay after an append.
#[derive(Debug, Clone, Default)]
pub struct RelayHandle(Arc<Wake>);

#[derive(Debug, Default)]
struct Wake {
    notify: Notify,
    /// Set by [`RelayHandle::poke`]: read the store's dirty set.
    dirty: std::sync::atomic::AtomicBool,
    /// Rooms this host wrote to since the relay last looked.
    rooms: std::sync::Mutex<HashSet<RoomId>>,
    /// Messages this host stored since, with where they landed, by room.
    fresh: std::sync::Mutex<HashMap<RoomId, Vec<Fresh>>>,
}

/// A message this host just stored, and where it landed.
#[derive(Debug)]
struct Fresh {
    message: StoredMessage,
    placed: Placement,
}

impl RelayHandle {
    /// `room` has something new to relay.
    pub fn poke_room(&self, room: &RoomId) {
        self.0
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(room.clone());
        self.0.notify.notify_one();
    }

    /// `message` was stored at `placed`: the relay may publish it without reading it back.
    pub fn poke_appended(&self, message: &StoredMessage, placed: &Placement) {
        self.0
            .fresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(message.room.clone())
            .or_default()
            .push(Fresh {
                message: message.clone(),
                placed: placed.clone(),
            });
        self.poke_room(&message.room);
    }

    fn take_fresh(&self, room: &RoomId) -> Vec<Fresh> {
        self.0
            .fresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(room)
            .unwrap_or_default()
    }

    /// Something may be new somewhere: the relay reads the store's dirty set.
    pub fn poke(&self) {
        self.0
            .dirty
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.0.notify.notify_one();
    }

    fn take_dirty(&self) -> bool {
        self.0
            .dirty
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    fn take_rooms(&self) -> Vec<RoomId> {
        let mut rooms = self.0.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.drain().collect()
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
    /// The cursor of each room as this relay last moved (or saw) it.
    committed: std::sync::Mutex<HashMap<RoomId, String>>,
    /// Rooms waiting for their turn to be drained from the store.
    queued: std::sync::Mutex<RoomQueue>,
}

/// Rooms in line for a drain from the store, each once.
#[derive(Debug, Default)]
struct RoomQueue {
    order: std::collections::VecDeque<RoomId>,
    members: HashSet<RoomId>,
}

impl RoomQueue {
    fn push_back(&mut self, room: RoomId) {
        if self.members.insert(room.clone()) {
            self.order.push_back(room);
        }
    }

    fn push_front(&mut self, room: RoomId) {
        if self.members.insert(room.clone()) {
            self.order.push_front(room);
        }
    }

    fn take(&mut self, n: usize) -> Vec<RoomId> {
        let taken: Vec<RoomId> = self.order.drain(..n.min(self.order.len())).collect();
        for room in &taken {
            self.members.remove(room);
        }
        taken
    }

    fn len(&self) -> usize {
        self.order.len()
    }
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
            committed: std::sync::Mutex::default(),
            queued: std::sync::Mutex::default(),
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
        let mut stream_ready = false;
        // Every room once at start (marks written by older versions); then the rooms this host
        // wrote to, as it writes, and every `poll_every` the dirty set (other hosts' writes,
        // and rooms left after a failure). Appends and approvals mark their room in the same
        // step as the write, so no periodic scan of every room is needed.
        let mut scope = Scope::Everything;
        let mut last_poll = Instant::now();
        loop {
            if !stream_ready {
                match self.ensure_stream().await {
                    Ok(()) => stream_ready = true,
                    Err(e) => tracing::warn!(error = %e, "relay waits for JetStream"),
                }
            }
            if self.wake.take_dirty() || last_poll.elapsed() >= self.poll_every {
                scope = scope.max(Scope::Dirty);
            }
            if scope >= Scope::Dirty {
                last_poll = Instant::now();
            }
            let pause = match self.drain_scope(scope).await {
                Ok(_) if self.queued_rooms() > 0 => {
                    scope = Scope::Local;
                    Duration::ZERO
                }
                Ok(_) => {
                    scope = Scope::Local;
                    self.poll_every.saturating_sub(last_poll.elapsed())
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay could not publish; retrying");
                    if let Some(m) = &self.metrics {
                        m.relay_errors.inc();
                    }
                    scope = scope.max(Scope::Dirty);
                    Duration::from_millis(250)
                }
            };
            tokio::select! {
                _ = self.wake.0.notify.notified() => {}
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

    async fn drain_scope(&self, scope: Scope) -> Result<usize, RelayError> {
        let local = self.wake.take_rooms();
        let mut rest = match scope {
            Scope::Local => Vec::new(),
            Scope::Dirty => self.store.dirty_rooms().await?,
            Scope::Everything => self.all_rooms().await?,
        };
        rest.retain(|room| !local.contains(room));
        self.drain_rooms(local, rest, scope == Scope::Dirty).await
    }

    async fn all_rooms(&self) -> Result<Vec<RoomId>, RelayError> {
        Ok(self
            .store
            .rooms()
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect())
    }

    /// Publish everything not yet relayed in the dirty rooms (every room with `full_scan`).
    /// Returns how many messages were published.
    pub async fn drain(&self, full_scan: bool) -> Result<usize, RelayError> {
        let rooms: Vec<RoomId> = if full_scan {
            self.all_rooms().await?
        } else {
            self.store.dirty_rooms().await?
        };
        let mut published = self.drain_rooms(Vec::new(), rooms, !full_scan).await?;
        while self.queued_rooms() > 0 {
            published += self.drain_rooms(Vec::new(), Vec::new(), !full_scan).await?;
        }
        Ok(published)
    }

    /// Drain the rooms this host wrote to (`local`, first in line for a store read when they
    /// need one) and `rest`; with `gauge`, the backlog gauge follows the queue (a full scan
    /// lists every room, dirty or not, so it leaves the gauge alone).
    async fn drain_rooms(
        &self,
        local: Vec<RoomId>,
        rest: Vec<RoomId>,
        gauge: bool,
    ) -> Result<usize, RelayError> {
        let count = |n: usize| {
            if let Some(m) = &self.metrics {
                m.relay_published.inc_by(n as u64);
            }
        };
        // First every room whose new messages this host holds in order after the cursor: all
        // of them published, one confirmation from NATS, then their commits together. The
        // others join the queue of rooms drained from the store, a few per round, so that a
        // long queue (every room, at start) never holds up this host's new messages.
        let mut from_memory = Vec::new();
        let mut from_store = Vec::new();
        for room in local.iter().chain(&rest) {
            let fresh = self.wake.take_fresh(room);
            match self.in_order(room, fresh) {
                Some(fresh) => from_memory.push((room.clone(), fresh)),
                None => from_store.push(room.clone()),
            }
        }
        let published_now = self
            .publish_from_memory(&from_memory, &mut from_store)
            .await;
        if published_now.is_err() {
            // Not confirmed: from the store, in turn (the rooms are still marked there).
            from_store.extend(from_memory.iter().map(|(room, _)| room.clone()));
        }
        let turn = {
            let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
            for room in from_store {
                if local.contains(&room) {
                    queued.push_front(room);
                } else {
                    queued.push_back(room);
                }
            }
            queued.take(STORE_ROOMS_PER_ROUND)
        };
        let mut published = 0;
        let mut result = published_now;
        if result.is_ok() {
            published = from_memory.iter().map(|(_, f)| f.len()).sum();
            count(published);
        }
        for (i, room) in turn.iter().enumerate() {
            if result.is_err() {
                // The room keeps its mark in the store; it is tried again in turn.
                self.requeue(&turn[i..]);
                break;
            }
            match self.drain_room(room).await {
                Ok((n, settled)) => {
                    published += n;
                    count(n);
                    if !settled {
                        // More than one drain's worth: back in line.
                        self.requeue(std::slice::from_ref(room));
                    }
                }
                Err(e) => result = Err(e),
            }
        }
        if let (Some(m), true) = (&self.metrics, gauge) {
            m.relay_backlog_rooms.set(self.queued_rooms() as i64);
        }
        result.map(|()| published)
    }

    fn requeue(&self, rooms: &[RoomId]) {
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        for room in rooms {
            queued.push_back(room.clone());
        }
    }

    /// Rooms waiting for their turn to be drained from the store.
    fn queued_rooms(&self) -> usize {
        self.queued.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// This host's `fresh` messages of `room`, in stream order, if they continue the room's
    /// stream right after the relay's cursor (each one's previous entry is the one before it,
    /// the first's is the cursor): then they can be published from memory, without a read.
    fn in_order(&self, room: &RoomId, mut fresh: Vec<Fresh>) -> Option<Vec<Fresh>> {
        let key = |id: &str| parse_id(id).unwrap_or_default();
        fresh.sort_by_key(|f| key(&f.message.id));
        let mut known = self
            .committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(room)
            .cloned();
        for f in &fresh {
            if let Some(r) = &f.placed.relayed {
                if known.as_deref().is_none_or(|k| key(r) > key(k)) {
                    known = Some(r.clone());
                }
            }
        }
        fresh.retain(|f| known.as_deref().is_none_or(|k| key(&f.message.id) > key(k)));
        let mut expected = known;
        let contiguous = !fresh.is_empty()
            && fresh.iter().all(|f| {
                let next = f.placed.previous == expected;
                expected = Some(f.message.id.clone());
                next
            });
        contiguous.then_some(fresh)
    }

    /// Publish `rooms`' messages, wait for one confirmation, then commit every room (a few at
    /// a time); a room not settled by its commit joins `unsettled`.
    async fn publish_from_memory(
        &self,
        rooms: &[(RoomId, Vec<Fresh>)],
        unsettled: &mut Vec<RoomId>,
    ) -> Result<(), RelayError> {
        if rooms.is_empty() {
            return Ok(());
        }
        for (_, fresh) in rooms {
            for f in fresh {
                self.publish_stored(&f.message).await?;
            }
        }
        self.flush().await?;
        let mut commits = Vec::with_capacity(rooms.len());
        for chunk in rooms.chunks(COMMITS_AT_ONCE) {
            commits.extend(
                futures::future::join_all(
                    chunk
                        .iter()
                        .map(|(room, fresh)| self.commit_fresh(room, fresh)),
                )
                .await,
            );
        }
        for (room, settled) in commits {
            if !settled? {
                unsettled.push(room);
            }
        }
        Ok(())
    }

    /// Commit `fresh`, published from memory: whether `room` is settled.
    async fn commit_fresh(
        &self,
        room: &RoomId,
        fresh: &[Fresh],
    ) -> (RoomId, Result<bool, crate::store::StoreError>) {
        let last = fresh.last().map(|f| f.message.id.clone());
        let settled = self.store.relay_commit(room, last.as_deref(), &[]).await;
        if settled.is_ok() {
            self.note_committed(room, last);
        }
        (room.clone(), settled)
    }

    fn note_committed(&self, room: &RoomId, last: Option<String>) {
        if let Some(last) = last {
            self.committed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(room.clone(), last);
        }
    }

    /// Publish batches of `room` until it is settled, at most [`MAX_BATCHES_PER_DRAIN`]: one
    /// read and one commit per batch (messages after the cursor and approvals waiting, then the
    /// cursor, the approvals taken and the dirty mark, each in one script). Returns what it
    /// published and whether the room is settled.
    async fn drain_room(&self, room: &RoomId) -> Result<(usize, bool), RelayError> {
        let mut published = 0;
        for _ in 0..MAX_BATCHES_PER_DRAIN {
            let batch = self.store.relay_read(room, BATCH).await?;
            let last = batch.messages.last().map(|m| m.id.clone());
            for m in &batch.messages {
                self.publish_stored(m).await?;
            }
            for m in batch.approved.iter().filter_map(|(_, m)| m.as_ref()) {
                self.publish_message(m, true).await?;
            }
            if last.is_some() || !batch.approved.is_empty() {
                self.flush().await?;
            }
            let approved: Vec<String> = batch.approved.into_iter().map(|(id, _)| id).collect();
            published += batch.messages.len() + approved.len();
            let settled = self
                .store
                .relay_commit(room, last.as_deref(), &approved)
                .await?;
            self.note_committed(room, last);
            if settled {
                return Ok((published, true));
            }
        }
        Ok((published, false))
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
