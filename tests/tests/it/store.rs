//! The store's behaviour, checked against a real Redis and against the in-memory default with
//! the same scenarios: ordering, paging both ways, retention, idempotent retries, flagged
//! visibility, moderation, profiles, unknown rooms, and plugin state TTL and isolation.

use std::sync::Arc;
use std::time::Duration;

use chowk_host::clock::{ManualClock, SystemClock};
use chowk_host::plugins::{MemoryState, PluginState, StateError};
use chowk_host::store::{
    ClientId, Decision, HistoryQuery, MemoryStore, NewMessage, NewRoom, Product, ProfilePatch,
    RedisConfig, RedisStore, RoomId, Store, StoreError, StoredAction, StoredMessage, UserId,
    Viewer, Visibility,
};
use chowk_tests::servers::{wait_until, RedisServer};
use chowk_tests::{client_id, user};

fn room_id(s: &str) -> RoomId {
    RoomId::new(s).expect("valid room id")
}

async fn new_room(store: &Store, id: &str, retention: u64) -> RoomId {
    let id = room_id(id);
    store
        .create_room(NewRoom {
            id: id.clone(),
            name: format!("Room {id}"),
            description: String::new(),
            visibility: Visibility::Open,
            retention,
        })
        .await
        .expect("room created");
    id
}

fn message(
    room: &RoomId,
    sender: &str,
    text: &str,
    action: StoredAction,
    cid: Option<&str>,
) -> NewMessage {
    NewMessage {
        room: room.clone(),
        sender: user(sender),
        text: text.into(),
        time_ms: 1,
        action,
        score: if action == StoredAction::Flag {
            4.0
        } else {
            0.0
        },
        trace: "[]".into(),
        reasons: r#"{"reasons":[]}"#.into(),
        generation: 7,
        client_id: cid.map(client_id),
    }
}

fn viewer(name: &str, moderator: bool) -> Viewer {
    Viewer {
        user: user(name),
        moderator,
    }
}

fn query(before: Option<&str>, after: Option<&str>, limit: usize) -> HistoryQuery {
    HistoryQuery {
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
        limit,
    }
}

/// Every scenario, against one store.
async fn behaves(store: &Store) {
    rooms(store).await;
    ordering_and_paging(store).await;
    retention(store).await;
    idempotent_retries(store).await;
    flagged_visibility_and_moderation(store).await;
    profiles(store).await;
    unknown_rooms(store).await;
    retried_writes(store).await;
    racing_relays(store).await;
}

/// Two hosts' relays over the same room (issue 11, item 3): the cursor only moves forward, and
/// approvals are acknowledged by id, so one relay never drops an approval the other has not
/// published.
async fn racing_relays(store: &Store) {
    let room = new_room(store, "raced", 100).await;
    store.set_relay_cursor(&room, "10-0").await.expect("cursor");
    store
        .set_relay_cursor(&room, "9-5")
        .await
        .expect("an older cursor is ignored");
    assert_eq!(
        store.relay_cursor(&room).await.expect("cursor").as_deref(),
        Some("10-0")
    );
    store.set_relay_cursor(&room, "10-1").await.expect("cursor");
    store
        .set_relay_cursor(&room, "100-0")
        .await
        .expect("cursor");
    assert_eq!(
        store.relay_cursor(&room).await.expect("cursor").as_deref(),
        Some("100-0")
    );

    let mut approved = Vec::new();
    for text in ["a1", "a2", "a3"] {
        let m = store
            .append(message(&room, "x", text, StoredAction::Flag, None))
            .await
            .expect("append");
        approved.push(m.message.id);
    }
    for id in &approved[..2] {
        store
            .moderate(&room, id, Decision::Approve)
            .await
            .expect("approve");
    }
    let ids = |backlog: Vec<(String, Option<StoredMessage>)>| -> Vec<String> {
        backlog.into_iter().map(|(id, _)| id).collect()
    };
    // Both relays read the same two approvals; a third arrives; each acknowledges what it read.
    let a = ids(store.relay_read(&room, 10).await.expect("backlog").approved);
    let b = ids(store.relay_read(&room, 10).await.expect("backlog").approved);
    store
        .moderate(&room, &approved[2], Decision::Approve)
        .await
        .expect("approve");
    store.ack_approved(&room, &a).await.expect("ack");
    store.ack_approved(&room, &b).await.expect("ack");
    assert_eq!(
        ids(store.relay_read(&room, 10).await.expect("backlog").approved),
        [approved[2].clone()],
        "the approval neither relay published is still queued"
    );
}

