//! Fuzz targets: each takes arbitrary bytes and must neither panic nor break its invariant.
//! `fuzz/` runs them under libFuzzer for long runs by hand (`cargo xtask fuzz`), and
//! `tests/it/fuzz.rs` runs each on random and hand-picked inputs in every `cargo xtask test`.
//!
//! - [`request`]: a request to the API (one of the endpoints that take input, any content
//!   type, any body, any path id) on a real Redis: never a 5xx, every error a small typed body.
//! - [`manifest`] and [`config`]: `plugins.toml` and `chowk.toml` text: an error or a value.
//! - [`verdict`]: whatever verdict a plugin answers (the `misbehave` fixture spells it from the
//!   message text): the decision stays within its invariants.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request};
use chowk_host::auth::Role;
use chowk_host::config::Config;
use chowk_host::plugins::{Action, Chain, Manifest};
use chowk_host::store::RedisConfig;

use crate::api::{Api, Setup};
use crate::servers::RedisServer;
use crate::{msg, World};

/// `plugins.toml` text never panics the parser.
pub fn manifest(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Manifest::parse(text);
    }
}

/// `chowk.toml` text, with an environment override made of the input's first line, never
/// panics the parser.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Config::parse(text, "fuzz", []);
    if let Some((first, rest)) = text.split_once('\n') {
        if let Some((var, value)) = first.split_once('=') {
            let _ = Config::parse(rest, "fuzz", [(var.to_owned(), value.to_owned())]);
        }
    }
}

/// The chain with the verdict-echoing fixture, built once per process.
fn echo_chain() -> &'static Chain {
    static CHAIN: OnceLock<(World, Chain)> = OnceLock::new();
    &CHAIN
        .get_or_init(|| {
            let world = World::default();
            let chain = world.chain(
                r#"
version = 1
[chain]
flag_at = 3.5
reject_at = 8.0
[[plugins]]
name = "echo"
path = "fixtures/misbehave.wasm"
breaker = { failures = 1000000, window_ms = 1000, cooldown_ms = 1 }
config = { on_check = "echo_verdict" }
"#,
            );
            (world, chain)
        })
        .1
}

/// Whatever verdict a plugin gives, the decision keeps its invariants: a finite score, a text
/// that obeys the posting rules (or the original), and a rejection exactly when it rejects.
pub fn verdict(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let d = echo_chain().evaluate(&msg(&text, "asha", "lobby"));
    assert!(d.score.is_finite(), "score {} for {text:?}", d.score);
    assert_eq!(d.rejection.is_some(), d.action == Action::Reject, "{d:?}");
    if d.text != text {
        assert!(
            chowk_host::ids::text_problem(&d.text, chowk_host::ids::DEFAULT_TEXT_CHARS).is_none(),
            "a rewrite that breaks the rules was applied: {:?}",
            d.text
        );
    }
}

/// A host on a real Redis, with a room, and tokens, started once per process.
struct Target {
    runtime: tokio::runtime::Runtime,
    api: Api,
    member: String,
    admin: String,
    _redis: RedisServer,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let redis = RedisServer::primary();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let api = runtime.block_on(async {
            let api = Api::start(Setup {
                redis: Some(RedisConfig::url(redis.url())),
                ..Setup::default()
            })
            .await;
            crate::api::create_room(&api, "lobby", "open").await;
            api
        });
        Target {
            member: api.token("asha", Role::Member),
            admin: api.token("root", Role::Admin),
            api,
            runtime,
            _redis: redis,
        }
    })
}

/// The endpoints that take input; `{id}` is replaced by an id from the input.
const ENDPOINTS: [(&str, &str); 9] = [
    ("POST", "/v1/rooms/lobby/messages"),
    ("POST", "/v1/rooms/{id}/messages"),
    ("POST", "/v1/rooms"),
    ("PUT", "/v1/profiles/asha"),
    ("PATCH", "/v1/profiles/asha"),
    ("POST", "/v1/rooms/lobby/moderation/{id}"),
    ("GET", "/v1/rooms/lobby/messages?{id}"),
    ("PUT", "/v1/rooms/lobby/members/{id}"),
    ("POST", "/v1/admin/eval"),
];

const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/problem+json",
];

/// A request built from the input never gets a 5xx, and every error is a typed body that
/// does not echo the input at length.
pub fn request(data: &[u8]) {
    let [endpoint, kind, rest @ ..] = data else {
        return;
    };
    let (method, path) = ENDPOINTS[usize::from(*endpoint) % ENDPOINTS.len()];
    let (id, body) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&rest[..0], rest),
    };
    let id: String = id
        .iter()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(*b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let path = path.replace("{id}", &id);
    let target = target();
    let token = if kind & 0x80 == 0 {
        &target.member
    } else {
        &target.admin
    };
    let request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(&path)
        .header("authorization", format!("Bearer {token}"))
        .header(
            "content-type",
            CONTENT_TYPES[usize::from(*kind & 0x7f) % CONTENT_TYPES.len()],
        )
        .body(Body::from(body.to_vec()))
        .expect("request");
    let reply = target.runtime.block_on(target.api.send(request));
    assert!(
        reply.status.as_u16() < 500,
        "{method} {path}: {reply:?} for a body of {} bytes",
        body.len()
    );
    if reply.status.as_u16() >= 400 {
        assert!(
            !reply.code().is_empty(),
            "{method} {path}: untyped error {reply:?}"
        );
        let size = reply.json.to_string().len();
        assert!(size < 2_048, "{method} {path}: an error of {size} bytes");
    }
}
