//! Relay and ingest over a real `nats-server` and a real Redis: subscribers receive exactly the
//! accepted messages in order; flagged and rejected ones go to moderation; ingest is shared by
//! a queue group and answers malformed requests; a NATS outage or a host that dies between
//! storing and publishing loses nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chowk_host::bus::NatsConfig;
use chowk_host::chat::Chat;
use chowk_host::clock::SystemClock;
use chowk_host::config::LimitsConfig;
use chowk_host::ingest::Ingest;
use chowk_host::plugins::{Chain, ChainContext, Manifest, MemoryState};
use chowk_host::relay::{Relay, RelayOutbox};
use chowk_host::store::{
    Decision, NewMessage, NewRoom, RedisConfig, RedisStore, RoomId, Store, StoredAction, Visibility,
};
use chowk_tests::servers::{NatsServer, RedisServer};
use chowk_tests::user;
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const CHAIN: &str = r#"
version = 1
[chain]
flag_at = 3.5
reject_at = 8.0
[[plugins]]
name = "keyword-filter"
path = "keyword-filter.wasm"
[[plugins.config.lists]]
name = "l"
action = "reject"
terms = ["blocked"]
[[plugins]]
name = "spam-rules"
path = "spam-rules.wasm"
"#;

/// One Chowk host: chat service, relay and ingest, on shared Redis and NATS.
struct Host {
    chat: Arc<Chat>,
    ingest: Arc<Ingest>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn start_host(redis: &RedisServer, nats: &NatsServer, relay_on: bool) -> Host {
    start_host_with(redis, NatsConfig::url(nats.url()), relay_on).await
}

async fn start_host_with(redis: &RedisServer, config: NatsConfig, relay_on: bool) -> Host {
    let store = Arc::new(Store::Redis(
        RedisStore::new(RedisConfig::url(redis.url())).expect("store"),
    ));
    let clock = Arc::new(SystemClock);
    let ctx = ChainContext {
        engine: chowk_tests::engine(),
        state: Arc::new(MemoryState::new(clock.clone())),
        clock: clock.clone(),
        max_text_chars: chowk_host::ids::DEFAULT_TEXT_CHARS,
    };
    let chain = Chain::load(
        &ctx,
        &Manifest::parse(CHAIN).expect("manifest"),
        &chowk_tests::plugins_dir(),
        1,
    )
    .expect("chain");
    let client = config.connect("chowk-test").await.expect("nats");
    let relay = Relay::new(
        store.clone(),
        client.clone(),
        &config,
        chowk_host::bus::signature::RelayKey::derive(b"relay test secret, thirty-two bytes"),
    );
    let chat = Arc::new(Chat::new(
        store,
        Arc::new(ArcSwap::from_pointee(chain)),
        clock,
        Arc::new(
            RelayOutbox::new(relay.handle())
                .announce_on(client.clone(), CancellationToken::new())
                .0,
        ),
        LimitsConfig::default().text_chars,
    ));
    let ingest = Arc::new(Ingest::new(chat.clone(), client));
    let (stop, rx) = watch::channel(false);
    let mut tasks = vec![tokio::spawn({
        let ingest = ingest.clone();
        let rx = rx.clone();
        async move {
            ingest.run(stopped(rx)).await.expect("ingest runs");
        }
    })];
    if relay_on {
        tasks.push(tokio::spawn(relay.run(stopped(rx))));
    }
    Host {
        chat,
        ingest,
        stop,
        tasks,
    }
}

impl Host {
    async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.await.expect("task ends cleanly");
        }
    }
}

async fn room(store: &Store, id: &str) -> RoomId {
    let id = RoomId::new(id).expect("id");
    store
        .create_room(NewRoom {
            id: id.clone(),
            name: id.to_string(),
            description: String::new(),
            visibility: Visibility::Open,
            retention: 10_000,
        })
        .await
        .expect("room");
    id
}

