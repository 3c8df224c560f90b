//! A Jepsen-style checker for the post path. Writers post through real hosts over HTTP and
//! record every attempt (client id, when it was sent, when and how it was answered); watchers
//! record every message seen on NATS and on the hosts' server-sent events; at the end the
//! checker reads the final store and verifies what an acknowledgement promises
//! (`../shared/notes/post-path-contract.md`):
//! - every acknowledged message is stored, with the acknowledged id, exactly once;
//! - every acknowledged message was relayed (NATS) and delivered (SSE) at least once, in room
//!   order, and nothing was delivered that the final store does not hold;
//! - no acknowledgement was given while the configured replicas could not hold the message
//!   (the scenario marks those windows).
//!
//! It counts rather than stops at the first violation, so a run reports its figures
//! ([`Report`]) and [`Report::assert_clean`] then fails with all of them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::task::JoinHandle;

/// How one attempt was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 201 or 200, with the message id.
    Acked(String),
    /// Another HTTP status (503 while the store cannot promise, ...).
    Status(u16),
    /// No answer (connection refused or reset, timeout).
    NoAnswer,
}

/// One attempt of a post.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The room.
    pub room: String,
    /// The client id (the same for every attempt of one message).
    pub client_id: String,
    /// Which host it went to.
    pub host: usize,
    /// When it was sent.
    pub sent: Instant,
    /// When it was answered.
    pub answered: Instant,
    /// How.
    pub outcome: Outcome,
}

/// Where a delivery was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// A NATS subscriber of `chowk.room.*.messages` (or a JetStream replay of it).
    Nats,
    /// A host's `GET /v1/rooms/{room}/events`.
    Sse,
}

/// A stored message as the final read sees it.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The room.
    pub room: String,
    /// The message id.
    pub id: String,
    /// Its client id.
    pub client_id: Option<String>,
}

#[derive(Debug, Default)]
struct History {
    attempts: Vec<Attempt>,
    /// (channel, room, id, whether it is an approval: an older message made visible).
    deliveries: Vec<(Channel, String, String, bool)>,
    /// Windows during which no acknowledgement may be given (no replica could hold a write).
    no_ack_windows: Vec<(Instant, Option<Instant>)>,
    /// Fault injections, for outage figures.
    faults: Vec<(String, Instant)>,
    /// The channels watched, and the rooms each watches (`None`: every room).
    watched: BTreeMap<Channel, Option<Vec<String>>>,
}

impl History {
    fn watches(&self, channel: Channel, room: &str) -> bool {
        match self.watched.get(&channel) {
            Some(None) => true,
            Some(Some(rooms)) => rooms.iter().any(|r| r == room),
            None => false,
        }
    }
}

/// The shared record of a run.
#[derive(Debug, Clone, Default)]
pub struct Checker(Arc<Mutex<History>>);

impl Checker {
    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `channel` watches `room` (`None`: every room) from now on.
    pub fn watching(&self, channel: Channel, room: Option<&str>) {
        let mut h = self.history();
        let entry = h.watched.entry(channel).or_insert_with(|| Some(Vec::new()));
        match (entry.as_mut(), room) {
            (Some(rooms), Some(room)) => rooms.push(room.to_owned()),
            (_, None) => *entry = None,
            (None, Some(_)) => {}
        }
    }

    /// The channels watched.
    pub fn channels(&self) -> Vec<Channel> {
        self.history().watched.keys().copied().collect()
    }

    /// Record one attempt.
    pub fn record(&self, attempt: Attempt) {
        self.history().attempts.push(attempt);
    }

    /// Record a delivery of message `id` of `room` (`approval`: a flagged message published
    /// when a moderator approved it, so out of stream order by design).
    pub fn delivered(&self, channel: Channel, room: &str, id: &str, approval: bool) {
        self.history()
            .deliveries
            .push((channel, room.to_owned(), id.to_owned(), approval));
    }

    /// A fault is injected now (named, for the outage figures).
    pub fn fault(&self, name: &str) -> Instant {
        let now = Instant::now();
        self.history().faults.push((name.to_owned(), now));
        now
    }

    /// From now on, until [`Checker::acks_allowed`], nothing may be acknowledged.
    pub fn no_acks_from_now(&self) -> Instant {
        let now = Instant::now();
        self.history().no_ack_windows.push((now, None));
        now
    }

    /// Acknowledgements may be given again.
    pub fn acks_allowed(&self) {
        if let Some(w) = self.history().no_ack_windows.last_mut() {
            w.1.get_or_insert_with(Instant::now);
        }
    }

