//! The whole request path over HTTP on loopback, against a real `redis-server` and
//! `nats-server` started on free ports: posting one message (token check, JSON, the plugin
//! chain, the store script, relay wake-up) and reading a 50-message history page, each next to
//! the baseline of the same run: an HTTP round trip that does nothing (`GET /healthz`).
//!
//! Run with `cargo bench -p chowk-tests --bench system -- api` (or `cargo xtask bench`).

use chowk_host::auth::Role;
use chowk_host::bus::NatsConfig;
use chowk_host::store::RedisConfig;
use chowk_tests::api::{Api, Setup};
use chowk_tests::measure::{sample, Latencies};
use chowk_tests::servers::{NatsServer, RedisServer};
use criterion::Criterion;
use serde_json::json;

const TEXT: &str = "Namaste! Fresh Alphonso mangoes in stock, Rs 800 per dozen. Free delivery in \
                    Andheri and Bandra, call 98200 12345 or message on WhatsApp.";

fn split(l: Latencies) -> (std::time::Duration, std::time::Duration) {
    (l.median, l.p99)
}

pub fn run(benching: bool) {
    let redis = RedisServer::primary();
    let nats = NatsServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let host = rt.block_on(async {
        Api::start(Setup {
            redis: Some(RedisConfig::url(redis.url())),
            nats: Some(NatsConfig::url(nats.url())),
            ..Setup::default()
        })
        .await
        .listen()
        .await
    });
    let http = reqwest::Client::new();
    let admin = host.token("root", Role::Admin);
    let asha = host.token("asha", Role::Member);
    rt.block_on(async {
        let r = http
            .post(host.url("/v1/rooms"))
            .bearer_auth(&admin)
            .json(&json!({"id": "bench", "name": "Bench"}))
            .send()
            .await
            .expect("create room");
        assert_eq!(r.status(), 201);
    });
    let post_url = host.url("/v1/rooms/bench/messages");
    let history_url = host.url("/v1/rooms/bench/messages?limit=50");
    let health_url = host.url("/healthz");
    let body = json!({"text": TEXT}).to_string();
    let post = || {
        rt.block_on(async {
            let r = http
                .post(&post_url)
                .bearer_auth(&asha)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), 201);
            r.bytes().await.expect("body");
        })
    };
    let history = || {
        rt.block_on(async {
            let r = http
                .get(&history_url)
                .bearer_auth(&asha)
                .send()
                .await
                .expect("history");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body");
        })
    };
    let health = || {
        rt.block_on(async {
            let r = http.get(&health_url).send().await.expect("healthz");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body");
        })
    };
    for _ in 0..100 {
        post();
        health();
    }

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("api");
    g.bench_function("post_message", |b| b.iter(post));
    g.bench_function("history_50", |b| b.iter(history));
    g.bench_function("baseline_healthz", |b| b.iter(health));
    g.finish();

    let iterations = if benching { 5_000 } else { 20 };
    let (p50, p99) = split(sample(iterations, post));
    let (h50, h99) = split(sample(iterations, history));
    let (b50, b99) = split(sample(iterations, health));
    println!("\nper-request latency over {iterations} requests (HTTP/1.1 keep-alive on loopback, Redis + NATS):");
    println!(
        "  POST message (auth, JSON, chain, store)  median {p50:>9.2?}  p99 {p99:>9.2?}   {:.2}x baseline",
        p50.as_secs_f64() / b50.as_secs_f64()
    );
    println!(
        "  GET history, 50 messages                 median {h50:>9.2?}  p99 {h99:>9.2?}   {:.2}x baseline",
        h50.as_secs_f64() / b50.as_secs_f64()
    );
    println!("  baseline GET /healthz                    median {b50:>9.2?}  p99 {b99:>9.2?}");
    rt.block_on(host.shutdown());
}
