//! End to end over real sockets: hosts serving on free ports, on a real Redis and a real
//! nats-server started by the harness, driven with an HTTP client. Posting, history, receipt on
//! NATS and on server-sent events (also across two hosts), moderation, profiles and their NATS
//! announcements, auth failures, bad input, compression and readiness.

use std::time::Duration;

use chowk_host::auth::Role;
use chowk_host::bus::NatsConfig;
use chowk_host::store::RedisConfig;
use chowk_tests::api::{Api, Running, Setup, FLAGGED_TEXT};
use chowk_tests::servers::{NatsServer, RedisServer};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(10);

async fn host(redis: &RedisServer, nats: &NatsServer) -> Running {
    Api::start(Setup {
        redis: Some(RedisConfig::url(redis.url())),
        nats: Some(NatsConfig::url(nats.url())),
        ..Setup::default()
    })
    .await
    .listen()
    .await
}

struct Client {
    http: reqwest::Client,
    host: String,
}

impl Client {
    fn new(host: &Running) -> Self {
        Client {
            http: reqwest::Client::new(),
            host: host.base.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.host)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("host answers");
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    async fn post(&self, room: &str, token: &str, text: &str) -> Value {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                &format!("/v1/rooms/{room}/messages"),
                Some(token),
                Some(json!({"text": text})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Create the open room `lobby` as `admin`.
    async fn create_lobby(&self, admin: &str) {
        let (status, _) = self
            .send(
                reqwest::Method::POST,
                "/v1/rooms",
                Some(admin),
                Some(json!({"id": "lobby", "name": "Lobby"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }

    /// Open the room's event stream.
    async fn events(&self, room: &str, token: &str) -> Sse {
        let response = self
            .http
            .get(self.url(&format!("/v1/rooms/{room}/events")))
            .bearer_auth(token)
            .send()
            .await
            .expect("stream opens");
        assert_eq!(response.status(), StatusCode::OK);
        Sse {
            stream: Box::pin(response.bytes_stream()),
            text: String::new(),
        }
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

struct Sse {
    stream: ByteStream,
    text: String,
}

impl Sse {
    /// The ids of the next `n` messages.
    async fn ids(&mut self, n: usize) -> Vec<Value> {
        self.next(n)
            .await
            .into_iter()
            .map(|m| m["id"].clone())
            .collect()
    }

    /// The data of the next `n` `message` events.
    async fn next(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let frame: String = self.text.drain(..end + 2).collect();
                if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                    out.push(serde_json::from_str(data).expect("event data is JSON"));
                }
            }
            if out.len() >= n {
                return out;
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("{} of {n} events arrived", out.len()))
                .expect("stream open")
                .expect("chunk");
            self.text
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }
}

async fn next_nats(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(DEADLINE, sub.next())
        .await
        .expect("a NATS message within the deadline")
        .expect("subscription open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_over_http_redis_and_nats() {
    let redis = RedisServer::primary();
    let nats = NatsServer::start();
    let host = host(&redis, &nats).await;
    let c = Client::new(&host);
    let admin = host.token("root", Role::Admin);
    let asha = host.token("asha", Role::Member);
    let reader = host.token("reader", Role::Member);
    let moderator = host.token("mod", Role::Moderator);

    let watcher = async_nats::connect(nats.url()).await.expect("watcher");
    let mut messages = watcher
        .subscribe("chowk.room.lobby.messages")
        .await
        .expect("subscribe");
    let mut profiles = watcher
        .subscribe("chowk.profile.*")
        .await
        .expect("subscribe");
    watcher.flush().await.expect("flush");

    let (status, room) = c
        .send(
            reqwest::Method::POST,
            "/v1/rooms",
            Some(&admin),
            Some(json!({"id": "lobby", "name": "Lobby"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let mut sse = c.events("lobby", &reader).await;

    let mut posted = Vec::new();
    for i in 0..3 {
        posted.push(c.post("lobby", &asha, &format!("rate list {i}")).await["id"].clone());
    }
    let flagged = c.post("lobby", &asha, FLAGGED_TEXT).await;
    let removed = c
        .post("lobby", &asha, &format!("{FLAGGED_TEXT} today"))
        .await;
    assert_eq!(flagged["action"], "flag");

    // History: newest first, flagged ones hidden from other readers.
    let (_, page) = c.get("/v1/rooms/lobby/messages", Some(&reader)).await;
    let ids: Vec<Value> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, posted.iter().rev().cloned().collect::<Vec<_>>());

    // NATS and SSE receive exactly the visible messages, in order.
    for id in &posted {
        let m = next_nats(&mut messages).await;
        let body: Value = serde_json::from_slice(&m.payload).expect("json");
        assert_eq!(&body["id"], id);
        let header = m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
        assert_eq!(header.map(|v| v.as_str()), id.as_str());
    }
    let streamed = sse.ids(3).await;
    assert_eq!(streamed, posted);

    // Moderation: approve one (relayed, streamed), remove the other.
    let (_, queue) = c.get("/v1/rooms/lobby/moderation", Some(&moderator)).await;
    assert_eq!(
        queue["messages"].as_array().map(Vec::len),
        Some(2),
        "{queue}"
    );
    for (message, decision) in [(&flagged, "approve"), (&removed, "remove")] {
        let (status, body) = c
            .send(
                reqwest::Method::POST,
                &format!(
                    "/v1/rooms/lobby/moderation/{}",
                    message["id"].as_str().expect("id")
                ),
                Some(&moderator),
                Some(json!({"decision": decision})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let approved = next_nats(&mut messages).await;
    let body: Value = serde_json::from_slice(&approved.payload).expect("json");
    assert_eq!(body["id"], flagged["id"]);
    assert_eq!(sse.next(1).await[0]["id"], flagged["id"]);
    let (_, page) = c
        .get("/v1/rooms/lobby/messages?limit=10", Some(&reader))
        .await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(4), "{page}");

    // Profiles: round trip, announced on NATS.
    let (status, _) = c
        .send(
            reqwest::Method::PUT,
            "/v1/profiles/asha",
            Some(&asha),
            Some(
                json!({"display_name": "Asha", "business_name": "Asha Handlooms", "city": "Surat"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, profile) = c.get("/v1/profiles/asha", Some(&reader)).await;
    assert_eq!(profile["business_name"], "Asha Handlooms");
    let announced = next_nats(&mut profiles).await;
    assert_eq!(announced.subject.as_str(), "chowk.profile.asha");
    let body: Value = serde_json::from_slice(&announced.payload).expect("json");
    assert_eq!(body["city"], "Surat");

    // Readiness follows NATS.
    let (status, ready) = c.get("/readyz", None).await;
    assert_eq!(
        (status, &ready["nats"]),
        (StatusCode::OK, &json!("ok")),
        "{ready}"
    );
    drop(sse);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_and_bad_input_over_the_wire() {
    let redis = RedisServer::primary();
    let nats = NatsServer::start();
    let host = host(&redis, &nats).await;
    let c = Client::new(&host);
    let admin = host.token("root", Role::Admin);
    let asha = host.token("asha", Role::Member);
    for (id, visibility) in [("lobby", "open"), ("gold", "members")] {
        let (status, _) = c
            .send(
                reqwest::Method::POST,
                "/v1/rooms",
                Some(&admin),
                Some(json!({"id": id, "name": id, "visibility": visibility})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let forged = chowk_host::auth::Authority::new(b"not-the-servers-secret-0123456789ab", 0)
        .expect("authority")
        .mint("root", Role::Admin, Duration::from_secs(60))
        .expect("mint");
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        reqwest::Method,
        &'a str,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "no token",
            None,
            reqwest::Method::GET,
            "/v1/rooms",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "forged",
            Some(&forged),
            reqwest::Method::GET,
            "/v1/rooms",
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            "wrong role",
            Some(&asha),
            reqwest::Method::GET,
            "/v1/admin/plugins",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "non-member",
            Some(&asha),
            reqwest::Method::GET,
            "/v1/rooms/gold/messages",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "unknown room",
            Some(&asha),
            reqwest::Method::GET,
            "/v1/rooms/nowhere/messages",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "bad room id",
            Some(&asha),
            reqwest::Method::GET,
            "/v1/rooms/NOT%20OK/messages",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (what, token, method, path, status, code) in cases {
        let (got, body) = c.send(method, path, token, None).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}: {body}"
        );
    }
    let expired = {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({"sub": "asha", "role": "member", "iat": now - 7200, "exp": now - 3600}),
            &jsonwebtoken::EncodingKey::from_secret(chowk_tests::api::SECRET.as_bytes()),
        )
        .expect("sign")
    };
    let (status, body) = c.get("/v1/rooms", Some(&expired)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_expired"))
    );

    let raw = |body: Vec<u8>, content_type: &str| {
        c.http
            .post(c.url("/v1/rooms/lobby/messages"))
            .bearer_auth(&asha)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let json_ct = "application/json";
    let bad: Vec<(&str, reqwest::Response, StatusCode, &str)> = vec![
        (
            "malformed",
            raw(b"{\"text\":".to_vec(), json_ct).await.expect("send"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "invalid utf-8",
            raw(b"{\"text\": \"\xc3\x28\"}".to_vec(), json_ct)
                .await
                .expect("send"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "wrong content type",
            raw(b"{\"text\": \"hi\"}".to_vec(), "text/plain")
                .await
                .expect("send"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "unknown field",
            raw(br#"{"text": "hi", "sender": "root"}"#.to_vec(), json_ct)
                .await
                .expect("send"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oversized body",
            raw(
                json!({"text": "a".repeat(40_000)}).to_string().into_bytes(),
                json_ct,
            )
            .await
            .expect("send"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "text too long",
            raw(
                json!({"text": "a".repeat(4_001)}).to_string().into_bytes(),
                json_ct,
            )
            .await
            .expect("send"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (what, response, status, code) in bad {
        assert_eq!(response.status(), status, "{what}");
        let body: Value = response.json().await.expect("JSON error body");
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
    }
    let response = c
        .http
        .get(c.url("/v1/rooms"))
        .bearer_auth(&asha)
        .header("x-filler", "f".repeat(16 * 1024))
        .send()
        .await
        .expect("send");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );

    // Compressed when asked (the clients are on 2G/3G).
    let response = c
        .http
        .get(c.url("/v1/rooms"))
        .bearer_auth(&asha)
        .header("accept-encoding", "br")
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["content-encoding"], "br");

    let (_, page) = c.get("/v1/rooms/lobby/messages", Some(&asha)).await;
    assert_eq!(page["messages"], json!([]), "bad input stored nothing");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_on_one_host_streams_from_another() {
    let redis = RedisServer::primary();
    let nats = NatsServer::start();
    let a = host(&redis, &nats).await;
    let b = host(&redis, &nats).await;
    let (ca, cb) = (Client::new(&a), Client::new(&b));
    let admin = a.token("root", Role::Admin);
    let asha = a.token("asha", Role::Member);
    ca.create_lobby(&admin).await;
    let mut on_b = cb.events("lobby", &asha).await;
    // The live feed of B subscribes to NATS at start; wait until B's stream is attached.
    let mut sent = Vec::new();
    for i in 0..3 {
        sent.push(ca.post("lobby", &asha, &format!("from host a, {i}")).await["id"].clone());
    }
    let got = on_b.ids(3).await;
    assert_eq!(got, sent);
    // The same messages read from B's history.
    let (_, page) = cb.get("/v1/rooms/lobby/messages", Some(&asha)).await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(3));
    drop(on_b);
    a.shutdown().await;
    b.shutdown().await;
}

/// Issue 12, item 5: the bus is a trust boundary. Publications on a room's `.messages` subject
/// that no host relayed (unsigned, signed with another key, or for another room) never reach
/// live streams, even one with a far-future id that would otherwise silence the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_publications_never_reach_live_streams() {
    let redis = RedisServer::primary();
    let nats = NatsServer::start();
    let a = host(&redis, &nats).await;
    let ca = Client::new(&a);
    let admin = a.token("root", Role::Admin);
    let asha = a.token("asha", Role::Member);
    ca.create_lobby(&admin).await;
    let mut stream = ca.events("lobby", &asha).await;

    let forger = async_nats::connect(nats.url()).await.expect("connect");
    let subject = "chowk.room.lobby.messages";
    let forged = |id: &str, room: &str| {
        json!({"id": id, "room": room, "sender": "bank-official", "text": "KYC expired, click here",
               "time": 4102444800000u64, "action": "allow", "score": 0.0, "reasons": [],
               "generation": 1, "pending": false})
        .to_string()
    };
    let far = "4102444800000-0";
    let wrong_key =
        chowk_host::bus::signature::RelayKey::derive(b"not the fleet's secret, 32 bytes");
    let mut attempts = Vec::new();
    // Unsigned.
    attempts.push((async_nats::HeaderMap::new(), forged(far, "lobby")));
    // Signed with another key.
    let payload = forged(far, "lobby");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", far);
    headers.insert(
        "Chowk-Signature",
        wrong_key
            .sign(subject, far, None, payload.as_bytes())
            .as_str(),
    );
    attempts.push((headers, payload));
    for (headers, payload) in attempts {
        forger
            .publish_with_headers(subject, headers, payload.into())
            .await
            .expect("publish");
    }
    forger.flush().await.expect("flush");

    // A genuine message after them is the first the stream shows.
    let genuine = ca
        .post("lobby", &asha, "Fresh tomatoes, 20 rupees a kilo")
        .await;
    let first = stream.next(1).await;
    assert_eq!(first[0]["id"], genuine["id"], "{first:?}");
    assert_eq!(first[0]["text"], "Fresh tomatoes, 20 rupees a kilo");
    drop(stream);
    a.shutdown().await;
}

/// Issue 11, item 5: no HTTP request waits on NATS. With nats-server frozen (SIGSTOP: the
/// connection stays open, nothing is read, the client's buffers fill), posts that are stored,
/// posts that are rejected (their moderation report) and profile updates (their announcement)
/// all answer; after the bus thaws, the relay delivers every stored message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_bus_never_holds_an_http_request() {
    let redis = RedisServer::primary();
    let mut nats = NatsServer::start();
    let api = Api::start(Setup {
        redis: Some(RedisConfig::url(redis.url())),
        nats: Some(NatsConfig::url(nats.url())),
        ..Setup::default()
    })
    .await;
    chowk_tests::api::create_room(&api, "lobby", "open").await;
    let listener = async_nats::connect(nats.url()).await.expect("subscriber");
    let mut sub = listener
        .subscribe("chowk.room.lobby.messages")
        .await
        .expect("subscribe");
    listener.flush().await.expect("flush");

    nats.pause();
    let padding = "x".repeat(2_000);
    let mut stored = std::collections::HashSet::new();
    for i in 0..200 {
        let sender = format!("s{i}");
        let token = api.token(&sender, Role::Member);
        let text = if i % 10 == 9 {
            "this is blocked".to_owned()
        } else {
            format!("message {i} {padding}")
        };
        let post = api.call(
            axum::http::Method::POST,
            "/v1/rooms/lobby/messages",
            Some(&token),
            Some(json!({ "text": text })),
        );
        let r = tokio::time::timeout(DEADLINE, post)
            .await
            .unwrap_or_else(|_| panic!("post {i} waited on the frozen bus"));
        if i % 10 == 9 {
            assert_eq!(r.status.as_u16(), 422, "{r:?}");
        } else {
            assert_eq!(r.status.as_u16(), 201, "{r:?}");
            stored.insert(r.json["id"].as_str().expect("id").to_owned());
        }
        if i % 20 == 0 {
            let path = format!("/v1/profiles/{sender}");
            let patch = api.call(
                axum::http::Method::PATCH,
                &path,
                Some(&token),
                Some(json!({ "display_name": format!("Trader {i}") })),
            );
            let r = tokio::time::timeout(DEADLINE, patch)
                .await
                .unwrap_or_else(|_| panic!("profile update {i} waited on the frozen bus"));
            assert_eq!(r.status.as_u16(), 200, "{r:?}");
        }
    }

    nats.resume();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = std::collections::HashSet::new();
    while !stored.is_subset(&seen) {
        let next = tokio::time::timeout_at(deadline, sub.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "after the thaw, {} of {} stored messages reached subscribers",
                    stored.intersection(&seen).count(),
                    stored.len()
                )
            })
            .expect("subscription open");
        let body: Value = serde_json::from_slice(&next.payload).expect("json");
        seen.insert(body["id"].as_str().expect("id").to_owned());
    }
}