    /// Acknowledged attempts so far.
    pub fn acked(&self) -> usize {
        self.history()
            .attempts
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Acked(_)))
            .count()
    }

    /// Acknowledged attempts sent after `t`.
    pub fn acked_since(&self, t: Instant) -> usize {
        self.history()
            .attempts
            .iter()
            .filter(|a| a.sent > t && matches!(a.outcome, Outcome::Acked(_)))
            .count()
    }

    /// How attempts sent after `t` were answered: outcome → count.
    pub fn answers_since(&self, t: Instant) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for a in self.history().attempts.iter().filter(|a| a.sent > t) {
            let key = match &a.outcome {
                Outcome::Acked(_) => "acknowledged".to_owned(),
                Outcome::Status(s) => s.to_string(),
                Outcome::NoAnswer => "no answer".to_owned(),
            };
            *out.entry(key).or_default() += 1;
        }
        out
    }

    /// Wait (at most `timeout`) until `n` more acknowledgements than now, sent after now.
    pub async fn wait_for_acks(&self, n: usize, timeout: Duration, what: &str) {
        let since = Instant::now();
        let deadline = since + timeout;
        while self.acked_since(since) < n {
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting until {what} ({} of {n} acknowledged; answers since: {:?})",
                self.acked_since(since),
                self.answers_since(since)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait (at most `timeout`) until every acknowledged message of the rooms `channel`
    /// watches was seen on it.
    pub async fn wait_delivered(&self, channel: Channel, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.missing(channel) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Acknowledged messages not among `ids`.
    pub fn acked_missing_from(&self, ids: &[(String, String, bool)]) -> usize {
        let seen: std::collections::HashSet<&str> = ids.iter().map(|d| d.1.as_str()).collect();
        self.history()
            .attempts
            .iter()
            .filter(|a| matches!(&a.outcome, Outcome::Acked(id) if !seen.contains(id.as_str())))
            .count()
    }

    /// Acknowledged messages of the rooms `channel` watches not seen on it yet.
    fn missing(&self, channel: Channel) -> usize {
        let h = self.history();
        let seen: std::collections::HashSet<&str> = h
            .deliveries
            .iter()
            .filter(|d| d.0 == channel)
            .map(|d| d.2.as_str())
            .collect();
        h.attempts
            .iter()
            .filter(|a| h.watches(channel, &a.room))
            .filter(|a| matches!(&a.outcome, Outcome::Acked(id) if !seen.contains(id.as_str())))
            .count()
    }

    /// Check the run against the final store.
    pub fn check(&self, stored: &[Stored]) -> Report {
        let h = self.history();
        let mut report = Report::default();
        // cid → (room, id, answered)
        let mut acks: HashMap<&str, (&str, &str, Instant)> = HashMap::new();
        for a in &h.attempts {
            report.attempts += 1;
            match &a.outcome {
                Outcome::Acked(id) => {
                    if let Some((_, first, _)) =
                        acks.insert(&a.client_id, (&a.room, id, a.answered))
                    {
                        if first != id {
                            report.violations.push(format!(
                                "{} acknowledged as {first} and as {id}",
                                a.client_id
                            ));
                        }
                    }
                    let inside = h.no_ack_windows.iter().any(|(start, end)| {
                        a.sent >= *start && end.is_none_or(|end| a.answered <= end)
                    });
                    if inside {
                        report.acked_unreplicated += 1;
                        report.violations.push(format!(
                            "{} ({id}) acknowledged while no replica could hold it",
                            a.client_id
                        ));
                    }
                }
                Outcome::Status(_) | Outcome::NoAnswer => report.errors += 1,
            }
        }
        report.acked = acks.len();
        let mut by_cid: HashMap<&str, Vec<&Stored>> = HashMap::new();
        for s in stored {
            if let Some(c) = &s.client_id {
                by_cid.entry(c).or_default().push(s);
            }
        }
        report.stored = stored.len();
        for (cid, copies) in &by_cid {
            if copies.len() > 1 {
                report.duplicated += copies.len() - 1;
                report
                    .violations
                    .push(format!("{cid} stored {} times", copies.len()));
            }
        }
        // Lost acknowledgements, by the last fault before they were answered.
        let mut lost_after: BTreeMap<String, usize> = BTreeMap::new();
        for (cid, (room, id, answered)) in &acks {
            let kept = by_cid
                .get(cid)
                .is_some_and(|copies| copies.iter().any(|s| s.id == *id && s.room == *room));
            if kept {
                continue;
            }
            report.lost += 1;
            let after = h
                .faults
                .iter()
                .rev()
                .find(|(_, at)| at <= answered)
                .map_or_else(|| "before any fault".to_owned(), |(name, _)| name.clone());
            *lost_after.entry(after).or_default() += 1;
            if report.lost <= 5 {
                report.violations.push(format!(
                    "{cid} acknowledged as {id} in {room}, stored as {:?}",
                    by_cid
                        .get(cid)
                        .map(|c| c.iter().map(|s| &s.id).collect::<Vec<_>>())
                ));
            }
        }
        for (after, n) in lost_after {
            report.violations.push(format!(
                "{n} acknowledged messages lost, answered after {after}"
            ));
        }
        // Relay: per channel, every acknowledged id seen, and first sightings in stream order.
        let stored_ids: std::collections::HashSet<&str> =
            stored.iter().map(|s| s.id.as_str()).collect();
        let channels: Vec<Channel> = h.watched.keys().copied().collect();
        for channel in &channels {
            let mut firsts: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            let mut seen = std::collections::HashSet::new();
            let mut copies = 0;
            let mut phantoms = 0;
            for (c, room, id, approval) in &h.deliveries {
                if c != channel {
                    continue;
                }
                copies += 1;
                if !seen.insert(id.as_str()) {
                    continue;
                }
                if !stored_ids.contains(id.as_str()) {
                    phantoms += 1;
                } else if !approval {
                    firsts.entry(room).or_default().push(id);
                }
            }
            if phantoms > 0 {
                report.violations.push(format!(
                    "{channel:?}: {phantoms} messages delivered that the final store does not hold"
                ));
            }
            let missing = acks
                .values()
                .filter(|(room, id, _)| h.watches(*channel, room) && !seen.contains(id))
                .count();
            let mut out_of_order = 0;
            for (room, ids) in &firsts {
                for w in ids.windows(2) {
                    if stream_id(w[0]) >= stream_id(w[1]) {
                        out_of_order += 1;
                        if out_of_order <= 5 {
                            report.violations.push(format!(
                                "{channel:?}: in {room}, {} first seen after {}",
                                w[1], w[0]
                            ));
                        }
                    }
                }
            }
            if missing > 0 {
                report.violations.push(format!(
                    "{channel:?}: {missing} acknowledged messages never seen"
                ));
            }
            if out_of_order > 0 {
                report.violations.push(format!(
                    "{channel:?}: {out_of_order} messages out of room order"
                ));
            }
            report.channels.push(ChannelReport {
                channel: *channel,
                missing,
                phantoms,
                out_of_order,
                redelivered: copies - seen.len(),
            });
        }
        report.outages = outages(&h);
        report
    }
}

/// `<ms>-<seq>` as numbers.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// For each fault: the time from the fault to the first acknowledgement of an attempt sent
/// after it (how long new writes could not be acknowledged).
fn outages(h: &History) -> Vec<(String, Duration)> {
    h.faults
        .iter()
        .filter_map(|(name, at)| {
            h.attempts
                .iter()
                .filter(|a| a.sent >= *at && matches!(a.outcome, Outcome::Acked(_)))
                .map(|a| a.answered)
                .min()
                .map(|first| (name.clone(), first.duration_since(*at)))
        })
        .collect()
}

/// One channel's figures.
#[derive(Debug, Clone)]
pub struct ChannelReport {
    /// NATS or SSE.
    pub channel: Channel,
    /// Acknowledged messages never seen on it.
    pub missing: usize,
    /// Messages seen on it that the final store does not hold (relayed from a primary that
    /// then lost them).
    pub phantoms: usize,
    /// First sightings out of room order.
    pub out_of_order: usize,
    /// Extra copies (at-least-once redeliveries; allowed).
    pub redelivered: usize,
}

/// What a run did and what it broke.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Attempts made (first tries and retries).
    pub attempts: usize,
    /// Attempts answered with something other than an acknowledgement, or not at all.
    pub errors: usize,
    /// Distinct messages acknowledged.
    pub acked: usize,
    /// Messages in the final store.
    pub stored: usize,
    /// Acknowledged but missing (or stored under another id).
    pub lost: usize,
    /// Extra stored copies.
    pub duplicated: usize,
    /// Acknowledged inside a window where no replica could hold them.
    pub acked_unreplicated: usize,
    /// Per delivery channel.
    pub channels: Vec<ChannelReport>,
    /// (fault, write outage after it).
    pub outages: Vec<(String, Duration)>,
    /// Every violation, described.
    pub violations: Vec<String>,
}

impl Report {
    /// Outage p50 and max.
    pub fn outage_p50_max(&self) -> (Duration, Duration) {
        let mut o: Vec<Duration> = self.outages.iter().map(|(_, d)| *d).collect();
        o.sort();
        (
            o.get(o.len().saturating_sub(1) / 2)
                .copied()
                .unwrap_or_default(),
            o.last().copied().unwrap_or_default(),
        )
    }

    /// Fail with every violation.
    pub fn assert_clean(&self) {
        assert!(self.acked > 0, "nothing was acknowledged: {self}");
        assert!(
            self.violations.is_empty(),
            "{self}\nviolations:\n  {}",
            self.violations.join("\n  ")
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p50, max) = self.outage_p50_max();
        write!(
            f,
            "{} attempts ({} errors, retried), {} acknowledged, {} stored, {} lost, {} duplicated, {} acknowledged-unreplicated; faults {}, outage p50 {} ms max {} ms",
            self.attempts,
            self.errors,
            self.acked,
            self.stored,
            self.lost,
            self.duplicated,
            self.acked_unreplicated,
            self.outages.len(),
            p50.as_millis(),
            max.as_millis()
        )?;
        for c in &self.channels {
            write!(
                f,
                "; {:?}: {} missing, {} never stored, {} out of order, {} redelivered",
                c.channel, c.missing, c.phantoms, c.out_of_order, c.redelivered
            )?;
        }
        Ok(())
    }
}

/// Writers posting steadily through hosts, each message retried with its client id until it
/// is acknowledged (moving to the next host on no answer), as a phone would.
#[derive(Debug)]
pub struct Writers {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Where writers post: host base URLs (shared, so a test can replace a restarted host's).
pub type Hosts = Arc<Mutex<Vec<String>>>;

impl Writers {
    /// `count` writers, writer `w` posting into `rooms[w % rooms.len()]` with `token`, through
    /// `hosts` (writer `w` starts on host `w % hosts`).
    pub fn start(
        checker: &Checker,
        hosts: &Hosts,
        rooms: &[String],
        token: &str,
        count: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let tasks = (0..count)
            .map(|w| {
                let (checker, hosts, stop, http) =
                    (checker.clone(), hosts.clone(), stop.clone(), http.clone());
                let room = rooms[w % rooms.len()].clone();
                let token = token.to_owned();
                tokio::spawn(async move {
                    let mut host = w;
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let client_id = format!("w{w}-{n}");
                        // Retry until acknowledged; a writer told to stop finishes its message.
                        loop {
                            let (index, base) = {
                                let hosts = hosts.lock().unwrap_or_else(|e| e.into_inner());
                                let index = host % hosts.len();
                                (index, hosts[index].clone())
                            };
                            let sent = Instant::now();
                            let reply = http
                                .post(format!("{base}/v1/rooms/{room}/messages"))
                                .bearer_auth(&token)
                                .json(&serde_json::json!({
                                    "text": text(w, n),
                                    "client_id": client_id,
                                }))
                                .send()
                                .await;
                            let outcome = match reply {
                                Ok(r) if r.status().is_success() => {
                                    let body: serde_json::Value =
                                        r.json().await.unwrap_or_default();
                                    match body["id"].as_str() {
                                        Some(id) => Outcome::Acked(id.to_owned()),
                                        None => Outcome::NoAnswer,
                                    }
                                }
                                Ok(r) => Outcome::Status(r.status().as_u16()),
                                Err(_) => Outcome::NoAnswer,
                            };
                            let acked = matches!(outcome, Outcome::Acked(_));
                            if outcome == Outcome::NoAnswer {
                                host += 1;
                            }
                            checker.record(Attempt {
                                room: room.clone(),
                                client_id: client_id.clone(),
                                host: index,
                                sent,
                                answered: Instant::now(),
                                outcome,
                            });
                            if acked {
                                break;
                            }
                            // A phone's retry back-off.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                })
            })
            .collect();
        Writers { stop, tasks }
    }

    /// Stop after each writer's current message is acknowledged.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("writer ends");
        }
    }
}

/// Writer `w`'s message `n`: trade chat, and every 7th a prize text that a chain with
/// `spam-rules` flags for moderation.
fn text(w: usize, n: u64) -> String {
    if n.is_multiple_of(7) {
        format!("Congrats! You won a prize, reply to claim (writer {w}, {n})")
    } else {
        format!("order {n} from writer {w}: 5 kg at Rs 40")
    }
}

/// Moderators approving every flagged message as it comes, through the hosts in turn.
#[derive(Debug)]
pub struct Moderators {
    stop: Arc<AtomicBool>,
    task: JoinHandle<usize>,
}

impl Moderators {
    /// Approve the flagged messages of `rooms` until stopped.
    pub fn start(hosts: &Hosts, rooms: &[String], token: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (hosts, rooms, token) = (hosts.clone(), rooms.to_vec(), token.to_owned());
        let task = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .expect("http client");
                let mut approved = 0;
                let mut turn = 0usize;
                // Once stopping: rooms whose queue was read empty.
                let mut empty = std::collections::HashSet::new();
                loop {
                    let stopping = stop.load(Ordering::Relaxed);
                    for room in &rooms {
                        turn += 1;
                        let base = {
                            let hosts = hosts.lock().unwrap_or_else(|e| e.into_inner());
                            hosts[turn % hosts.len()].clone()
                        };
                        let Ok(r) = http
                            .get(format!("{base}/v1/rooms/{room}/moderation"))
                            .bearer_auth(&token)
                            .send()
                            .await
                        else {
                            continue;
                        };
                        if !r.status().is_success() {
                            continue;
                        }
                        let queue: serde_json::Value = r.json().await.unwrap_or_default();
                        let ids: Vec<String> = queue["messages"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|m| m["message"]["id"].as_str().map(str::to_owned))
                            .collect();
                        if stopping && ids.is_empty() {
                            empty.insert(room.clone());
                        }
                        for id in ids {
                            let decided = http
                                .post(format!("{base}/v1/rooms/{room}/moderation/{id}"))
                                .bearer_auth(&token)
                                .json(&serde_json::json!({"decision": "approve"}))
                                .send()
                                .await;
                            if decided.is_ok_and(|r| r.status().is_success()) {
                                approved += 1;
                            }
                        }
                    }
                    if empty.len() == rooms.len() {
                        return approved;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        Moderators { stop, task }
    }

    /// Approve what is left, then stop; how many were approved.
    pub async fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("moderators end")
    }
}

/// A NATS subscriber of every room's `.messages`, recording deliveries into the checker.
pub async fn watch_nats(checker: &Checker, url: &str) -> JoinHandle<()> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url)
        .await
        .expect("watcher connects");
    let mut sub = client
        .subscribe("chowk.room.*.messages")
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    checker.watching(Channel::Nats, None);
    let checker = checker.clone();
    tokio::spawn(async move {
        let _client = client;
        while let Some(m) = sub.next().await {
            let room = m.subject.split('.').nth(2).unwrap_or_default().to_owned();
            if let Some(id) = m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")) {
                checker.delivered(Channel::Nats, &room, id.as_str(), is_approval(&m));
            }
        }
    })
}

/// Whether a `.messages` publication is an approval (`Chowk-Event: approved`).
fn is_approval(m: &async_nats::Message) -> bool {
    m.headers
        .as_ref()
        .and_then(|h| h.get("Chowk-Event"))
        .is_some_and(|v| v.as_str() == "approved")
}

/// A JetStream stream's `chowk.room.*.messages`, in stream order: (room, id, approval).
pub async fn replay_jetstream(url: &str, stream: &str) -> Vec<(String, String, bool)> {
    let client = async_nats::connect(url).await.expect("replay connects");
    let js = async_nats::jetstream::new(client);
    let Ok(mut stream) = js.get_stream(stream).await else {
        return Vec::new();
    };
    let total = stream.info().await.expect("stream info").state.messages;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: "chowk.room.*.messages".into(),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let (mut out, mut read) = (Vec::new(), 0u64);
    while read < total {
        let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(1), messages.next()).await
        else {
            break;
        };
        read += 1;
        let room = m.subject.split('.').nth(2).unwrap_or_default().to_owned();
        if let Some(id) = m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")) {
            out.push((room, id.to_string(), is_approval(&m)));
        }
    }
    out
}