/// Collect `n` distinct messages (by `Nats-Msg-Id`, or payload when absent) within 20 s.
async fn collect(sub: &mut async_nats::Subscriber, n: usize) -> Vec<serde_json::Value> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        let msg = tokio::time::timeout_at(deadline, sub.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} messages arrived: {out:?}", out.len()))
            .expect("subscription open");
        let id = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string())
            .unwrap_or_else(|| String::from_utf8_lossy(&msg.payload).into_owned());
        if seen.insert(id) {
            out.push(serde_json::from_slice(&msg.payload).expect("JSON payload"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_exactly_the_accepted_messages_in_order() {
    let (redis, nats) = (RedisServer::primary(), NatsServer::start());
    let host = start_host(&redis, &nats, true).await;
    let r = room(&host.chat.store, "bazaar").await;
    let watcher = async_nats::connect(nats.url()).await.expect("subscriber");
    let mut messages = watcher
        .subscribe("chowk.room.bazaar.messages")
        .await
        .expect("sub");
    let mut moderation = watcher
        .subscribe("chowk.room.bazaar.moderation")
        .await
        .expect("sub");
    watcher.flush().await.expect("flush");

    let mut accepted = Vec::new();
    for i in 0..10 {
        let p = host
            .chat
            .post(&r, &user("asha"), format!("rate update {i}"), None)
            .await
            .expect("post");
        accepted.push(p.message.id);
        if i == 4 {
            host.chat
                .post(&r, &user("asha"), "this is blocked".into(), None)
                .await
                .expect_err("rejected");
        }
    }
    let flagged = host
        .chat
        .post(
            &r,
            &user("spammer"),
            "Congrats! You won a prize, reply to claim".into(),
            None,
        )
        .await
        .expect("flagged, stored");
    assert!(flagged.message.pending);

    let got = collect(&mut messages, 10).await;
    let ids: Vec<&str> = got.iter().map(|m| m["id"].as_str().expect("id")).collect();
    assert_eq!(
        ids,
        accepted.iter().map(String::as_str).collect::<Vec<_>>(),
        "in order, nothing else"
    );
    assert_eq!(got[3]["text"], "rate update 3");
    assert_eq!(got[3]["sender"], "asha");

    let events = collect(&mut moderation, 2).await;
    let kinds: HashSet<&str> = events
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, HashSet::from(["rejected", "flagged"]), "{events:?}");

    host.chat
        .store
        .moderate(&r, &flagged.message.id, Decision::Approve)
        .await
        .expect("approve");
    host.chat.store.mark_dirty(&r).await.expect("mark");
    let approved = collect(&mut messages, 1).await;
    assert_eq!(
        approved[0]["id"],
        flagged.message.id.as_str(),
        "approved messages are relayed"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_shared_by_a_queue_group_and_answers_bad_requests() {
    let (redis, nats) = (RedisServer::primary(), NatsServer::start());
    let (a, b) = (
        start_host(&redis, &nats, true).await,
        start_host(&redis, &nats, true).await,
    );
    room(&a.chat.store, "ingest").await;
    let service = async_nats::connect(nats.url()).await.expect("client");
    for i in 0..20 {
        let body = serde_json::json!({"sender": "erp-bot", "text": format!("stock update {i}"), "client_id": format!("erp-{i}")});
        let reply = service
            .request("chowk.ingest.ingest", body.to_string().into())
            .await
            .expect("reply");
        let reply: serde_json::Value = serde_json::from_slice(&reply.payload).expect("JSON");
        assert_eq!(reply["created"], true, "{reply}");
        assert_eq!(reply["message"]["text"], format!("stock update {i}"));
    }
    assert_eq!(
        a.ingest.handled() + b.ingest.handled(),
        20,
        "each request handled once"
    );
    assert!(
        a.ingest.handled() > 0 && b.ingest.handled() > 0,
        "both hosts took a share: {} / {}",
        a.ingest.handled(),
        b.ingest.handled()
    );

    // A retry with the same client id returns the original.
    let again =
        serde_json::json!({"sender": "erp-bot", "text": "stock update 3", "client_id": "erp-3"});
    let reply = service
        .request("chowk.ingest.ingest", again.to_string().into())
        .await
        .expect("reply");
    let reply: serde_json::Value = serde_json::from_slice(&reply.payload).expect("JSON");
    assert_eq!(reply["created"], false, "{reply}");

    for (subject, body, code) in [
        ("chowk.ingest.ingest", "not json", "invalid_request"),
        (
            "chowk.ingest.ingest",
            r#"{"sender": "x"}"#,
            "invalid_request",
        ),
        (
            "chowk.ingest.ingest",
            r#"{"sender": "x", "text": "hi", "colour": 1}"#,
            "invalid_request",
        ),
        (
            "chowk.ingest.nowhere",
            r#"{"sender": "x", "text": "hi"}"#,
            "not_found",
        ),
        (
            "chowk.ingest.ingest",
            r#"{"sender": "x", "text": "blocked word"}"#,
            "rejected",
        ),
        (
            "chowk.ingest.ingest",
            r#"{"sender": "x", "text": "  "}"#,
            "invalid_request",
        ),
    ] {
        let reply = service
            .request(subject.to_owned(), body.to_owned().into())
            .await
            .expect("an error reply, not silence");
        let reply: serde_json::Value = serde_json::from_slice(&reply.payload).expect("JSON");
        assert_eq!(reply["error"]["code"], code, "{body}: {reply}");
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// Core NATS drops messages for a subscriber that is itself disconnected, so the outage is
/// checked where nothing can be missed by timing: the JetStream stream (on disk, so it survives
/// the restart) must end up with every acknowledged message exactly once, in order, and a
/// subscriber that comes afterwards replays them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_acknowledged_while_nats_is_down_arrive_after_it_returns() {
    let (redis, mut nats) = (RedisServer::primary(), NatsServer::start());
    let mut config = NatsConfig::url(nats.url());
    config.jetstream = true;
    let host = start_host_with(&redis, config, true).await;
    let r = room(&host.chat.store, "outage").await;
    for i in 0..5 {
        host.chat
            .post(&r, &user("asha"), format!("before {i}"), None)
            .await
            .expect("post");
    }
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("client"));
    wait_for_stream(&js, 5).await;

    nats.stop();
    for i in 0..10 {
        host.chat
            .post(&r, &user("asha"), format!("during {i}"), None)
            .await
            .expect("stored and acknowledged while NATS is down");
    }
    nats.restart();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("client"));
    wait_for_stream(&js, 15).await;
    let texts = replay(&js, "chowk.room.outage.messages").await;
    let expected: Vec<String> = (0..5)
        .map(|i| format!("before {i}"))
        .chain((0..10).map(|i| format!("during {i}")))
        .collect();
    assert_eq!(texts, expected, "every acknowledged message once, in order");
    host.shutdown().await;
}

async fn wait_for_stream(js: &async_nats::jetstream::Context, n: u64) {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(mut stream) = js.get_stream(chowk_host::relay::JETSTREAM_STREAM).await {
                if stream.info().await.map(|i| i.state.messages).unwrap_or(0) >= n {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the stream did not reach {n} messages"));
}

async fn replay(js: &async_nats::jetstream::Context, subject: &str) -> Vec<String> {
    let stream = js
        .get_stream(chowk_host::relay::JETSTREAM_STREAM)
        .await
        .expect("stream");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: subject.into(),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(100)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("fetch");
    let mut texts = Vec::new();
    while let Some(m) = batch.next().await {
        let m = m.expect("message");
        let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
        texts.push(v["text"].as_str().expect("text").to_owned());
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_stored_by_a_host_that_died_before_publishing_is_relayed_by_the_next() {
    let (redis, nats) = (RedisServer::primary(), NatsServer::start());
    // The first host stores but never publishes: its relay is not running (it "died").
    let dead = start_host(&redis, &nats, false).await;
    let r = room(&dead.chat.store, "crash").await;
    let stored = dead
        .chat
        .post(&r, &user("asha"), "stored, then the host died".into(), None)
        .await
        .expect("post");
    // Even the dirty mark may be lost in a crash; the next relay's startup scan finds it.
    dead.chat.store.clear_dirty(&r).await.expect("clear");
    dead.shutdown().await;

    let watcher = async_nats::connect(nats.url()).await.expect("subscriber");
    let mut sub = watcher
        .subscribe("chowk.room.crash.messages")
        .await
        .expect("sub");
    watcher.flush().await.expect("flush");
    let next = start_host(&redis, &nats, true).await;
    let got = collect(&mut sub, 1).await;
    assert_eq!(got[0]["id"], stored.message.id.as_str());
    // A direct append (as another host would do) is relayed too.
    let direct = next
        .chat
        .store
        .append(NewMessage {
            room: r.clone(),
            sender: user("ravi"),
            text: "appended elsewhere".into(),
            time_ms: 1,
            action: StoredAction::Allow,
            score: 0.0,
            trace: "{}".into(),
            reasons: r#"{"reasons":[]}"#.into(),
            generation: 1,
            client_id: None,
        })
        .await
        .expect("append");
    next.chat.store.mark_dirty(&r).await.expect("mark");
    let got = collect(&mut sub, 1).await;
    assert_eq!(got[0]["id"], direct.message.id.as_str());
    next.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_jetstream_late_subscribers_replay_and_republishing_is_deduplicated() {
    let (redis, nats) = (RedisServer::primary(), NatsServer::start());
    let mut config = NatsConfig::url(nats.url());
    config.jetstream = true;
    let host = start_host_with(&redis, config, true).await;
    let r = room(&host.chat.store, "replay").await;
    for i in 0..5 {
        host.chat
            .post(&r, &user("asha"), format!("js {i}"), None)
            .await
            .expect("post");
    }
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("client"));
    wait_for_stream(&js, 5).await;

    // The relay publishes everything again (as after a crash before its cursor moved):
    // JetStream drops the duplicates by Nats-Msg-Id.
    host.chat
        .store
        .set_relay_cursor(&r, "0-0")
        .await
        .expect("rewind");
    host.chat.store.mark_dirty(&r).await.expect("mark");
    host.chat
        .post(&r, &user("asha"), "js 5".into(), None)
        .await
        .expect("post");
    wait_for_stream(&js, 6).await;
    // A subscriber that comes late replays from the stream, each message once.
    let texts = replay(&js, "chowk.room.replay.messages").await;
    assert_eq!(texts, (0..6).map(|i| format!("js {i}")).collect::<Vec<_>>());
    host.shutdown().await;
}

/// Issue 11 item 4: what each NATS mode guarantees when the relay's connection drops with a
/// batch in flight. The host reaches NATS through a fault proxy that holds its traffic (the
/// batch is written to the socket, so a flush succeeds) and then cuts the connection, losing
/// the batch. The cursor may move only once the server has the batch — JetStream's acks, or
/// with core NATS a request round trip after the flush — so the batch is published again after
/// the reconnect and a subscriber that stayed connected gets every message.
async fn a_batch_lost_with_its_connection_is_published_again(jetstream: bool) {
    use chowk_tests::fault::FaultProxy;
    let (redis, nats) = (RedisServer::primary(), NatsServer::start());
    let nats_port: u16 = nats
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let proxy = FaultProxy::start(nats_port);
    let mut config = NatsConfig::url(format!("nats://127.0.0.1:{}", proxy.port()));
    config.jetstream = jetstream;
    config.flush_timeout_ms = 300;
    let host = start_host_with(&redis, config, true).await;
    let name = if jetstream { "lost-js" } else { "lost-core" };
    let r = room(&host.chat.store, name).await;
    let watcher = async_nats::connect(nats.url()).await.expect("subscriber");
    let mut messages = watcher
        .subscribe(format!("chowk.room.{name}.messages"))
        .await
        .expect("sub");
    watcher.flush().await.expect("flush");
    for i in 0..3 {
        host.chat
            .post(&r, &user("asha"), format!("before {i}"), None)
            .await
            .expect("post");
    }
    collect(&mut messages, 3).await;

    proxy.partition();
    let mut last = String::new();
    for i in 0..10 {
        last = host
            .chat
            .post(&r, &user("asha"), format!("in flight {i}"), None)
            .await
            .expect("stored while the bus is cut off")
            .message
            .id;
    }
    tokio::task::block_in_place(|| {
        chowk_tests::servers::wait_until(
            "the relay wrote the whole batch to its socket",
            Duration::from_secs(10),
            || proxy.clients_sent(&last),
        )
    });
    // The batch is in flight (a flush has returned): lose it with the connection.
    proxy.reset();
    proxy.heal();
    // At least once: an earlier batch may come again (its confirmation may have been cut
    // too); what counts is that every message in flight arrives, in order.
    let mut texts: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while texts.len() < 10 {
        let m = tokio::time::timeout_at(deadline, messages.next())
            .await
            .unwrap_or_else(|_| panic!("only {texts:?} arrived"))
            .expect("subscription open");
        let body: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
        let text = body["text"].as_str().expect("text").to_owned();
        if text.starts_with("in flight") && !texts.contains(&text) {
            texts.push(text);
        }
    }
    let expected: Vec<String> = (0..10).map(|i| format!("in flight {i}")).collect();
    assert_eq!(
        texts, expected,
        "every message after the reconnect, in order"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_nats_republishes_a_batch_lost_with_its_connection() {
    a_batch_lost_with_its_connection_is_published_again(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_republishes_a_batch_lost_with_its_connection() {
    a_batch_lost_with_its_connection_is_published_again(true).await;
}

/// A flagged message approved before any relay read past it is published as an approval
/// (`Chowk-Event: approved`) from the stream too, not as a new message: a slower relay of
/// another host reads it as no longer pending, and subscribers must still be able to tell an
/// older message made visible (the reliability checker found it first-seen out of room order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_read_from_the_stream_is_still_an_approval() {
    let (redis, nats) = (RedisServer::primary(), NatsServer::start());
    let quiet = start_host(&redis, &nats, false).await;
    let r = room(&quiet.chat.store, "approved-early").await;
    let flagged = quiet
        .chat
        .post(
            &r,
            &user("spammer"),
            "Congrats! You won a prize, reply to claim".into(),
            None,
        )
        .await
        .expect("flagged, stored");
    assert!(flagged.message.pending);
    quiet
        .chat
        .store
        .moderate(&r, &flagged.message.id, Decision::Approve)
        .await
        .expect("approve");
    let watcher = async_nats::connect(nats.url()).await.expect("subscriber");
    let mut messages = watcher
        .subscribe("chowk.room.approved-early.messages")
        .await
        .expect("sub");
    watcher.flush().await.expect("flush");

    let relaying = start_host(&redis, &nats, true).await;
    relaying.chat.store.mark_dirty(&r).await.expect("mark");
    let m = tokio::time::timeout(Duration::from_secs(20), messages.next())
        .await
        .expect("relayed")
        .expect("subscription open");
    let event = m
        .headers
        .as_ref()
        .and_then(|h| h.get("Chowk-Event"))
        .map(|v| v.to_string());
    assert_eq!(
        event.as_deref(),
        Some("approved"),
        "published as an approval"
    );
    relaying.shutdown().await;
    quiet.shutdown().await;
}
