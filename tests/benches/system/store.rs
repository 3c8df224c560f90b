//! The store layer's own overhead over the bare Redis commands it uses, in the same run,
//! against a real `redis-server` started on a free port:
//! - posting one message (`Store::append`: the dedupe-and-XADD script) vs a bare `XADD`;
//! - reading a 50-message history page (`Store::history`) vs a bare `XREVRANGE ... COUNT 50`.
//!
//! Run with `cargo bench -p chowk-tests --bench system -- store` (or `cargo xtask bench`).

use chowk_host::store::{
    HistoryQuery, NewMessage, NewRoom, RedisConfig, RedisStore, RoomId, Store, StoredAction,
    Viewer, Visibility,
};
use chowk_tests::measure::sample;
use chowk_tests::servers::RedisServer;
use criterion::Criterion;
use redis::AsyncCommands;

const TEXT: &str =
    "Namaste! Fresh Alphonso mangoes in stock, Rs 800 per dozen. Free delivery in Andheri.";

pub fn run(benching: bool) {
    let server = RedisServer::primary();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = rt.block_on(async {
        let store = Store::Redis(RedisStore::new(RedisConfig::url(server.url())).expect("config"));
        store
            .create_room(NewRoom {
                id: RoomId::new("bench").expect("id"),
                name: "Bench".into(),
                description: String::new(),
                visibility: Visibility::Open,
                retention: 10_000,
            })
            .await
            .expect("room");
        store
    });
    let client = redis::Client::open(server.url()).expect("client");
    let mut bare = rt
        .block_on(client.get_multiplexed_async_connection())
        .expect("connection");
    let room = RoomId::new("bench").expect("id");
    let mut n = 0u64;
    let mut post = || {
        n += 1;
        let message = NewMessage {
            room: room.clone(),
            sender: chowk_tests::user("asha"),
            text: TEXT.into(),
            time_ms: n,
            action: StoredAction::Allow,
            score: 1.5,
            trace: r#"[{"plugin":"spam-rules","outcome":"score","elapsed_us":3}]"#.into(),
            reasons: r#"{"reasons":[]}"#.into(),
            generation: 1,
            client_id: Some(chowk_tests::client_id(&format!("c{n}"))),
        };
        rt.block_on(store.append(message)).expect("append");
    };
    let mut bare_post = || {
        rt.block_on(async {
            let _: String = redis::cmd("XADD")
                .arg("bare:messages")
                .arg("MAXLEN")
                .arg("~")
                .arg(10_000)
                .arg("*")
                .arg(&[
                    ("sender", "asha"),
                    ("text", TEXT),
                    ("time", "1"),
                    ("action", "allow"),
                    ("score", "1.5"),
                ])
                .arg(&[
                    (
                        "trace",
                        r#"[{"plugin":"spam-rules","outcome":"score","elapsed_us":3}]"#,
                    ),
                    ("gen", "1"),
                    ("cid", "c"),
                ])
                .query_async(&mut bare)
                .await
                .expect("xadd");
        })
    };
    for _ in 0..200 {
        post();
        bare_post();
    }
    let viewer = Viewer {
        user: chowk_tests::user("ravi"),
        moderator: false,
    };
    let page = HistoryQuery {
        before: None,
        after: None,
        limit: 50,
    };
    let history = || {
        let p = rt
            .block_on(store.history(&room, &page, &viewer))
            .expect("history");
        assert_eq!(p.messages.len(), 50);
    };
    let mut bare_conn = rt
        .block_on(client.get_multiplexed_async_connection())
        .expect("connection");
    let mut bare_history = || {
        let r: redis::streams::StreamRangeReply = rt
            .block_on(bare_conn.xrevrange_count("bare:messages", "+", "-", 50))
            .expect("xrevrange");
        assert_eq!(r.ids.len(), 50);
    };

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("store");
    g.bench_function("append_one_message", |b| b.iter(&mut post));
    g.bench_function("bare_xadd", |b| b.iter(&mut bare_post));
    g.bench_function("history_50", |b| b.iter(history));
    g.bench_function("bare_xrevrange_50", |b| b.iter(&mut bare_history));
    g.finish();

    let iterations = if benching { 20_000 } else { 50 };
    let measure = |f: &mut dyn FnMut()| {
        let l = sample(iterations, f);
        (l.median, l.p99)
    };
    let (a50, a99) = measure(&mut post);
    let (x50, x99) = measure(&mut bare_post);
    let (h50, h99) = measure(&mut || history());
    let (r50, r99) = measure(&mut bare_history);
    println!("\nper-call latency over {iterations} calls (loopback Redis, one connection each):");
    println!("  append (script, dedupe, XADD)  median {a50:>9.2?}  p99 {a99:>9.2?}");
    println!(
        "  bare XADD                      median {x50:>9.2?}  p99 {x99:>9.2?}   ratio {:.2}x",
        a50.as_secs_f64() / x50.as_secs_f64()
    );
    println!("  history, 50 messages           median {h50:>9.2?}  p99 {h99:>9.2?}");
    println!(
        "  bare XREVRANGE COUNT 50        median {r50:>9.2?}  p99 {r99:>9.2?}   ratio {:.2}x",
        h50.as_secs_f64() / r50.as_secs_f64()
    );
}