/// An SSE client of one room, reconnecting (to the next host, with `Last-Event-ID`) whenever
/// its stream ends, recording every message event into the checker.
pub fn watch_sse(checker: &Checker, hosts: &Hosts, room: &str, token: &str) -> SseWatcher {
    checker.watching(Channel::Sse, Some(room));
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicBool::new(false));
    let reconnects = Arc::new(AtomicUsize::new(0));
    let (checker, hosts, room, token) = (
        checker.clone(),
        hosts.clone(),
        room.to_owned(),
        token.to_owned(),
    );
    let task = {
        let (stop, connected, reconnects) = (stop.clone(), connected.clone(), reconnects.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut last: Option<String> = None;
            let mut host = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let base = {
                    let hosts = hosts.lock().unwrap_or_else(|e| e.into_inner());
                    hosts[host % hosts.len()].clone()
                };
                let mut request = http
                    .get(format!("{base}/v1/rooms/{room}/events"))
                    .bearer_auth(&token);
                if let Some(id) = &last {
                    request = request.header("Last-Event-ID", id);
                }
                if let Ok(r) = request.send().await {
                    if r.status().is_success() {
                        // The host subscribed to the room's live feed before it answered.
                        connected.store(true, Ordering::Relaxed);
                        let mut body = r.bytes_stream();
                        let mut buf = String::new();
                        while let Some(Ok(chunk)) = body.next().await {
                            buf.push_str(&String::from_utf8_lossy(&chunk));
                            while let Some(end) = buf.find("\n\n") {
                                let event: String = buf.drain(..end + 2).collect();
                                let event_id = event
                                    .lines()
                                    .find_map(|l| l.strip_prefix("id:"))
                                    .map(|s| s.trim().to_owned());
                                if let Some(id) = sse_message_id(&event) {
                                    // An approval carries the stream's cursor as its event id,
                                    // newer than the approved message itself.
                                    let approval = event_id
                                        .as_deref()
                                        .is_some_and(|e| stream_id(&id) < stream_id(e));
                                    checker.delivered(Channel::Sse, &room, &id, approval);
                                }
                                if event_id.is_some() {
                                    last = event_id;
                                }
                            }
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                        }
                    }
                }
                connected.store(false, Ordering::Relaxed);
                reconnects.fetch_add(1, Ordering::Relaxed);
                host += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    SseWatcher {
        stop,
        task,
        connected,
        reconnects,
    }
}

/// The message id in one SSE event (its `data:` lines, a message as clients see it), if any.
pub fn sse_message_id(event: &str) -> Option<String> {
    let data: String = event
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim_start)
        .collect();
    let value: serde_json::Value = serde_json::from_str(&data).ok()?;
    value["id"].as_str().map(str::to_owned)
}