/// Writes a client retries after an ambiguous failure (timeout, failover) answer as the first
/// did, and concurrent profile updates of different fields all survive (issue 11, item 8).
async fn retried_writes(store: &Store) {
    // Creating a room again with the same settings finds it (a retry), different settings
    // conflict.
    let new = NewRoom {
        id: room_id("retried"),
        name: "Retried".into(),
        description: "made twice".into(),
        visibility: Visibility::Open,
        retention: 50,
    };
    let first = store.create_room(new.clone()).await.expect("create");
    assert!(first.created);
    let again = store
        .create_room(new.clone())
        .await
        .expect("a retry succeeds");
    assert!(!again.created, "the retry found the room");
    assert_eq!(again.room, first.room);
    let other = NewRoom {
        name: "Someone else's".into(),
        ..new.clone()
    };
    let err = store.create_room(other).await.expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    // A moderation decision retried answers as the first; the opposite decision conflicts.
    let room = new.id.clone();
    let flagged = store
        .append(message(&room, "x", "WIN cash", StoredAction::Flag, None))
        .await
        .expect("append");
    let removed = store
        .append(message(&room, "y", "spam again", StoredAction::Flag, None))
        .await
        .expect("append");
    for _ in 0..2 {
        store
            .moderate(&room, &flagged.message.id, Decision::Approve)
            .await
            .expect("approve, and its retry");
        store
            .moderate(&room, &removed.message.id, Decision::Remove)
            .await
            .expect("remove, and its retry");
    }
    let err = store
        .moderate(&room, &removed.message.id, Decision::Approve)
        .await
        .expect_err("approving what was removed");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let labels = store.labels(&room).await.expect("labels");
    assert_eq!(
        labels.len(),
        2,
        "a retry records no second label: {labels:?}"
    );

    // Concurrent updates of different fields: none is lost.
    let asha = user("retry-asha");
    store
        .update_profile(
            &asha,
            ProfilePatch {
                display_name: Some("Asha".into()),
                ..ProfilePatch::default()
            },
            500,
        )
        .await
        .expect("profile");
    for round in 0..10 {
        let value = |field: &str| format!("{field} {round}");
        let patches = [
            ProfilePatch {
                display_name: Some(value("Name")),
                ..ProfilePatch::default()
            },
            ProfilePatch {
                business_name: Some(value("Shop")),
                ..ProfilePatch::default()
            },
            ProfilePatch {
                category: Some(value("Spices")),
                ..ProfilePatch::default()
            },
            ProfilePatch {
                city: Some(value("Kochi")),
                ..ProfilePatch::default()
            },
            ProfilePatch {
                about: Some(value("About")),
                ..ProfilePatch::default()
            },
        ];
        let updates = patches
            .into_iter()
            .enumerate()
            .map(|(i, patch)| store.update_profile(&asha, patch, 1_000 + i as u64));
        for r in futures::future::join_all(updates).await {
            r.expect("update");
        }
        let p = store.profile(&asha).await.expect("profile");
        assert_eq!(
            [
                &p.display_name,
                &p.business_name,
                &p.category,
                &p.city,
                &p.about
            ],
            [
                &value("Name"),
                &value("Shop"),
                &value("Spices"),
                &value("Kochi"),
                &value("About")
            ],
            "round {round}: an update was lost"
        );
    }
}

