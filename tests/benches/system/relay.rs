//! The relay step against real Redis and NATS, with its baseline in the same run:
//! - relaying one stored message (read from the cursor, publish, flush, move the cursor) vs a
//!   bare NATS publish + flush of the same payload;
//! - draining a backlog of 10,000 messages (as after a NATS outage) vs bare publishes of the
//!   same 10,000 payloads.
//!
//! Run with `cargo bench -p chowk-tests --bench system -- relay` (or `cargo xtask bench`).

use std::sync::Arc;
use std::time::Instant;

use chowk_host::store::{
    NewMessage, NewRoom, RedisConfig, RedisStore, RoomId, Store, StoredAction, Visibility,
};
use chowk_host::{bus::NatsConfig, relay::Relay};
use chowk_tests::servers::{NatsServer, RedisServer};
use criterion::Criterion;

const TEXT: &str =
    "Namaste! Fresh Alphonso mangoes in stock, Rs 800 per dozen. Free delivery in Andheri.";

fn message(room: &RoomId, n: u64) -> NewMessage {
    NewMessage {
        room: room.clone(),
        sender: chowk_tests::user("asha"),
        text: TEXT.into(),
        time_ms: n,
        action: StoredAction::Allow,
        score: 1.5,
        trace: r#"{"reasons":[],"trace":[]}"#.into(),
        reasons: r#"{"reasons":[]}"#.into(),
        generation: 1,
        client_id: None,
    }
}

pub fn run(benching: bool) {
    let (redis, nats) = (RedisServer::primary(), NatsServer::start());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = Arc::new(Store::Redis(
        RedisStore::new(RedisConfig::url(redis.url())).expect("store"),
    ));
    let config = NatsConfig::url(nats.url());
    let client = rt.block_on(config.connect("bench")).expect("nats");
    let relay = Relay::new(
        store.clone(),
        client.clone(),
        &config,
        chowk_host::bus::signature::RelayKey::derive(b"relay test secret, thirty-two bytes"),
    );
    let room = |id: &str| {
        let id = RoomId::new(id).expect("id");
        rt.block_on(store.create_room(NewRoom {
            id: id.clone(),
            name: id.to_string(),
            description: String::new(),
            visibility: Visibility::Open,
            retention: 1_000_000,
        }))
        .expect("room");
        id
    };
    let one = room("one");
    let payload = serde_json::to_vec(&serde_json::json!({
        "id": "1-0", "room": "one", "sender": "asha", "text": TEXT, "time": 1, "action": "allow",
        "score": 1.5, "reasons": [], "generation": 1, "pending": false
    }))
    .expect("json");

    let mut n = 0;
    let mut relay_one = || {
        n += 1;
        rt.block_on(async {
            store.append(message(&one, n)).await.expect("append");
            store.mark_dirty(&one).await.expect("mark");
            assert_eq!(relay.drain(false).await.expect("drain"), 1);
        })
    };
    let mut bare_one = || {
        rt.block_on(async {
            store.append(message(&one, 0)).await.expect("append");
            client
                .publish("bare.one", payload.clone().into())
                .await
                .expect("publish");
            client.flush().await.expect("flush");
        })
    };
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("relay");
    g.bench_function("store_then_relay_one_message", |b| b.iter(&mut relay_one));
    g.bench_function("store_then_bare_publish_flush", |b| b.iter(&mut bare_one));
    g.finish();
    // The bare side's appends marked their room too (every append does): relay them first, so
    // the backlog below is all that is left.
    rt.block_on(relay.drain(false)).expect("settle");

    let backlog = if benching { 10_000 } else { 200 };
    let drained = room("drained");
    rt.block_on(async {
        for i in 0..backlog {
            store.append(message(&drained, i)).await.expect("append");
        }
        store.mark_dirty(&drained).await.expect("mark");
    });
    let t = Instant::now();
    let published = rt.block_on(relay.drain(false)).expect("drain");
    let relay_secs = t.elapsed().as_secs_f64();
    assert_eq!(published as u64, backlog);
    let t = Instant::now();
    rt.block_on(async {
        for _ in 0..backlog {
            client
                .publish("bare.backlog", payload.clone().into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
    });
    let bare_secs = t.elapsed().as_secs_f64();
    println!(
        "\nbacklog of {backlog}: relay drained {:.0} msg/s ({relay_secs:.3} s); bare publish {:.0} msg/s ({bare_secs:.3} s); ratio {:.2}x slower",
        backlog as f64 / relay_secs,
        backlog as f64 / bare_secs,
        relay_secs / bare_secs
    );
}
