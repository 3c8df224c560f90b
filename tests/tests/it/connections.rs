//! Hostile clients against a host listening on a real socket (issue 12, items 3 and 4):
//! connections that send nothing, half a request line, unfinished headers, nothing after a
//! response, or a body that never arrives are closed (the body with a 408) within the
//! configured timeouts; connections over `max_connections` get a 503 while the others are
//! served; and a live stream ends when its token expires or its member is removed.

use std::time::Duration;

use chowk_host::auth::Role;
use chowk_host::config::ServerConfig;
use chowk_host::store::RedisConfig;
use chowk_tests::api::{Running, Setup};
use chowk_tests::servers::RedisServer;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the host to act (far above the configured timeouts).
const DEADLINE: Duration = Duration::from_secs(10);

async fn host(redis: &RedisServer, server: ServerConfig) -> Running {
    chowk_tests::api::Api::start(Setup {
        redis: Some(RedisConfig::url(redis.url())),
        server: Some(server),
        leeway_s: Some(0),
        ..Setup::default()
    })
    .await
    .listen()
    .await
}

async fn connect(host: &Running) -> TcpStream {
    let addr = host.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Everything the host sends until it closes the connection; panics if it keeps it open past
/// the deadline.
async fn until_closed(socket: &mut TcpStream, what: &str) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(DEADLINE, socket.read(&mut buf)).await {
            Err(_) => panic!("{what}: still open after {DEADLINE:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_send_too_little_are_closed() {
    let redis = RedisServer::primary();
    let host = host(
        &redis,
        ServerConfig {
            header_timeout_ms: 300,
            body_timeout_ms: 300,
            ..ServerConfig::default()
        },
    )
    .await;
    let token = host.token("asha", Role::Member);
    let partial = [
        ("no bytes", String::new()),
        ("half a request line", "GET /heal".to_owned()),
        (
            "unfinished headers",
            "GET /healthz HTTP/1.1\r\nHost: chowk\r\n".to_owned(),
        ),
    ];
    for (what, bytes) in partial {
        let mut socket = connect(&host).await;
        socket.write_all(bytes.as_bytes()).await.expect("send");
        let answer = until_closed(&mut socket, what).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{what}: {answer}"
        );
    }

    // Idle after a complete exchange (keep-alive).
    let mut socket = connect(&host).await;
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: chowk\r\n\r\n")
        .await
        .expect("send");
    let answer = until_closed(&mut socket, "idle keep-alive").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A body announced and never sent.
    let mut socket = connect(&host).await;
    let head = format!(
        "POST /v1/rooms/lobby/messages HTTP/1.1\r\nHost: chowk\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"text\": "
    );
    socket.write_all(head.as_bytes()).await.expect("send");
    let answer = until_closed(&mut socket, "a body that never arrives").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    assert!(answer.contains("body_timeout_ms"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_get_503_and_the_rest_are_served() {
    let redis = RedisServer::primary();
    let limit = 8;
    let host = host(
        &redis,
        ServerConfig {
            max_connections: limit,
            header_timeout_ms: 60_000,
            ..ServerConfig::default()
        },
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..limit {
        idle.push(connect(&host).await);
    }
    // Accepted in order: the next one is over the limit.
    let mut over = connect(&host).await;
    let answer = until_closed(&mut over, "a connection over the limit").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");
    assert!(answer.contains("\"unavailable\""), "{answer}");

    // The connections within the limit are served.
    let mut first = idle.pop().expect("a connection");
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: chowk\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let answer = until_closed(&mut first, "a served connection").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Its slot is free again once the host has seen it close.
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let answer = http.get(host.url("/healthz")).send().await;
        if answer.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a freed slot serves a new connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A live stream's events until the host ends it: (event, data) pairs. `on_event` sees each
/// event's name as it arrives.
async fn events_until_end(
    host: &Running,
    room: &str,
    token: &str,
    mut on_event: impl FnMut(&str),
) -> Vec<(String, Value)> {
    let response = reqwest::Client::new()
        .get(host.url(&format!("/v1/rooms/{room}/events")))
        .bearer_auth(token)
        .send()
        .await
        .expect("stream opens");
    assert_eq!(response.status(), 200);
    on_event("open");
    let mut stream = response.bytes_stream();
    let (mut text, mut events) = (String::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while let Some(chunk) = tokio::time::timeout_at(deadline, stream.next())
        .await
        .unwrap_or_else(|_| panic!("the stream ended within {DEADLINE:?}; got {events:?}"))
    {
        text.push_str(std::str::from_utf8(&chunk.expect("chunk")).expect("utf-8"));
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            let event = frame.lines().find_map(|l| l.strip_prefix("event: "));
            let data = frame.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(event), Some(data)) = (event, data) {
                on_event(event);
                events.push((
                    event.to_owned(),
                    serde_json::from_str(data).expect("JSON data"),
                ));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_ends_when_its_token_expires() {
    let redis = RedisServer::primary();
    let host = host(&redis, ServerConfig::default()).await;
    let admin = host.token("root", Role::Admin);
    let http = reqwest::Client::new();
    let r = http
        .post(host.url("/v1/rooms"))
        .bearer_auth(&admin)
        .json(&json!({"id": "lobby", "name": "Lobby"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let short = host.token_for("asha", Role::Member, Duration::from_secs(2));
    let events = events_until_end(&host, "lobby", &short, |_| {}).await;
    let (event, data) = events.last().expect("an event");
    assert_eq!(event, "error", "{events:?}");
    assert_eq!(data["error"]["code"], "token_expired", "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_ends_when_its_member_is_removed() {
    let redis = RedisServer::primary();
    let host = host(
        &redis,
        ServerConfig {
            stream_access_check_ms: 200,
            ..ServerConfig::default()
        },
    )
    .await;
    let admin = host.token("root", Role::Admin);
    let ravi = host.token("ravi", Role::Member);
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = http.request(method, host.url(path)).bearer_auth(&admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let r = send(
        reqwest::Method::POST,
        "/v1/rooms",
        Some(json!({"id": "traders", "name": "Traders", "visibility": "members"})),
    )
    .await
    .expect("create");
    assert_eq!(r.status(), 201);
    let r = send(reqwest::Method::PUT, "/v1/rooms/traders/members/ravi", None)
        .await
        .expect("add");
    assert_eq!(r.status(), 204);

    // While ravi's stream is open: a message he sees, then his removal.
    let (opened, mut opened_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let moderator = async {
        assert_eq!(opened_rx.recv().await.as_deref(), Some("open"));
        let r = http
            .post(host.url("/v1/rooms/traders/messages"))
            .bearer_auth(&ravi)
            .json(&json!({"text": "Onion 30 rupees a kilo today"}))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 201);
        assert_eq!(opened_rx.recv().await.as_deref(), Some("message"));
        let r = send(
            reqwest::Method::DELETE,
            "/v1/rooms/traders/members/ravi",
            None,
        )
        .await
        .expect("remove");
        assert_eq!(r.status(), 204);
    };
    let stream = events_until_end(&host, "traders", &ravi, |event| {
        let _ = opened.send(event.to_owned());
    });
    let ((), events) = tokio::join!(moderator, stream);
    let (event, data) = events.last().expect("an event");
    assert_eq!(event, "error", "{events:?}");
    assert_eq!(data["error"]["code"], "forbidden", "{events:?}");
}
