//! Route tests in-process (`Router::oneshot`) on the embedded store: every endpoint, its auth
//! rules and its error paths, bad input of every kind (each a 4xx with a stable code), the
//! OpenAPI document against the routes, live events with `Last-Event-ID`, and a property test
//! that no request body or room id makes the API answer 5xx.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chowk_host::auth::Role;
use chowk_tests::api::{create_room, Api, Reply, Setup, FLAGGED_TEXT, SECRET};
use futures::StreamExt;
use serde_json::{json, Value};

/// Assert an error reply: status and stable code (the reply is printed on failure).
#[track_caller]
fn expect_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{r:?}");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "no message: {r:?}"
    );
}

/// The error message of a reply.
fn message(r: &Reply) -> &str {
    r.json["error"]["message"].as_str().unwrap_or("")
}

async fn api() -> Api {
    Api::start(Setup::default()).await
}

async fn post(api: &Api, room: &str, token: &str, body: Value) -> Reply {
    api.call(
        Method::POST,
        &format!("/v1/rooms/{room}/messages"),
        Some(token),
        Some(body),
    )
    .await
}

async fn history(api: &Api, room: &str, token: &str) -> Vec<Value> {
    let r = api
        .call(
            Method::GET,
            &format!("/v1/rooms/{room}/messages"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.json["messages"].as_array().expect("messages").clone()
}

fn raw(method: Method, path: &str, token: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
}

#[tokio::test]
async fn rooms_are_created_by_admins_and_listed() {
    let api = api().await;
    let admin = api.token("root", Role::Admin);
    let member = api.token("asha", Role::Member);
    let body =
        json!({"id": "surat-textiles", "name": "Surat Textiles", "description": "Wholesale"});
    let r = api
        .call(Method::POST, "/v1/rooms", Some(&member), Some(body.clone()))
        .await;
    expect_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = api
        .call(Method::POST, "/v1/rooms", Some(&admin), Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.json["visibility"], "open");
    let r = api
        .call(Method::POST, "/v1/rooms", Some(&admin), Some(body.clone()))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the same request again is a retry: {r:?}"
    );
    assert_eq!(r.json["name"], "Surat Textiles");
    let mut other = body;
    other["name"] = json!("Someone else's room");
    let r = api
        .call(Method::POST, "/v1/rooms", Some(&admin), Some(other))
        .await;
    expect_error(&r, StatusCode::CONFLICT, "conflict");
    for bad in [
        json!({"id": "Bad Id", "name": "x"}),
        json!({"id": "ok", "name": ""}),
        json!({"id": "ok", "name": "x", "visibility": "secret"}),
        json!({"id": "ok", "name": "x", "owner": "me"}),
        json!({"name": "x"}),
    ] {
        let r = api
            .call(Method::POST, "/v1/rooms", Some(&admin), Some(bad.clone()))
            .await;
        expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
    let r = api
        .call(Method::GET, "/v1/rooms", Some(&member), None)
        .await;
    assert_eq!(r.json["rooms"][0]["id"], "surat-textiles", "{r:?}");
    let r = api
        .call(Method::GET, "/v1/rooms/surat-textiles", Some(&member), None)
        .await;
    assert_eq!(r.json["name"], "Surat Textiles");
    let r = api
        .call(Method::GET, "/v1/rooms/nowhere", Some(&member), None)
        .await;
    expect_error(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn tokens_are_checked() {
    let api = api().await;
    let r = api.call(Method::GET, "/v1/rooms", None, None).await;
    expect_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(r.headers.contains_key("www-authenticate"));

    let forged = chowk_host::auth::Authority::new(b"someone-elses-secret-0123456789abcdef", 0)
        .expect("authority")
        .mint("root", Role::Admin, Duration::from_secs(60))
        .expect("mint");
    let r = api
        .call(Method::GET, "/v1/rooms", Some(&forged), None)
        .await;
    expect_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");

    let r = api
        .call(Method::GET, "/v1/rooms", Some("not.a.jwt"), None)
        .await;
    expect_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");

    // Expired an hour ago, beyond any leeway.
    let expired = expired_token();
    let r = api
        .call(Method::GET, "/v1/rooms", Some(&expired), None)
        .await;
    expect_error(&r, StatusCode::UNAUTHORIZED, "token_expired");

    let r = api
        .send(
            Request::get("/v1/rooms")
                .header("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    expect_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
}

fn expired_token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "asha", "role": "member", "iat": now - 7200, "exp": now - 3600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

#[tokio::test]
async fn posting_returns_the_stored_message_and_retries_are_idempotent() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    let asha = api.token("asha", Role::Member);
    let r = post(
        &api,
        "lobby",
        &asha,
        json!({"text": "Namaste, fresh cotton stock today", "client_id": "c-1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    for field in [
        "id",
        "room",
        "sender",
        "text",
        "time",
        "action",
        "score",
        "reasons",
        "generation",
    ] {
        assert!(r.json.get(field).is_some(), "{field} missing in {r:?}");
    }
    assert_eq!(
        r.json["sender"], "asha",
        "the sender is the token's subject"
    );
    assert_eq!(r.json["generation"], 1);
    let again = post(
        &api,
        "lobby",
        &asha,
        json!({"text": "Namaste, fresh cotton stock today", "client_id": "c-1"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json["id"], r.json["id"]);
    assert_eq!(history(&api, "lobby", &asha).await.len(), 1);

    // Bodies cannot choose the sender.
    let r = post(
        &api,
        "lobby",
        &asha,
        json!({"text": "hi", "sender": "ravi"}),
    )
    .await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(message(&r).contains("sender"), "{r:?}");
}

#[tokio::test]
async fn rejections_rate_limits_and_unknown_rooms_have_their_own_codes() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    create_room(&api, "limited", "open").await;
    let asha = api.token("asha", Role::Member);

    let r = post(
        &api,
        "lobby",
        &asha,
        json!({"text": "this word is blocked"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.code(), "rejected");
    assert_eq!(r.json["error"]["plugin"], "keyword-filter");
    assert!(r.json["error"]["rule"].is_string());
    assert_eq!(r.json["error"]["message"], "That word is not allowed here.");

    for i in 0..2 {
        let r = post(
            &api,
            "limited",
            &asha,
            json!({"text": format!("offer {i}")}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    let r = post(&api, "limited", &asha, json!({"text": "offer 3"})).await;
    expect_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry: u64 = r.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    // A sliding window: with 2 of 2 used, the next one fits once the count has decayed,
    // up to 1.5 windows later.
    assert!((1..=90).contains(&retry), "Retry-After {retry}");

    let r = post(&api, "nowhere", &asha, json!({"text": "hello"})).await;
    expect_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = post(&api, "Not_A_Room!", &asha, json!({"text": "hello"})).await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let api = Api::start(Setup {
        limits: Some(chowk_host::config::LimitsConfig {
            text_chars: 100,
            ..Default::default()
        }),
        ..Setup::default()
    })
    .await;
    create_room(&api, "lobby", "open").await;
    let asha = api.token("asha", Role::Member);
    let path = "/v1/rooms/lobby/messages";
    let send = |body: Body, content_type: Option<&str>| {
        let mut r = raw(Method::POST, path, &asha);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        api.send(r.body(body).expect("request"))
    };
    let json_ct = Some("application/json");
    let cases: Vec<(&str, Reply, StatusCode, &str)> = vec![
        (
            "malformed",
            send(Body::from("{\"text\": "), json_ct).await,
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "not an object",
            send(Body::from("[1,2]"), json_ct).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "invalid utf-8",
            send(Body::from(b"{\"text\": \"\xff\xfe\"}".to_vec()), json_ct).await,
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "no content type",
            send(Body::from("{\"text\": \"hi\"}"), None).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "wrong content type",
            send(
                Body::from("text=hi"),
                Some("application/x-www-form-urlencoded"),
            )
            .await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "unknown field",
            send(Body::from("{\"text\": \"hi\", \"x\": 1}"), json_ct).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "missing text",
            send(Body::from("{}"), json_ct).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "empty text",
            send(Body::from("{\"text\": \"  \"}"), json_ct).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "text too long",
            send(
                Body::from(json!({"text": "a".repeat(101)}).to_string()),
                json_ct,
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "body too large",
            send(
                Body::from(json!({"text": "a".repeat(20_000)}).to_string()),
                json_ct,
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "bad client id",
            send(
                Body::from(json!({"text": "hi", "client_id": ""}).to_string()),
                json_ct,
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (what, reply, status, code) in cases {
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{what}: {reply:?}"
        );
        assert!(
            reply.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: no message"
        );
    }
    let r = api
        .send(
            raw(Method::GET, "/v1/rooms", &asha)
                .header("x-padding", "p".repeat(10_000))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large"
        )
    );
    for query in [
        "limit=0",
        "limit=201",
        "limit=x",
        "before=yesterday",
        "colour=red",
    ] {
        let r = api
            .call(Method::GET, &format!("{path}?{query}"), Some(&asha), None)
            .await;
        expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert!(
        history(&api, "lobby", &asha).await.is_empty(),
        "nothing was stored"
    );

    let r = api.call(Method::GET, "/v1/nothing-here", None, None).await;
    expect_error(&r, StatusCode::NOT_FOUND, "no_route");
    let r = api
        .call(Method::DELETE, "/v1/rooms", Some(&asha), None)
        .await;
    expect_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn history_pages_newest_first() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    let asha = api.token("asha", Role::Member);
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = post(
            &api,
            "lobby",
            &asha,
            json!({"text": format!("message {i}")}),
        )
        .await;
        ids.push(r.json["id"].as_str().expect("id").to_owned());
    }
    let r = api
        .call(
            Method::GET,
            "/v1/rooms/lobby/messages?limit=2",
            Some(&asha),
            None,
        )
        .await;
    let page: Vec<&str> = r.json["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(page, [ids[4].as_str(), ids[3].as_str()]);
    let next = r.json["next_before"].as_str().expect("next page");
    let r = api
        .call(
            Method::GET,
            &format!("/v1/rooms/lobby/messages?limit=10&before={next}"),
            Some(&asha),
            None,
        )
        .await;
    assert_eq!(r.json["messages"].as_array().expect("messages").len(), 3);
    assert!(r.json["next_before"].is_null(), "{r:?}");
}

#[tokio::test]
async fn members_only_rooms_admit_members() {
    let api = api().await;
    create_room(&api, "gold", "members").await;
    let admin = api.token("root", Role::Admin);
    let asha = api.token("asha", Role::Member);
    let ravi = api.token("ravi", Role::Member);
    let r = post(&api, "gold", &asha, json!({"text": "hello"})).await;
    expect_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = api
        .call(Method::GET, "/v1/rooms/gold/messages", Some(&asha), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(Method::GET, "/v1/rooms/gold/events", Some(&asha), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Members cannot add members; admins and room moderators can.
    let r = api
        .call(
            Method::PUT,
            "/v1/rooms/gold/members/asha",
            Some(&ravi),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(
            Method::PUT,
            "/v1/rooms/gold/moderators/ravi",
            Some(&ravi),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "only admins appoint moderators"
    );
    let r = api
        .call(
            Method::PUT,
            "/v1/rooms/gold/moderators/ravi",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = api
        .call(
            Method::PUT,
            "/v1/rooms/gold/members/asha",
            Some(&ravi),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = post(&api, "gold", &asha, json!({"text": "hello members"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(history(&api, "gold", &asha).await.len(), 1);

    let r = api
        .call(
            Method::DELETE,
            "/v1/rooms/gold/members/asha",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = post(&api, "gold", &asha, json!({"text": "still here?"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(
            Method::DELETE,
            "/v1/rooms/gold/moderators/ravi",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api
        .call(
            Method::PUT,
            "/v1/rooms/nowhere/members/asha",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn decide(api: &Api, message: &Reply, decision: &str, token: &str) -> Reply {
    let id = message.json["id"].as_str().expect("id");
    api.call(
        Method::POST,
        &format!("/v1/rooms/lobby/moderation/{id}"),
        Some(token),
        Some(json!({"decision": decision})),
    )
    .await
}

/// A plugin's detail may quote what it saw anywhere (another room's messages, its state): it
/// reaches moderators only. Everyone else sees which rules counted.
#[tokio::test]
async fn plugin_details_reach_only_moderators() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    let sender = api.token("sender", Role::Member);
    let reader = api.token("reader", Role::Member);
    let moderator = api.token("mod", Role::Moderator);
    let posted = post(&api, "lobby", &sender, json!({"text": FLAGGED_TEXT})).await;
    assert_eq!(posted.status, StatusCode::CREATED, "{posted:?}");
    let only_rules = |view: &Value| {
        let reasons = view["reasons"].as_array().expect("reasons");
        assert!(!reasons.is_empty(), "{view}");
        for r in reasons {
            let mut keys: Vec<&String> = r.as_object().expect("object").keys().collect();
            keys.sort();
            assert_eq!(keys, ["plugin", "rule"], "{view}");
        }
        assert!(view.get("trace").is_none(), "{view}");
    };
    only_rules(&posted.json);
    let r = decide(&api, &posted, "approve", &moderator).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let seen = history(&api, "lobby", &reader).await;
    only_rules(&seen[0]);

    let seen = history(&api, "lobby", &moderator).await;
    let details: Vec<&str> = seen[0]["trace"]["reasons"]
        .as_array()
        .expect("the moderator's view has the trace")
        .iter()
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert!(
        details.iter().any(|d| !d.is_empty()),
        "with the plugins' details: {seen:?}"
    );
}

#[tokio::test]
async fn moderators_approve_and_remove_flagged_messages() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    let spammer = api.token("spammer", Role::Member);
    let reader = api.token("reader", Role::Member);
    let moderator = api.token("mod", Role::Moderator);
    let first = post(&api, "lobby", &spammer, json!({"text": FLAGGED_TEXT})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert_eq!(first.json["action"], "flag");
    assert_eq!(first.json["pending"], true);
    let second = post(
        &api,
        "lobby",
        &spammer,
        json!({"text": format!("{FLAGGED_TEXT} now")}),
    )
    .await;
    assert_eq!(second.json["action"], "flag", "{second:?}");

    assert!(
        history(&api, "lobby", &reader).await.is_empty(),
        "hidden from others"
    );
    assert_eq!(
        history(&api, "lobby", &spammer).await.len(),
        2,
        "the sender sees their own"
    );
    assert_eq!(history(&api, "lobby", &moderator).await.len(), 2);

    let r = api
        .call(
            Method::GET,
            "/v1/rooms/lobby/moderation",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(
            Method::GET,
            "/v1/rooms/lobby/moderation",
            Some(&moderator),
            None,
        )
        .await;
    let queue = r.json["messages"].as_array().expect("queue");
    assert_eq!(queue.len(), 2, "{r:?}");
    assert!(
        queue[0]["trace"]["trace"].is_array(),
        "decision trace included: {r:?}"
    );

    let r = decide(&api, &first, "approve", &reader).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = decide(&api, &first, "maybe", &moderator).await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    let r = decide(&api, &first, "approve", &moderator).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = decide(&api, &second, "remove", &moderator).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = decide(&api, &second, "remove", &moderator).await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "a retry answers as the first: {r:?}"
    );
    let r = decide(&api, &second, "approve", &moderator).await;
    expect_error(&r, StatusCode::CONFLICT, "conflict");

    let visible = history(&api, "lobby", &reader).await;
    assert_eq!(visible.len(), 1);
    assert_eq!(visible[0]["id"], first.json["id"]);
    assert_eq!(visible[0]["pending"], false);
    assert_eq!(
        history(&api, "lobby", &spammer).await.len(),
        1,
        "removed is gone"
    );
}

#[tokio::test]
async fn profiles_round_trip_and_only_owners_write() {
    let api = api().await;
    let asha = api.token("asha", Role::Member);
    let ravi = api.token("ravi", Role::Member);
    let admin = api.token("root", Role::Admin);
    let r = api
        .call(Method::GET, "/v1/profiles/asha", Some(&ravi), None)
        .await;
    expect_error(&r, StatusCode::NOT_FOUND, "not_found");
    let profile = json!({
        "display_name": "Asha",
        "business_name": "Asha Handlooms",
        "category": "textiles",
        "city": "Surat",
        "phone": "+919800000000",
        "products": [{"name": "Cotton saree", "price_paise": 89900, "unit": "piece"}]
    });
    let r = api
        .call(
            Method::PUT,
            "/v1/profiles/asha",
            Some(&ravi),
            Some(profile.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(Method::PUT, "/v1/profiles/asha", Some(&asha), Some(profile))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = api
        .call(
            Method::PATCH,
            "/v1/profiles/asha",
            Some(&asha),
            Some(json!({"city": "Ahmedabad"})),
        )
        .await;
    assert_eq!(r.json["city"], "Ahmedabad");
    assert_eq!(
        r.json["business_name"], "Asha Handlooms",
        "PATCH keeps other fields"
    );
    let r = api
        .call(Method::GET, "/v1/profiles/asha", Some(&ravi), None)
        .await;
    assert_eq!(r.json["products"][0]["price_paise"], 89900);
    let r = api
        .call(
            Method::PUT,
            "/v1/profiles/asha",
            Some(&admin),
            Some(json!({"display_name": "Asha B"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "admins may write any profile");
    assert_eq!(r.json["city"], "", "PUT replaces the whole profile");
    let r = api
        .call(
            Method::PATCH,
            "/v1/profiles/asha",
            Some(&asha),
            Some(json!({"products": [{"name": "x", "price_paise": -1}]})),
        )
        .await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(message(&r).contains("price_paise"), "{r:?}");
}

#[tokio::test]
async fn admin_endpoints_show_the_chain_and_dry_run_it() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    let admin = api.token("root", Role::Admin);
    let member = api.token("asha", Role::Member);
    let r = api
        .call(Method::GET, "/v1/admin/plugins", Some(&member), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(
            Method::POST,
            "/v1/admin/eval",
            Some(&admin),
            Some(json!({"text": "this is blocked", "room": "lobby"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["action"], "reject");
    assert_eq!(r.json["rejection"]["plugin"], "keyword-filter");
    assert!(
        history(&api, "lobby", &member).await.is_empty(),
        "a dry run stores nothing"
    );

    let r = api
        .call(Method::GET, "/v1/admin/plugins", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["generation"], 1);
    let plugins = r.json["plugins"].as_array().expect("plugins");
    let names: Vec<&str> = plugins
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["rate-limit", "keyword-filter", "spam-rules"]);
    let filter = &plugins[1];
    assert_eq!(filter["hash"].as_str().map(str::len), Some(64), "{filter}");
    assert_eq!(filter["on_error"], "reject");
    assert_eq!(filter["breaker"]["state"], "active");
    assert_eq!(filter["calls"], 1);
    assert!(filter["latency"]["p99_us"].as_u64().is_some(), "{filter}");
}

#[tokio::test]
async fn health_readiness_metrics_and_compression() {
    let api = api().await;
    let r = api.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["nats"], "in-process");
    create_room(&api, "lobby", "open").await;
    let asha = api.token("asha", Role::Member);
    post(&api, "lobby", &asha, json!({"text": "hello"})).await;
    post(&api, "lobby", &asha, json!({"text": "blocked"})).await;
    let r = api.call(Method::GET, "/metrics", None, None).await;
    let text = r.json.as_str().expect("text");
    for needle in [
        r#"chowk_http_requests_total{method="POST",route="/v1/rooms/{room}/messages",status="201"} 1"#,
        r#"chowk_messages_total{action="reject"} 1"#,
        r#"chowk_plugin_verdicts_total{outcome="reject",plugin="keyword-filter"} 1"#,
        "chowk_relay_backlog_rooms",
        "chowk_redis_failovers_seen_total 0",
        "chowk_chain_generation 1",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    let r = api
        .send(
            Request::get("/openapi.json")
                .header("accept-encoding", "gzip")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.headers["content-encoding"], "gzip");
}

#[tokio::test]
async fn openapi_lists_every_route_and_only_real_ones() {
    let api = api().await;
    let r = api.call(Method::GET, "/openapi.json", None, None).await;
    let paths = r.json["paths"].as_object().expect("paths");
    let mut listed: Vec<String> = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                listed.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    listed.sort();
    let mut expected = vec![
        "POST /v1/rooms",
        "GET /v1/rooms",
        "GET /v1/rooms/{room}",
        "PUT /v1/rooms/{room}/members/{user}",
        "DELETE /v1/rooms/{room}/members/{user}",
        "PUT /v1/rooms/{room}/moderators/{user}",
        "DELETE /v1/rooms/{room}/moderators/{user}",
        "POST /v1/rooms/{room}/messages",
        "GET /v1/rooms/{room}/messages",
        "GET /v1/rooms/{room}/events",
        "GET /v1/rooms/{room}/moderation",
        "POST /v1/rooms/{room}/moderation/{id}",
        "GET /v1/profiles/{user}",
        "PUT /v1/profiles/{user}",
        "PATCH /v1/profiles/{user}",
        "GET /v1/admin/plugins",
        "POST /v1/admin/plugins/reload",
        "POST /v1/admin/eval",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
    ];
    expected.sort();
    assert_eq!(listed, expected);
    // Every listed operation is routed (a missing route would answer `no_route` or 405).
    for op in &listed {
        let (method, path) = op.split_once(' ').expect("op");
        let path = path
            .replace("{room}", "lobby")
            .replace("{user}", "asha")
            .replace("{id}", "1-0");
        let r = api
            .call(method.parse().expect("method"), &path, None, None)
            .await;
        assert!(
            !matches!(r.code(), "no_route" | "method_not_allowed"),
            "{op} is documented but not routed: {r:?}"
        );
    }
}

#[tokio::test]
async fn error_bodies_carry_only_what_the_openapi_document_shows() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    create_room(&api, "limited", "open").await;
    let asha = api.token("asha", Role::Member);
    let doc = api
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .json;
    let schema = &doc["components"]["schemas"]["ErrorDetail"];
    let documented: Vec<&str> = schema["properties"]
        .as_object()
        .expect("ErrorDetail has properties")
        .keys()
        .map(String::as_str)
        .collect();
    for field in [
        "code",
        "message",
        "field",
        "plugin",
        "rule",
        "retry_after_ms",
        "kept_generation",
    ] {
        assert!(
            documented.contains(&field),
            "{field} is not documented: {schema}"
        );
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].clone();
    for code in [
        "rejected",
        "rate_limited",
        "reload_failed",
        "no_route",
        "internal",
    ] {
        assert!(
            codes.as_array().is_some_and(|c| c.contains(&json!(code))),
            "{code} is not in the documented codes {codes}"
        );
    }

    let mut replies = vec![
        post(
            &api,
            "lobby",
            &asha,
            json!({"text": "this word is blocked"}),
        )
        .await,
        post(&api, "lobby", &asha, json!({"text": "  "})).await,
        post(&api, "lobby", &asha, json!({"text": "hi", "client_id": ""})).await,
        post(&api, "lobby", "not-a-token", json!({"text": "hi"})).await,
        api.call(Method::GET, "/nowhere", None, None).await,
    ];
    for i in 0..3 {
        replies.push(
            post(
                &api,
                "limited",
                &asha,
                json!({"text": format!("offer {i}")}),
            )
            .await,
        );
    }
    let limited = replies.last().expect("the third offer");
    expect_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        limited.json["error"]["retry_after_ms"].is_u64(),
        "{limited:?}"
    );
    let empty = &replies[1];
    expect_error(empty, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(empty.json["error"]["field"], "text", "{empty:?}");
    assert_eq!(
        replies[2].json["error"]["field"], "client_id",
        "{:?}",
        replies[2]
    );
    // A plain rejection says who refused it, and carries no retry hint at all (not `null`).
    expect_error(&replies[0], StatusCode::UNPROCESSABLE_ENTITY, "rejected");
    assert_eq!(replies[0].json["error"]["plugin"], "keyword-filter");
    assert!(
        replies[0].json["error"].get("retry_after_ms").is_none(),
        "{:?}",
        replies[0]
    );
    for r in replies.iter().filter(|r| r.status.is_client_error()) {
        let fields = r.json["error"].as_object().expect("an error body");
        for (key, value) in fields {
            assert!(
                documented.contains(&key.as_str()),
                "undocumented `{key}` in {r:?}"
            );
            assert!(!value.is_null(), "`{key}` is null in {r:?}");
        }
    }
}

#[tokio::test]
async fn error_texts_name_the_field_say_the_limit_and_leak_nothing() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    let asha = api.token("asha", Role::Member);

    let r = post(&api, "lobby", "abc", json!({"text": "hi"})).await;
    expect_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        message(&r),
        "invalid token: malformed token: expected a JWT (three base64url parts separated by dots)"
    );

    let r = api
        .call(
            Method::GET,
            "/v1/rooms/lobby/messages?before=xyz",
            Some(&asha),
            None,
        )
        .await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(r.json["error"]["field"], "before", "{r:?}");
    assert!(
        message(&r).starts_with("before: \"xyz\" is not a message id"),
        "{r:?}"
    );

    let r = api
        .call(
            Method::GET,
            "/v1/rooms/lobby/messages?limit=lots",
            Some(&asha),
            None,
        )
        .await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(r.json["error"]["field"], "limit", "{r:?}");
    assert!(message(&r).starts_with("limit: "), "{r:?}");
    assert!(!message(&r).contains("deserialize"), "{r:?}");

    let r = post(&api, "lobby", &asha, json!({"text": "x".repeat(20_000)})).await;
    expect_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    assert!(message(&r).contains("16384 bytes"), "{r:?}");

    // A spam rejection tells the sender which rules fired, not the score or the threshold.
    let r = post(
        &api,
        "lobby",
        &asha,
        json!({"text": "URGENT! You have WON a £2000 cash prize. Call 09061701461 now to claim, T&C 150p/msg"}),
    )
    .await;
    expect_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "rejected");
    assert_eq!(r.json["error"]["rule"], "spam_score", "{r:?}");
    assert!(
        message(&r).starts_with("this message looks like spam ("),
        "{r:?}"
    );
    assert!(
        !message(&r).contains("score") && !message(&r).contains("limit"),
        "{r:?}"
    );
    let reasons = r.json["error"]["reasons"].as_array().expect("reasons");
    assert!(
        reasons
            .iter()
            .any(|x| x["plugin"] == "spam-rules" && x["rule"].is_string()),
        "{r:?}"
    );
    let json = r.json.to_string();
    assert!(
        !json.contains("points") && !json.contains("\"score\""),
        "{r:?}"
    );
}

/// Issue 12, item 6: hidden and disguising characters, invisible-only text, arrays where an
/// object is required, `nbf`, public profile reads, and the statuses the document lists.
#[tokio::test]
async fn input_hygiene_and_documented_statuses() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    let asha = api.token("asha", Role::Member);
    let admin = api.token("root", Role::Admin);
    for (text, what) in [
        ("nul\u{0}inside", "NUL"),
        ("\u{1b}[31mred alert", "a terminal escape"),
        ("evil \u{202E}gpj.exe", "a bidi override"),
    ] {
        let r = post(&api, "lobby", &asha, json!({ "text": text })).await;
        expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(r.json["error"]["field"], "text", "{what}: {r:?}");
    }
    let r = post(
        &api,
        "lobby",
        &asha,
        json!({"text": "\u{200B}\u{200D}\u{FEFF} "}),
    )
    .await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(message(&r).contains("must not be empty"), "{r:?}");
    // Joiners inside real text (emoji sequences) are fine.
    let r = post(
        &api,
        "lobby",
        &asha,
        json!({"text": "family \u{1F468}\u{200D}\u{1F469}"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");

    let r = api
        .call(
            Method::POST,
            "/v1/rooms",
            Some(&admin),
            Some(json!({"id": "escapes", "name": "Lobby\u{1b}[2J"})),
        )
        .await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(r.json["error"]["field"], "name", "{r:?}");

    // serde would read a struct from an array of its fields; the API wants an object.
    let r = api
        .send(
            raw(Method::POST, "/v1/rooms/lobby/messages", &asha)
                .header("content-type", "application/json")
                .body(Body::from("[\"posted as an array\"]"))
                .expect("request"),
        )
        .await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(message(&r), "body: expected a JSON object");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let early = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "asha", "role": "member", "iat": now, "nbf": now + 3600, "exp": now + 7200}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign");
    let r = post(&api, "lobby", &early, json!({"text": "from the future"})).await;
    expect_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(message(&r).contains("nbf"), "{r:?}");

    // Profiles are a public shop window: read without a token.
    let r = api
        .call(
            Method::PUT,
            "/v1/profiles/asha",
            Some(&asha),
            Some(json!({"display_name": "Asha", "business_name": "Asha Sarees"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = api.call(Method::GET, "/v1/profiles/asha", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json["business_name"], "Asha Sarees");

    // Every secured operation documents 401, every JSON body 415 and 413.
    let doc = api
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .json;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let responses = &op["responses"];
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                assert!(responses.get("401").is_some(), "{method} {path}: no 401");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(
                        responses.get(status).is_some(),
                        "{method} {path}: no {status}"
                    );
                }
            }
        }
    }
    assert!(
        doc["paths"]["/v1/profiles/{user}"]["get"]["security"].is_null(),
        "profile reads are public"
    );
}

/// Server-sent events read from a response body.
struct Events {
    stream: axum::body::BodyDataStream,
    text: String,
}

impl Events {
    fn new(body: Body) -> Self {
        Events {
            stream: body.into_data_stream(),
            text: String::new(),
        }
    }

    /// The next `n` events with data, as (event id, data); fails after a deadline.
    async fn next(&mut self, n: usize) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while events.len() < n {
            while let Some(end) = self.text.find("\n\n") {
                let frame: String = self.text.drain(..end + 2).collect();
                let mut id = String::new();
                let mut data = None;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).ok();
                    }
                }
                if let Some(data) = data {
                    events.push((id, data));
                }
            }
            if events.len() >= n {
                break;
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("only {} of {n} events: {}", events.len(), self.text))
                .expect("stream open")
                .expect("chunk");
            self.text
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
        events
    }
}

#[tokio::test]
async fn live_events_resume_from_last_event_id_through_the_in_process_relay() {
    let api = api().await;
    create_room(&api, "lobby", "open").await;
    let asha = api.token("asha", Role::Member);
    let moderator = api.token("mod", Role::Moderator);
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = post(&api, "lobby", &asha, json!({"text": format!("before {i}")})).await;
        ids.push(r.json["id"].as_str().expect("id").to_owned());
    }
    // Resume after the first: the other two are replayed from the store, then live ones follow.
    let response = api
        .router
        .clone()
        .oneshot_request(
            raw(Method::GET, "/v1/rooms/lobby/events", &asha)
                .header("last-event-id", ids[0].as_str())
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = Events::new(response.into_body());
    let replayed = events.next(2).await;
    let got: Vec<&str> = replayed
        .iter()
        .map(|(_, m)| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        got,
        [ids[1].as_str(), ids[2].as_str()],
        "replayed after Last-Event-ID"
    );
    assert_eq!(replayed[1].0, ids[2], "the event id is the resume cursor");

    let flagged = post(&api, "lobby", &asha, json!({"text": FLAGGED_TEXT})).await;
    let live = post(&api, "lobby", &asha, json!({"text": "live one"})).await;
    let live_id = live.json["id"].as_str().expect("id");
    let first_live = events.next(1).await;
    assert_eq!(
        first_live[0].1["id"], live_id,
        "the flagged one is not streamed"
    );
    let r = decide(&api, &flagged, "approve", &moderator).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let approved = events.next(1).await;
    assert_eq!(
        approved[0].1["id"], flagged.json["id"],
        "approved, it is streamed"
    );
    assert_eq!(approved[0].1["pending"], false);
    assert_eq!(
        approved[0].0, live_id,
        "an approval does not move the resume cursor back"
    );

    let r = api
        .send(
            raw(Method::GET, "/v1/rooms/lobby/events", &asha)
                .header("last-event-id", "yesterday")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    expect_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
}

/// `oneshot` returning the raw response (the body of an event stream never ends).
trait OneshotRequest {
    async fn oneshot_request(self, request: Request<Body>) -> axum::response::Response;
}

impl OneshotRequest for axum::Router {
    async fn oneshot_request(self, request: Request<Body>) -> axum::response::Response {
        use tower::ServiceExt;
        self.oneshot(request).await.expect("router answers")
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("text".to_owned()),
                        Just("client_id".to_owned()),
                        "[a-z_]{1,8}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn check(reply: &Reply, what: &str) {
        assert!(
            reply.status.is_success() || reply.status.is_client_error(),
            "{what}: {reply:?}"
        );
        if !reply.status.is_success() {
            assert!(!reply.code().is_empty(), "{what}: no error code: {reply:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Any body, any JSON, any room id: a 2xx or a 4xx with a code, never 5xx or a panic.
        #[test]
        fn requests_never_cause_server_errors(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            value in arbitrary_json(),
            room in ".{0,70}",
        ) {
            let rt = runtime();
            rt.block_on(async {
                let api = api().await;
                create_room(&api, "lobby", "open").await;
                let asha = api.token("asha", Role::Member);
                let by_bytes = api
                    .send(
                        raw(Method::POST, "/v1/rooms/lobby/messages", &asha)
                            .header("content-type", "application/json")
                            .body(Body::from(bytes.clone()))
                            .expect("request"),
                    )
                    .await;
                check(&by_bytes, "bytes");
                let by_json = post(&api, "lobby", &asha, value.clone()).await;
                check(&by_json, "json");
                let encoded: String = room
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect();
                let by_room = post(&api, &encoded, &asha, json!({"text": "hi"})).await;
                check(&by_room, "room");
                let profile = api
                    .call(Method::PATCH, "/v1/profiles/asha", Some(&asha), Some(value))
                    .await;
                check(&profile, "profile");
            });
        }
    }
}