async fn rooms(store: &Store) {
    let id = new_room(store, "traders", 100).await;
    let err = store
        .create_room(NewRoom {
            id: id.clone(),
            name: "again".into(),
            description: String::new(),
            visibility: Visibility::Members,
            retention: 10,
        })
        .await
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let room = store.room(&id).await.expect("room");
    assert_eq!(
        (room.name.as_str(), room.retention, room.visibility),
        ("Room traders", 100, Visibility::Open)
    );
    assert!(store
        .rooms()
        .await
        .expect("rooms")
        .iter()
        .any(|r| r.id == id));
    store
        .set_member(&id, &user("asha"), true)
        .await
        .expect("member");
    store
        .set_moderator(&id, &user("ravi"), true)
        .await
        .expect("moderator");
    assert_eq!(
        store.roles(&id, &user("asha")).await.expect("roles"),
        (true, false)
    );
    assert_eq!(
        store.roles(&id, &user("ravi")).await.expect("roles"),
        (false, true)
    );
    store
        .set_member(&id, &user("asha"), false)
        .await
        .expect("not a member");
    assert_eq!(
        store.roles(&id, &user("asha")).await.expect("roles"),
        (false, false)
    );
    assert!(RoomId::new("Bad Room!").is_err());
    let err = store
        .create_room(NewRoom {
            id: room_id("noname"),
            name: " ".into(),
            description: String::new(),
            visibility: Visibility::Open,
            retention: 10,
        })
        .await
        .expect_err("empty name");
    assert!(err.to_string().starts_with("name:"), "{err}");
}

