//! The message bus as a trust boundary (issue 12, item 5), with the shipped NATS config
//! (`examples/nats-server.conf`) run as it is: a host connects as `chowk-host`; an ingest
//! service may post through ingest and nothing else; a read-only subscriber sees visible
//! messages only, can publish nothing, and cannot join the hosts' ingest queue group. (That
//! hosts drop unsigned publications is `api_e2e::forged_publications_never_reach_live_streams`.)

use std::time::Duration;

use chowk_host::auth::Role;
use chowk_host::bus::NatsConfig;
use chowk_host::store::RedisConfig;
use chowk_tests::api::{Api, Setup, FLAGGED_TEXT};
use chowk_tests::servers::{shipped_nats_config, NatsServer, RedisServer};
use futures::{FutureExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

const DEADLINE: Duration = Duration::from_secs(10);
const PASSWORDS: [(&str, &str, &str); 3] = [
    (
        "CHOWK_NATS_HOST_PASSWORD",
        "chowk-host",
        "host-password-for-the-test-0123",
    ),
    (
        "CHOWK_NATS_INGEST_PASSWORD",
        "chowk-ingest",
        "ingest-password-for-the-test-01",
    ),
    (
        "CHOWK_NATS_READER_PASSWORD",
        "chowk-reader",
        "reader-password-for-the-test-01",
    ),
];

/// A client logged in as `user`, and the errors the server sends it.
async fn connect_as(
    nats: &NatsServer,
    user: &str,
) -> (async_nats::Client, UnboundedReceiver<String>) {
    let (_, _, password) = PASSWORDS
        .iter()
        .find(|(_, u, _)| *u == user)
        .expect("a shipped user");
    let (tx, rx) = unbounded_channel();
    let client =
        async_nats::ConnectOptions::with_user_and_password(user.into(), (*password).into())
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = event {
                        let _ = tx.send(e.to_string().to_lowercase());
                    }
                }
            })
            .connect(nats.url())
            .await
            .unwrap_or_else(|e| panic!("{user} connects: {e}"));
    (client, rx)
}

/// Wait for the server to refuse the operations on each of `subjects` (permissions violations).
async fn refused(errors: &mut UnboundedReceiver<String>, subjects: &[&str]) {
    let mut missing: Vec<String> = subjects.iter().map(|s| format!("\"{s}\"")).collect();
    while !missing.is_empty() {
        let error = tokio::time::timeout(DEADLINE, errors.recv())
            .await
            .unwrap_or_else(|_| panic!("refusals of {missing:?} within {DEADLINE:?}"))
            .expect("client alive");
        assert!(error.contains("permissions violation"), "{error}");
        missing.retain(|s| !error.contains(s.as_str()));
    }
}

async fn next(sub: &mut async_nats::Subscriber, what: &str) -> Value {
    let msg = tokio::time::timeout(DEADLINE, sub.next())
        .await
        .unwrap_or_else(|_| panic!("{what} within {DEADLINE:?}"))
        .expect("subscription open");
    serde_json::from_slice(&msg.payload).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_nats_config_confines_each_user() {
    let env: Vec<(&str, &str)> = PASSWORDS.iter().map(|(var, _, p)| (*var, *p)).collect();
    let nats = NatsServer::with_config(&shipped_nats_config(), &env);
    let redis = RedisServer::primary();
    let mut bus = NatsConfig::url(nats.url());
    bus.user = Some("chowk-host".into());
    bus.password = Some(PASSWORDS[0].2.into());
    let host = Api::start(Setup {
        redis: Some(RedisConfig::url(redis.url())),
        nats: Some(bus),
        ..Setup::default()
    })
    .await
    .listen()
    .await;
    let http = reqwest::Client::new();
    let r = http
        .post(host.url("/v1/rooms"))
        .bearer_auth(host.token("root", Role::Admin))
        .json(&json!({"id": "lobby", "name": "Lobby"}))
        .send()
        .await
        .expect("create room");
    assert_eq!(r.status(), 201);

    let (reader, mut reader_errors) = connect_as(&nats, "chowk-reader").await;
    let mut visible = reader
        .subscribe("chowk.room.lobby.messages")
        .await
        .expect("subscribe");
    let mut moderation = reader
        .subscribe("chowk.room.lobby.moderation")
        .await
        .expect("subscribe");
    let mut swallowed = reader
        .queue_subscribe("chowk.ingest.*", "chowk".into())
        .await
        .expect("subscribe");
    // Denied: a forged message, straight onto the room's subject.
    reader
        .publish(
            "chowk.room.lobby.messages",
            json!({"id": "4102444800000-0", "text": "forged"})
                .to_string()
                .into(),
        )
        .await
        .expect("publish");
    reader.flush().await.expect("flush");
    refused(
        &mut reader_errors,
        &[
            "chowk.room.lobby.messages",
            "chowk.room.lobby.moderation",
            "chowk.ingest.*",
        ],
    )
    .await;

    // The ingest service posts; every request is answered by the host (none swallowed).
    let (service, mut service_errors) = connect_as(&nats, "chowk-ingest").await;
    let mut posted = Vec::new();
    for i in 0..6 {
        let body = json!({"sender": "order-bot", "text": format!("Order {i} shipped")});
        let reply = tokio::time::timeout(
            DEADLINE,
            service.request("chowk.ingest.lobby", body.to_string().into()),
        )
        .await
        .expect("answered in time")
        .expect("answered");
        let reply: Value = serde_json::from_slice(&reply.payload).expect("JSON");
        assert_eq!(reply["created"], true, "{reply}");
        posted.push(reply["message"]["id"].clone());
    }
    // A flagged post makes a moderation report (which the reader must not see), then one more
    // visible message: the reader's first messages are exactly the relayed ones.
    let member = host.token("asha", Role::Member);
    for text in [FLAGGED_TEXT, "Sabzi mandi opens at 6 tomorrow"] {
        let r = http
            .post(host.url("/v1/rooms/lobby/messages"))
            .bearer_auth(&member)
            .json(&json!({"text": text}))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 201);
        let message: Value = r.json().await.expect("JSON");
        if message["action"] != "flag" {
            posted.push(message["id"].clone());
        }
    }
    let mut seen = Vec::new();
    for _ in 0..posted.len() {
        seen.push(next(&mut visible, "a relayed message").await["id"].clone());
    }
    assert_eq!(seen, posted, "the forged publication never got through");
    // The moderation report was published before the last message: it would have arrived.
    assert!(
        moderation.next().now_or_never().flatten().is_none(),
        "the reader reads no moderation reports"
    );
    assert!(
        swallowed.next().now_or_never().flatten().is_none(),
        "the reader cannot join the ingest queue group"
    );

    // The service can do nothing but ingest.
    let _spy = service
        .subscribe("chowk.room.lobby.messages")
        .await
        .expect("subscribe");
    service
        .publish("chowk.room.lobby.messages", "forged".into())
        .await
        .expect("publish");
    service.flush().await.expect("flush");
    refused(&mut service_errors, &["chowk.room.lobby.messages"]).await;
}