/// A running SSE watcher.
#[derive(Debug)]
pub struct SseWatcher {
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
    connected: Arc<AtomicBool>,
    reconnects: Arc<AtomicUsize>,
}

impl SseWatcher {
    /// Wait until its stream is open (a host answered and follows the room's live feed), or
    /// fail after `patience`.
    pub async fn wait_connected(&self, patience: Duration) {
        let deadline = std::time::Instant::now() + patience;
        while !self.connected.load(Ordering::Relaxed) {
            assert!(
                std::time::Instant::now() < deadline,
                "the SSE client did not reconnect within {patience:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many times its stream ended and it reconnected.
    pub fn reconnects(&self) -> usize {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Stop watching.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
    }
}

/// Every message of `rooms` in the store behind `redis_url` (through Chowk's own store, read as
/// a moderator so flagged messages count too).
pub async fn read_store(redis_url: &str, rooms: &[String]) -> Vec<Stored> {
    use chowk_host::store::{HistoryQuery, RedisConfig, RedisStore, RoomId, Store, Viewer};
    let store = Store::Redis(RedisStore::new(RedisConfig::url(redis_url)).expect("config"));
    let viewer = Viewer {
        user: crate::user("checker"),
        moderator: true,
    };
    let mut out = Vec::new();
    for room in rooms {
        let id = RoomId::new(room).expect("room id");
        let mut before: Option<String> = None;
        loop {
            let page = store
                .history(
                    &id,
                    &HistoryQuery {
                        before: before.clone(),
                        after: None,
                        limit: 200,
                    },
                    &viewer,
                )
                .await
                .expect("history of the final store");
            out.extend(page.messages.into_iter().map(|m| Stored {
                room: room.clone(),
                id: m.id,
                client_id: m.client_id.map(|c| c.to_string()),
            }));
            match page.next_before {
                Some(b) => before = Some(b),
                None => break,
            }
        }
    }
    out
}
