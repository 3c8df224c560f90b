//! Plugin state in Redis is shared by every host: the rate-limit plugin, running in two
//! independent hosts (engines, chains, connections) on one Redis, enforces one limit, and the
//! broadcast plugin counts the rooms a text reached across both.

use std::sync::Arc;

use chowk_host::clock::SystemClock;
use chowk_host::plugins::{Action, Chain, ChainContext, EngineOptions, Manifest, PluginEngine};
use chowk_host::store::{RedisConfig, RedisStore};
use chowk_tests::servers::RedisServer;
use chowk_tests::{msg, plugins_dir};

const RATE: &str = r#"
version = 1
[[plugins]]
name = "rate-limit"
path = "rate-limit.wasm"
deadline_ms = 50
[plugins.config]
per_sender = { max = 3, window_ms = 60000 }
"#;

const BROADCAST: &str = r#"
version = 1
[chain]
flag_at = 3.0
reject_at = 100.0
[[plugins]]
name = "broadcast"
path = "broadcast.wasm"
deadline_ms = 200
[plugins.config]
min_rooms = 3
"#;

fn host(redis: &RedisServer, runtime: &tokio::runtime::Runtime) -> Chain {
    chain(redis, runtime, RATE)
}

fn chain(redis: &RedisServer, runtime: &tokio::runtime::Runtime, manifest: &str) -> Chain {
    let store = {
        let _guard = runtime.enter();
        let mut config = RedisConfig::url(redis.url());
        config.state_timeout_ms = 40;
        RedisStore::new(config).expect("config")
    };
    let ctx = ChainContext {
        engine: Arc::new(PluginEngine::new(EngineOptions::default()).expect("engine")),
        state: Arc::new(store.plugin_state(runtime.handle().clone())),
        clock: Arc::new(SystemClock),
        max_text_chars: chowk_host::ids::DEFAULT_TEXT_CHARS,
    };
    Chain::load(
        &ctx,
        &Manifest::parse(manifest).expect("manifest"),
        &plugins_dir(),
        1,
    )
    .expect("chain")
}

#[test]
fn two_hosts_enforce_one_rate_limit() {
    let redis = RedisServer::primary();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = (host(&redis, &runtime), host(&redis, &runtime));
    let m = msg("hello", "asha", "lobby");
    let actions: Vec<Action> = [&a, &b, &a, &b]
        .iter()
        .map(|h| h.evaluate(&m).action)
        .collect();
    assert_eq!(
        actions,
        [Action::Allow, Action::Allow, Action::Allow, Action::Reject],
        "limit 3 across both hosts"
    );
    let d = b.evaluate(&msg("hello", "ravi", "lobby"));
    assert_eq!(
        d.action,
        Action::Allow,
        "another sender is not limited: {d:?}"
    );
    let keys = chowk_tests::servers::raw_command(redis.port(), "KEYS chowk:pstate:rate-limit:*")
        .expect("keys");
    assert!(
        keys.contains("chowk:pstate:rate-limit:sender:asha:"),
        "state lives in Redis under the plugin's namespace: {keys}"
    );
}

#[test]
fn two_hosts_count_one_broadcast() {
    let redis = RedisServer::primary();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = (
        chain(&redis, &runtime, BROADCAST),
        chain(&redis, &runtime, BROADCAST),
    );
    let text = |phone: &str| {
        format!("Part time job: earn Rs 3000 daily liking videos, contact HR on WhatsApp {phone}")
    };
    let actions: Vec<Action> = [
        (&a, "r1", "s1", "9876543210"),
        (&b, "r2", "s2", "9123456789"),
        (&a, "r3", "s3", "9000000001"),
    ]
    .iter()
    .map(|(h, room, sender, phone)| h.evaluate(&msg(&text(phone), sender, room)).action)
    .collect();
    assert_eq!(
        actions,
        [Action::Allow, Action::Allow, Action::Flag],
        "the third room, whichever host and sender"
    );
}

/// A `kv-batch` runs in one round trip, in order, all or nothing, on Redis and in memory alike.
#[test]
fn a_state_batch_is_all_or_nothing_in_redis_and_in_memory() {
    use chowk_host::plugins::{MemoryState, PluginState, StateError, StateOp, StateOutcome};

    let redis = RedisServer::primary();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let in_redis = {
        let _guard = runtime.enter();
        RedisStore::new(RedisConfig::url(redis.url()))
            .expect("config")
            .plugin_state(runtime.handle().clone())
    };
    let in_memory = MemoryState::new(Arc::new(SystemClock));
    let states: [&dyn PluginState; 2] = [&in_redis, &in_memory];
    for state in states {
        let incr = |key: &str, delta| StateOp::Incr {
            key: key.into(),
            delta,
            ttl_ms: Some(60_000),
        };
        let ops = [
            StateOp::Get("n".into()),
            incr("n", 2),
            incr("n", 3),
            StateOp::Set {
                key: "s".into(),
                value: "text".into(),
                ttl_ms: None,
            },
            StateOp::Get("s".into()),
        ];
        assert_eq!(
            state.batch("p", &ops).expect("batch"),
            [
                StateOutcome::Value(None),
                StateOutcome::Count(2),
                StateOutcome::Count(5),
                StateOutcome::Done,
                StateOutcome::Value(Some("text".into())),
            ],
            "{state:?}"
        );
        // An `incr` of text fails the whole batch: the first `incr` did not happen either.
        let failed = state.batch("p", &[incr("n", 1), incr("s", 1)]);
        assert_eq!(
            failed,
            Err(StateError::NotAnInteger("s".into())),
            "{state:?}"
        );
        assert_eq!(state.get("p", "n").expect("get").as_deref(), Some("5"));
        assert_eq!(state.get("other", "n").expect("get"), None, "namespaced");
    }
}
