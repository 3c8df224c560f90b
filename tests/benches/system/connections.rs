//! What an open connection costs the host: resident memory per idle keep-alive connection (one
//! request served on each, then silence), measured in a child process serving Chowk's API (its
//! listener, router and layers, on a real `redis-server`), next to the baseline of the same run:
//! a child serving a bare `axum::serve` with one route. Each side runs in a process of its own
//! (this binary, started again with `CHOWK_CONNECTIONS_PROBE`), so memory one side frees cannot
//! hide what the other allocates; the client sockets are plain blocking sockets in the same
//! process (a file descriptor each, no user memory to speak of).
//!
//! Run with `cargo bench -p chowk-tests --bench system -- connections` (or `cargo xtask bench`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use chowk_host::store::RedisConfig;
use chowk_tests::api::{Api, Setup};
use chowk_tests::servers::RedisServer;

/// The variable that makes this binary a probe: `chowk` or `bare`.
pub const PROBE: &str = "CHOWK_CONNECTIONS_PROBE";
const REDIS: &str = "CHOWK_CONNECTIONS_PROBE_REDIS";
const COUNT: &str = "CHOWK_CONNECTIONS_PROBE_COUNT";

pub fn run(benching: bool) {
    let redis = RedisServer::primary();
    let count = if benching { 2_000 } else { 50 };
    let exe = std::env::current_exe().expect("this binary");
    let probe = |kind: &str| -> f64 {
        let out = Command::new(&exe)
            .env(PROBE, kind)
            .env(REDIS, redis.url())
            .env(COUNT, count.to_string())
            .output()
            .expect("run the probe");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{kind} probe failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("bytes_per_connection="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{kind} probe printed no figure: {stdout}"))
    };
    let bare = probe("bare");
    let chowk = probe("chowk");
    println!(
        "connections/idle_keep_alive ({count} connections): chowk {:.1} KiB per connection, \
         bare axum {:.1} KiB ({:.2}x)",
        chowk / 1024.0,
        bare / 1024.0,
        chowk / bare.max(1.0)
    );
}

/// The probe's side: serve, open the connections, print the memory each cost.
pub fn probe(kind: &str) {
    let redis = std::env::var(REDIS).expect("redis url");
    let count: usize = std::env::var(COUNT)
        .ok()
        .and_then(|c| c.parse().ok())
        .expect("count");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (addr, _keep) = rt.block_on(async {
        match kind {
            "bare" => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                let app =
                    axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
                tokio::spawn(async move { axum::serve(listener, app).await });
                (addr, None)
            }
            _ => {
                let running = Api::start(Setup {
                    redis: Some(RedisConfig::url(redis)),
                    ..Setup::default()
                })
                .await
                .listen()
                .await;
                let addr: SocketAddr = running
                    .base
                    .trim_start_matches("http://")
                    .parse()
                    .expect("addr");
                (addr, Some(running))
            }
        }
    });
    // Warm up: the first requests allocate what every later one reuses.
    drop(open(addr, 20));
    let before = rss_bytes();
    let connections = open(addr, count);
    let after = rss_bytes();
    println!(
        "bytes_per_connection={}",
        after.saturating_sub(before) as f64 / count as f64
    );
    drop(connections);
}

/// `n` connections, each having had one request answered and kept alive.
fn open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut socket = TcpStream::connect(addr).expect("connect");
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
                .expect("send");
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            // The answer is small: its end is the end of the body after the blank line.
            while !answered(&seen) {
                let n = socket.read(&mut buf).expect("read");
                assert!(n > 0, "the server closed the connection");
                seen.extend_from_slice(&buf[..n]);
            }
            socket
        })
        .collect()
}

/// A whole response: head, and a body as long as its `content-length`.
fn answered(seen: &[u8]) -> bool {
    let text = String::from_utf8_lossy(seen);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}

/// This process's resident memory.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}
