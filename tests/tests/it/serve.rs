//! The real `chowk` binary: `chowk serve` killed with SIGKILL after storing and before
//! publishing relays the messages after a restart; SIGTERM finishes and drains; SIGHUP reloads
//! the chain; `chowk token` mints tokens the server accepts; a missing secret is a clear
//! start-up error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chowk_tests::servers::{chowk, chowk_token, ChowkProcess, NatsServer, RedisServer};
use futures::StreamExt;
use serde_json::{json, Value};

const SECRET: &str = "serve-test-secret-0123456789abcdef0123";

fn write_config(dir: &Path, redis: &RedisServer, nats: &NatsServer) -> PathBuf {
    // The smallest shipped plugin: every `chowk serve` compiles its chain, and these tests are
    // about the process, not the verdicts.
    std::fs::write(
        dir.join("plugins.toml"),
        format!("version = 1\n{}", chowk_tests::unreachable_rate_limit()),
    )
    .expect("write plugins.toml");
    let path = dir.join("chowk.toml");
    std::fs::write(
        &path,
        format!(
            "[auth]\njwt_secret = \"{SECRET}\"\n[plugins]\npath = \"plugins.toml\"\n\
             [redis]\nurl = \"{}\"\n[nats]\nurl = \"{}\"\nflush_timeout_ms = 200\n",
            redis.url(),
            nats.url()
        ),
    )
    .expect("write chowk.toml");
    path
}

async fn post(http: &reqwest::Client, base: &str, path: &str, token: &str, body: Value) -> Value {
    let response = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("chowk answers");
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    response.json().await.expect("json")
}

async fn receive(sub: &mut async_nats::Subscriber, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(20), sub.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} messages relayed: {ids:?}", ids.len()))
            .expect("subscription open");
        let body: Value = serde_json::from_slice(&m.payload).expect("json");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_store_and_publish_loses_nothing() {
    let redis = RedisServer::primary();
    let mut nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &redis, &nats);
    let admin = chowk_token(&config, "root", "admin");
    let asha = chowk_token(&config, "asha", "member");
    let http = reqwest::Client::new();

    // NATS is down: the host stores and acknowledges, but cannot publish.
    nats.stop();
    let mut host = ChowkProcess::serve(&config);
    post(
        &http,
        &host.base,
        "/v1/rooms",
        &admin,
        json!({"id": "lobby", "name": "Lobby"}),
    )
    .await;
    let mut acked = Vec::new();
    for i in 0..5 {
        let m = post(
            &http,
            &host.base,
            "/v1/rooms/lobby/messages",
            &asha,
            json!({"text": format!("order {i} confirmed")}),
        )
        .await;
        acked.push(m["id"].as_str().expect("id").to_owned());
    }
    host.kill();

    // NATS back, a subscriber listening, the host restarted: the backlog is relayed in order.
    nats.restart();
    let watcher = async_nats::connect(nats.url()).await.expect("watcher");
    let mut sub = watcher
        .subscribe("chowk.room.lobby.messages")
        .await
        .expect("subscribe");
    watcher.flush().await.expect("flush");
    let _host = ChowkProcess::serve(&config);
    assert_eq!(receive(&mut sub, 5).await, acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_and_drains_the_relay() {
    let redis = RedisServer::primary();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &redis, &nats);
    let admin = chowk_token(&config, "root", "admin");
    let asha = chowk_token(&config, "asha", "member");
    let watcher = async_nats::connect(nats.url()).await.expect("watcher");
    let mut sub = watcher
        .subscribe("chowk.room.lobby.messages")
        .await
        .expect("subscribe");
    watcher.flush().await.expect("flush");

    let mut host = ChowkProcess::serve(&config);
    let http = reqwest::Client::new();
    post(
        &http,
        &host.base,
        "/v1/rooms",
        &admin,
        json!({"id": "lobby", "name": "Lobby"}),
    )
    .await;
    let m = post(
        &http,
        &host.base,
        "/v1/rooms/lobby/messages",
        &asha,
        json!({"text": "last order of the day"}),
    )
    .await;
    let status = host.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "chowk serve exits cleanly on SIGTERM: {status}"
    );
    assert_eq!(receive(&mut sub, 1).await, [m["id"].as_str().expect("id")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_chain() {
    let redis = RedisServer::primary();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &redis, &nats);
    // Not watching: only the signal reloads.
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace(
            "path = \"plugins.toml\"\n",
            "path = \"plugins.toml\"\nwatch = false\n",
        ),
    )
    .expect("write");
    let admin = chowk_token(&config, "root", "admin");
    let mut host = ChowkProcess::serve_logged(&config, &[]);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/admin/plugins", host.base);
    let generation = || async {
        let r: Value = http
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .expect("chowk answers")
            .json()
            .await
            .expect("json");
        r["generation"].as_u64().expect("generation")
    };
    assert_eq!(generation().await, 1);
    let manifest = dir.path().join("plugins.toml");
    let text = std::fs::read_to_string(&manifest).expect("read");
    std::fs::write(&manifest, format!("{text}mode = \"shadow\"\n")).expect("write");
    host.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while generation().await != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // What the operator reads: words, not Rust debug output.
    host.wait_for_log("SIGHUP reload: new chain live as generation 2")
        .unwrap_or_else(|log| panic!("no reload line in:\n{log}"));
    host.signal("HUP");
    host.wait_for_log("SIGHUP reload: nothing changed; generation 2 stays live")
        .unwrap_or_else(|log| panic!("no unchanged line in:\n{log}"));
    assert!(!host.log().contains("Unchanged {"), "{}", host.log());
}

#[test]
fn serve_without_a_secret_says_what_to_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chowk.toml");
    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:0\"\n").expect("write");
    let (ok, _, err) = chowk(&["serve", "--config", path.to_str().expect("utf-8")]);
    assert!(!ok);
    assert!(err.contains("jwt_secret"), "{err}");
    let (ok, _, err) = chowk(&[
        "token",
        "--config",
        path.to_str().expect("utf-8"),
        "--user",
        "a",
    ]);
    assert!(!ok);
    assert!(err.contains("jwt_secret"), "{err}");
    let (ok, _, err) = chowk(&["token", "--user", "a", "--role", "boss"]);
    assert!(!ok);
    assert!(err.contains("boss"), "{err}");
}