async fn ordering_and_paging(store: &Store) {
    let id = new_room(store, "paging", 1000).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let a = store
            .append(message(
                &id,
                "asha",
                &format!("m{i}"),
                StoredAction::Allow,
                None,
            ))
            .await
            .expect("append");
        assert!(a.created);
        ids.push(a.message.id);
    }
    let mut sorted = ids.clone();
    sorted.sort_by_key(|i| chowk_host::store::model::parse_id(i).expect("id"));
    assert_eq!(ids, sorted, "ids increase in posting order");

    let v = viewer("anyone", false);
    let p1 = store
        .history(&id, &query(None, None, 10), &v)
        .await
        .expect("page 1");
    let texts = |p: &chowk_host::store::HistoryPage| {
        p.messages
            .iter()
            .map(|m| m.text.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        texts(&p1),
        (15..25).rev().map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    let p2 = store
        .history(&id, &query(p1.next_before.as_deref(), None, 10), &v)
        .await
        .expect("page 2");
    assert_eq!(
        texts(&p2),
        (5..15).rev().map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    let p3 = store
        .history(&id, &query(p2.next_before.as_deref(), None, 10), &v)
        .await
        .expect("page 3");
    assert_eq!(
        texts(&p3),
        (0..5).rev().map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    assert_eq!(p3.next_before, None, "no older page");

    let forward = store
        .history(&id, &query(None, Some(&ids[4]), 5), &v)
        .await
        .expect("after");
    assert_eq!(
        texts(&forward),
        (5..10).rev().map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    let window = store
        .history(&id, &query(Some(&ids[10]), Some(&ids[7]), 50), &v)
        .await
        .expect("window");
    assert_eq!(texts(&window), ["m9", "m8"]);
    let m = &p1.messages[0];
    assert_eq!(
        (m.sender.as_str(), m.generation, m.action),
        ("asha", 7, StoredAction::Allow)
    );

    for bad in [
        query(None, None, 0),
        query(None, None, 201),
        query(Some("nope"), None, 5),
    ] {
        let err = store
            .history(&id, &bad, &v)
            .await
            .expect_err("invalid query");
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    }
}

async fn retention(store: &Store) {
    let id = new_room(store, "short", 20).await;
    for i in 0..250 {
        store
            .append(message(
                &id,
                "asha",
                &format!("r{i}"),
                StoredAction::Allow,
                None,
            ))
            .await
            .expect("append");
    }
    let page = store
        .history(&id, &query(None, None, 200), &viewer("x", false))
        .await
        .expect("history");
    let n = page.messages.len();
    // Redis trims approximately (whole stream nodes, `MAXLEN ~`); memory trims exactly.
    assert!((20..=120).contains(&n), "kept {n} of 250 with retention 20");
    assert_eq!(page.messages[0].text, "r249");
    assert_eq!(
        page.messages[19].text, "r230",
        "the newest 20 are all kept, in order"
    );
}

async fn idempotent_retries(store: &Store) {
    let id = new_room(store, "retries", 100).await;
    let first = store
        .append(message(
            &id,
            "asha",
            "order 5 kg",
            StoredAction::Allow,
            Some("c-1"),
        ))
        .await
        .expect("first");
    let retry = store
        .append(message(
            &id,
            "asha",
            "order 5 kg",
            StoredAction::Allow,
            Some("c-1"),
        ))
        .await
        .expect("retry");
    assert!(first.created && !retry.created);
    assert_eq!(first.message.id, retry.message.id);
    assert_eq!(retry.message.text, "order 5 kg");
    assert_eq!(retry.message.client_id.as_deref(), Some("c-1"));
    let other = store
        .append(message(&id, "ravi", "hi", StoredAction::Allow, Some("c-1")))
        .await
        .expect("other sender");
    assert!(other.created, "client ids are per sender");
    let all = store
        .history(&id, &query(None, None, 200), &viewer("x", false))
        .await
        .expect("history");
    assert_eq!(all.messages.len(), 2, "no duplicate");
    // An empty client id never reaches the store: it cannot be made.
    assert_eq!(ClientId::new("").expect_err("empty cid").field, "client_id");
}

async fn flagged_visibility_and_moderation(store: &Store) {
    let id = new_room(store, "moderated", 100).await;
    store
        .append(message(&id, "asha", "hello", StoredAction::Allow, None))
        .await
        .expect("ok");
    let flagged = store
        .append(message(
            &id,
            "spammer",
            "WIN cash",
            StoredAction::Flag,
            None,
        ))
        .await
        .expect("flag");
    let removed = store
        .append(message(
            &id,
            "spammer",
            "more spam",
            StoredAction::Flag,
            None,
        ))
        .await
        .expect("flag");
    assert!(flagged.message.pending);
    let seen = |v: Viewer| {
        let id = id.clone();
        async move {
            store
                .history(&id, &query(None, None, 50), &v)
                .await
                .expect("history")
                .messages
                .into_iter()
                .map(|m| m.text)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        seen(viewer("ravi", false)).await,
        ["hello"],
        "others do not see flagged messages"
    );
    assert_eq!(
        seen(viewer("spammer", false)).await,
        ["more spam", "WIN cash", "hello"],
        "the sender does"
    );
    assert_eq!(seen(viewer("mod", true)).await.len(), 3, "moderators do");
    let queue = store.pending(&id).await.expect("queue");
    assert_eq!(
        queue.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["WIN cash", "more spam"]
    );

    store
        .moderate(&id, &flagged.message.id, Decision::Approve)
        .await
        .expect("approve");
    store
        .moderate(&id, &removed.message.id, Decision::Remove)
        .await
        .expect("remove");
    assert_eq!(seen(viewer("ravi", false)).await, ["WIN cash", "hello"]);
    assert_eq!(
        seen(viewer("spammer", false)).await,
        ["WIN cash", "hello"],
        "removed for everyone"
    );
    assert!(store.pending(&id).await.expect("queue").is_empty());
    store
        .moderate(&id, &flagged.message.id, Decision::Approve)
        .await
        .expect("approving again is a retry");
    // Moderators may remove any message, flagged or not; each decision is a training label.
    store
        .moderate(&id, &flagged.message.id, Decision::Remove)
        .await
        .expect("remove an approved message");
    store
        .moderate(&id, &flagged.message.id, Decision::Remove)
        .await
        .expect("removing again is a retry");
    let gone = store
        .moderate(&id, "99999999999999-0", Decision::Remove)
        .await
        .expect_err("nothing to remove");
    assert!(matches!(gone, StoreError::NotFound(_)), "{gone}");
    let labels: Vec<(bool, String)> = store
        .labels(&id)
        .await
        .expect("labels")
        .into_iter()
        .map(|l| (l.spam, l.text))
        .collect();
    assert_eq!(
        labels,
        [
            (false, "WIN cash".to_owned()),
            (true, "more spam".to_owned()),
            (true, "WIN cash".to_owned())
        ]
    );
}

async fn profiles(store: &Store) {
    let err = store.profile(&user("nobody")).await.expect_err("missing");
    assert!(matches!(err, StoreError::NotFound(_)));
    let created = store
        .update_profile(
            &user("asha"),
            ProfilePatch {
                display_name: Some("Asha".into()),
                business_name: Some("Asha Spices".into()),
                city: Some("Kochi".into()),
                phone: Some("+91 98470 12345".into()),
                products: Some(vec![Product {
                    name: "Black pepper".into(),
                    price_paise: 65_000,
                    unit: "kg".into(),
                    image_url: Some("https://example.com/pepper.jpg".into()),
                }]),
                ..ProfilePatch::default()
            },
            1_000,
        )
        .await
        .expect("created");
    assert_eq!(created.phone, "+919847012345");
    let patched = store
        .update_profile(
            &user("asha"),
            ProfilePatch {
                city: Some("Ernakulam".into()),
                ..ProfilePatch::default()
            },
            2_000,
        )
        .await
        .expect("patched");
    assert_eq!(
        (
            patched.city.as_str(),
            patched.business_name.as_str(),
            patched.products.len()
        ),
        ("Ernakulam", "Asha Spices", 1)
    );
    assert_eq!(
        store.profile(&user("asha")).await.expect("read back"),
        patched
    );
    let bad = store
        .update_profile(
            &user("asha"),
            ProfilePatch {
                products: Some(vec![Product {
                    name: "x".into(),
                    price_paise: -5,
                    unit: String::new(),
                    image_url: None,
                }]),
                ..ProfilePatch::default()
            },
            3_000,
        )
        .await
        .expect_err("negative price");
    assert!(bad.to_string().contains("products[0].price_paise"), "{bad}");
    assert_eq!(
        store.profile(&user("asha")).await.expect("unchanged"),
        patched,
        "a refused update changes nothing"
    );
    // A bad user id never reaches the store: it cannot be made.
    assert_eq!(UserId::new("bo b").expect_err("bad user").field, "user");
}

async fn unknown_rooms(store: &Store) {
    let ghost = room_id("ghost");
    let not_found = |e: StoreError| assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    not_found(store.room(&ghost).await.expect_err("room"));
    not_found(
        store
            .append(message(&ghost, "a", "x", StoredAction::Allow, None))
            .await
            .expect_err("append"),
    );
    not_found(
        store
            .history(&ghost, &query(None, None, 5), &viewer("a", false))
            .await
            .expect_err("history"),
    );
    not_found(store.roles(&ghost, &user("a")).await.expect_err("roles"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_behaves() {
    let redis = RedisServer::primary();
    let store = Store::Redis(RedisStore::new(RedisConfig::url(redis.url())).expect("config"));
    behaves(&store).await;

    // A creation cut between its two writes (the room's hash, then the index) by a failover:
    // the retry finds the room and puts it back in the index.
    chowk_tests::servers::raw_command(redis.port(), "SREM chowk:rooms retried").expect("srem");
    assert!(!store
        .rooms()
        .await
        .expect("rooms")
        .iter()
        .any(|r| r.id.as_str() == "retried"));
    let again = store
        .create_room(NewRoom {
            id: room_id("retried"),
            name: "Retried".into(),
            description: "made twice".into(),
            visibility: Visibility::Open,
            retention: 50,
        })
        .await
        .expect("retry");
    assert!(!again.created);
    assert!(store
        .rooms()
        .await
        .expect("rooms")
        .iter()
        .any(|r| r.id.as_str() == "retried"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_behaves_the_same() {
    let store = Store::Memory(MemoryStore::new(Arc::new(SystemClock)));
    behaves(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_unavailable_not_a_hang() {
    let mut redis = RedisServer::primary();
    let mut config = RedisConfig::url(redis.url());
    config.retry_budget_ms = 300;
    config.timeout_ms = 200;
    let store = Store::Redis(RedisStore::new(config).expect("config"));
    let id = new_room(&store, "lobby", 10).await;
    redis.kill();
    let err = store
        .append(message(&id, "a", "x", StoredAction::Allow, Some("k")))
        .await
        .expect_err("down");
    assert!(err.is_transient(), "{err}");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    redis.restart();
    // Data is gone (no persistence in tests) but the store reconnects by itself.
    let err = store.room(&id).await.expect_err("empty after restart");
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls() {
    let redis = RedisServer::primary_tls();
    assert!(redis.url().starts_with("rediss://"));
    let mut config = RedisConfig::url(redis.url());
    config.tls_insecure = true; // self-signed test certificate
    let store = Store::Redis(RedisStore::new(config).expect("config"));
    let id = new_room(&store, "secure", 10).await;
    store
        .append(message(
            &id,
            "asha",
            "over TLS",
            StoredAction::Allow,
            Some("t1"),
        ))
        .await
        .expect("append");
    let page = store
        .history(&id, &query(None, None, 5), &viewer("x", false))
        .await
        .expect("history");
    assert_eq!(page.messages[0].text, "over TLS");

    // The same port refuses plain text, so the store really spoke TLS.
    let mut plain = RedisConfig::url(redis.url().replace("rediss://", "redis://"));
    plain.retry_budget_ms = 200;
    plain.timeout_ms = 200;
    let err = Store::Redis(RedisStore::new(plain).expect("config"))
        .room(&id)
        .await
        .expect_err("plain text");
    assert!(err.is_transient(), "{err}");
}

#[test]
fn redis_plugin_state_is_namespaced_and_expires() {
    let redis = RedisServer::primary();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = {
        let _guard = runtime.enter();
        let mut config = RedisConfig::url(redis.url());
        config.state_timeout_ms = 500;
        RedisStore::new(config).expect("config")
    };
    let state = store.plugin_state(runtime.handle().clone());
    state_isolation(&state);
    state.set("a", "short", "v", Some(50)).expect("set");
    assert_eq!(state.get("a", "short").expect("get").as_deref(), Some("v"));
    wait_until("the key expires", Duration::from_secs(5), || {
        state.get("a", "short").expect("get").is_none()
    });
    assert_eq!(state.incr("a", "n", 1, Some(60_000)).expect("incr"), 1);
    assert_eq!(state.incr("a", "n", 4, Some(60_000)).expect("incr"), 5);
    let ttl =
        chowk_tests::servers::raw_command(redis.port(), "PTTL chowk:pstate:a:n").expect("pttl");
    let ttl: i64 = ttl
        .trim()
        .trim_start_matches(':')
        .parse()
        .expect("integer reply");
    assert!(
        ttl > 0 && ttl <= 60_000,
        "TTL set on creation and kept: {ttl}"
    );
}

#[test]
fn memory_plugin_state_is_namespaced_and_expires() {
    let clock = Arc::new(ManualClock::new(0));
    let state = MemoryState::new(clock.clone());
    state_isolation(&state);
    state.set("a", "short", "v", Some(50)).expect("set");
    clock.advance_ms(50);
    assert_eq!(state.get("a", "short").expect("get"), None);
}

fn state_isolation(state: &dyn PluginState) {
    state.set("a", "k", "one", None).expect("set");
    state.set("b", "k", "two", None).expect("set");
    assert_eq!(state.get("a", "k").expect("get").as_deref(), Some("one"));
    assert_eq!(state.get("b", "k").expect("get").as_deref(), Some("two"));
    assert_eq!(state.get("c", "k").expect("get"), None);
    assert!(matches!(
        state.incr("a", "k", 1, None),
        Err(StateError::NotAnInteger(_))
    ));
}

/// A primary and a replica in sync with it (the primary sees the link online).
fn primary_with_replica() -> (RedisServer, RedisServer) {
    let primary = RedisServer::primary();
    let replica = RedisServer::replica_of(primary.port());
    wait_until("replica online", Duration::from_secs(10), || {
        replica.is_synced_replica() && primary.info("replication").contains("state=online")
    });
    (primary, replica)
}

/// A store on `primary` with `min_replica_acks = 1`, retrying for `budget_ms`.
fn replicated_store(primary: &RedisServer, budget_ms: u64) -> Store {
    let mut config = RedisConfig::url(primary.url());
    config.min_replica_acks = 1;
    // The first WAIT after a fresh sync can take a few hundred ms on Redis 7.0.
    config.replica_ack_timeout_ms = 1_000;
    config.retry_budget_ms = budget_ms;
    Store::Redis(RedisStore::new(config).expect("config"))
}

/// Issue 11, item 1: a retry (same sender and client id) is an acknowledgement too, so it must
/// hold the same promise as the first answer — with `min_replica_acks = 1`, a replica holds the
/// message at the moment of the answer. With the only replica gone, the retry is refused
/// (`NotReplicated`, HTTP 503), both where chat looks the client id up and in the append
/// script; when a replica is back and synced, the retry answers with the original.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_is_acknowledged_only_while_a_replica_holds_the_message() {
    let (primary, mut replica) = primary_with_replica();
    let store = replicated_store(&primary, 1_500);
    let room = new_room(&store, "replicated", 100).await;
    let first = store
        .append(message(
            &room,
            "asha",
            "hello",
            StoredAction::Allow,
            Some("c1"),
        ))
        .await
        .expect("acknowledged: the replica holds it");

    replica.kill();
    wait_until(
        "the primary sees no replica",
        Duration::from_secs(10),
        || primary.info("replication").contains("connected_slaves:0"),
    );
    let lookup = store
        .find_client_id(&room, &user("asha"), &client_id("c1"))
        .await
        .expect_err("no replica: the retry must not be acknowledged");
    assert!(
        matches!(lookup, StoreError::NotReplicated { wanted: 1, got: 0 }),
        "{lookup}"
    );
    let again = store
        .append(message(
            &room,
            "asha",
            "hello",
            StoredAction::Allow,
            Some("c1"),
        ))
        .await
        .expect_err("no replica: the retry must not be acknowledged");
    assert!(
        matches!(again, StoreError::NotReplicated { wanted: 1, got: 0 }),
        "{again}"
    );

    replica.restart();
    wait_until("replica synced again", Duration::from_secs(10), || {
        replica.is_synced_replica() && primary.info("replication").contains("state=online")
    });
    let found = store
        .find_client_id(&room, &user("asha"), &client_id("c1"))
        .await
        .expect("a replica is back")
        .expect("the original");
    assert_eq!(found.id, first.message.id);
    let retried = store
        .append(message(
            &room,
            "asha",
            "hello",
            StoredAction::Allow,
            Some("c1"),
        ))
        .await
        .expect("a replica is back");
    assert!(!retried.created);
    assert_eq!(retried.message.id, first.message.id);
}

/// Issue 11, item 6: `WAIT` for replicas must not hold up anything else. With the only replica
/// frozen, an append waits its full `replica_ack_timeout_ms` in `WAIT`; meanwhile the plugins'
/// key-value calls (a 50 ms deadline) and reads must answer as usual, and the append must end
/// as `NotReplicated` — not as a timeout of a healthy connection.
#[test]
fn waiting_for_replicas_holds_up_nothing_else() {
    let (primary, mut replica) = primary_with_replica();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut config = RedisConfig::url(primary.url());
    config.min_replica_acks = 1;
    config.replica_ack_timeout_ms = 1_500;
    config.retry_budget_ms = 100;
    config.state_timeout_ms = 50;
    config.pool_size = 2;
    let (store, state) = {
        let _guard = runtime.enter();
        let redis = RedisStore::new(config).expect("config");
        let state = redis.plugin_state(runtime.handle().clone());
        (Arc::new(Store::Redis(redis)), state)
    };
    let room = runtime.block_on(new_room(&store, "waited", 100));
    state.set("p", "k", "v", None).expect("state works");

    replica.pause();
    let append = {
        let (store, room) = (store.clone(), room.clone());
        runtime.spawn(async move {
            store
                .append(message(&room, "asha", "x", StoredAction::Allow, None))
                .await
        })
    };
    wait_until("the append is in WAIT", Duration::from_secs(5), || {
        chowk_tests::servers::raw_command(primary.port(), "CLIENT LIST")
            .is_ok_and(|list| list.contains("cmd=wait"))
    });
    for i in 0..6 {
        let got = state.get("p", "k");
        assert_eq!(
            got,
            Ok(Some("v".into())),
            "state call {i} while WAIT blocks"
        );
    }
    let read = runtime.block_on(store.room(&room));
    assert!(read.is_ok(), "{read:?}");
    let result = runtime.block_on(append).expect("task");
    replica.resume();
    let err = result.expect_err("no replica confirmed");
    assert!(
        matches!(err, StoreError::NotReplicated { wanted: 1, got: 0 }),
        "{err}"
    );
}

/// Issue 11 item 2: a post without a client id whose answer is lost (the script ran, the reply
/// never came back) is retried by the store on a fresh connection; the retry must find the
/// first attempt's message through the host's own per-post key, not store a second copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_retried_without_storing_twice() {
    use chowk_tests::fault::FaultProxy;
    let redis = RedisServer::primary();
    let proxy = FaultProxy::start(redis.port());
    let mut config = RedisConfig::url(proxy.redis_url());
    config.timeout_ms = 300;
    config.retry_budget_ms = 5_000;
    // One connection, so the append runs on the one the warm-up opened.
    config.pool_size = 1;
    let store = Arc::new(Store::Redis(RedisStore::new(config).expect("config")));
    let room = new_room(&store, "lost-answers", 100).await;
    let key = format!("chowk:{{room:{room}}}:messages");
    let stored = || {
        chowk_tests::servers::raw_command(redis.port(), &format!("XLEN {key}"))
            .map(|r| r.trim().trim_start_matches(':').parse::<u64>().unwrap_or(0))
            .unwrap_or(0)
    };

    let scripts_run = || {
        let stats = chowk_tests::servers::raw_command(redis.port(), "INFO commandstats")
            .unwrap_or_default();
        stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
            .and_then(|v| v.split(',').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // A first message loads the script, so that the lost answers below are of appends.
    store
        .append(message(&room, "asha", "warm-up", StoredAction::Allow, None))
        .await
        .expect("warm-up");
    let before = scripts_run();

    proxy.drop_replies();
    let append = {
        let (store, room) = (store.clone(), room.clone());
        tokio::spawn(async move {
            store
                .append(message(
                    &room,
                    "asha",
                    "only once",
                    StoredAction::Allow,
                    None,
                ))
                .await
        })
    };
    // The first attempt ran and its answer was lost; the store gave up on that connection and
    // is connecting again to retry (a new connection's handshake answers are lost too).
    let connections = proxy.accepted();
    tokio::task::block_in_place(|| {
        wait_until("the first attempt ran", Duration::from_secs(10), || {
            scripts_run() > before
        });
        wait_until("the store retries", Duration::from_secs(10), || {
            proxy.accepted() > connections
        });
    });
    proxy.heal();
    proxy.reset();
    let appended = append
        .await
        .expect("task")
        .expect("acknowledged after the retry");
    assert!(
        appended.created,
        "for the client this is the first creation"
    );
    assert_eq!(
        stored(),
        2,
        "the warm-up and this message, each stored exactly once"
    );
    let page = store
        .history(
            &room,
            &HistoryQuery {
                before: None,
                after: None,
                limit: 10,
            },
            &viewer("asha", false),
        )
        .await
        .expect("history");
    assert_eq!(page.messages.len(), 2);
    assert_eq!(page.messages[0].id, appended.message.id);
    assert_eq!(page.messages[0].client_id, None, "no client id is invented");
}

/// The relay publishes only what replicas hold (with `min_replica_acks`): a message on the
/// primary that no replica has (its post was refused, 503) is not handed to the relay while the
/// replica is away, because a primary that then dies or is partitioned away would take it
/// along, and subscribers would have seen a message the store never kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_reads_only_what_replicas_hold() {
    let (primary, mut replica) = primary_with_replica();
    let store = replicated_store(&primary, 100);
    let room = new_room(&store, "fenced", 100).await;
    store
        .append(message(
            &room,
            "asha",
            "kept",
            StoredAction::Allow,
            Some("c1"),
        ))
        .await
        .expect("acknowledged");
    assert_eq!(
        store
            .relay_read(&room, 10)
            .await
            .expect("batch")
            .messages
            .len(),
        1
    );

    replica.pause();
    let refused = store
        .append(message(
            &room,
            "asha",
            "on the primary only",
            StoredAction::Allow,
            Some("c2"),
        ))
        .await
        .expect_err("no replica: refused");
    assert!(
        matches!(refused, StoreError::NotReplicated { .. }),
        "{refused}"
    );
    let batch = store.relay_read(&room, 10).await;
    replica.resume();
    let err = batch.expect_err("the relay must not read what no replica holds");
    assert!(
        matches!(err, StoreError::NotReplicated { wanted: 1, got: 0 }),
        "{err}"
    );
    wait_until("replica online again", Duration::from_secs(10), || {
        replica.is_synced_replica()
    });
    assert_eq!(
        store
            .relay_read(&room, 10)
            .await
            .expect("batch")
            .messages
            .len(),
        2,
        "once the replica holds it, it is relayed"
    );
}
