//! One sender against a community (issue 12, items 1 and 2), with concurrent clients against two
//! `chowk serve` processes on a real Redis: a rate limit holds however many connections one
//! sender opens, on one host or both (never more than the limit); a flood from one sender
//! trips no plugin's breaker, and the other members are served throughout.

use chowk_tests::servers::{chowk_token, write_host_config, ChowkProcess, RedisServer};
use serde_json::{json, Value};

/// A rate limit of 5 messages per sender per minute (and keyword-filter failing closed, as in
/// the issue's report: its breaker would silence every room).
const CHAIN: &str = r#"
version = 1
[[plugins]]
name = "rate-limit"
path = "{plugins}/rate-limit.wasm"
[plugins.config]
per_sender = { max = 5, window_ms = 60000 }

[[plugins]]
name = "keyword-filter"
path = "{plugins}/keyword-filter.wasm"
on_error = "reject"
[[plugins.config.lists]]
name = "blocked"
action = "mask"
terms = ["badword"]
"#;

/// Two hosts on `redis`, the room `lobby`, and the config (for tokens).
struct Fleet {
    hosts: [ChowkProcess; 2],
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Fleet {
    async fn start(redis: &RedisServer) -> Self {
        Self::start_with(redis, "").await
    }

    /// Hosts whose `chowk.toml` has `extra` appended.
    async fn start_with(redis: &RedisServer, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = write_host_config(
            dir.path(),
            CHAIN,
            &format!("url = \"{}\"", redis.url()),
            extra,
        );
        let hosts = [ChowkProcess::serve(&config), ChowkProcess::serve(&config)];
        let fleet = Fleet {
            hosts,
            config,
            _dir: dir,
        };
        let r = reqwest::Client::new()
            .post(format!("{}/v1/rooms", fleet.hosts[0].base))
            .bearer_auth(fleet.token("root", "admin"))
            .json(&json!({"id": "lobby", "name": "Lobby"}))
            .send()
            .await
            .expect("create room");
        assert_eq!(r.status(), 201);
        fleet
    }

    fn token(&self, user: &str, role: &str) -> String {
        chowk_token(&self.config, user, role)
    }

    fn bases(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.base.as_str()).collect()
    }
}

/// `n` posts by `token` at once, spread over `hosts`: the status of each.
async fn flood(hosts: &[&str], token: &str, n: usize, text: &str) -> Vec<u16> {
    let http = reqwest::Client::new();
    let posts = (0..n).map(|i| {
        let (http, url) = (
            http.clone(),
            format!("{}/v1/rooms/lobby/messages", hosts[i % hosts.len()]),
        );
        let body = json!({"text": format!("{text} {i}")});
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("answered")
                .status()
                .as_u16()
        }
    });
    futures::future::join_all(posts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_under_concurrency_across_hosts() {
    let redis = RedisServer::primary();
    let fleet = Fleet::start(&redis).await;
    let spammer = fleet.token("spammer", "member");
    let mut accepted = 0;
    // Waves of 50 at once, over both hosts.
    for _ in 0..4 {
        let statuses = flood(&fleet.bases(), &spammer, 50, "Earn 5000 daily").await;
        assert!(
            statuses.iter().all(|s| [201, 429].contains(s)),
            "{statuses:?}"
        );
        accepted += statuses.iter().filter(|s| **s == 201).count();
    }
    println!("a limit of 5 per minute, 200 concurrent posts: {accepted} accepted");
    assert!(
        (1..=5).contains(&accepted),
        "the limit is 5 per minute: {accepted} accepted"
    );
    // Another sender has a limit of their own.
    let asha = fleet.token("asha", "member");
    for i in 0..3 {
        let statuses = flood(&fleet.bases()[..1], &asha, 1, &format!("Onions {i}")).await;
        assert_eq!(statuses, [201]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_sender_trips_no_breaker_and_others_are_served() {
    let redis = RedisServer::primary();
    let fleet = Fleet::start(&redis).await;
    let spammer = fleet.token("spammer", "member");
    let long = "b@dw0rd ".repeat(400);
    let bases = fleet.bases();
    let others = async {
        let asha = fleet.token("asha", "member");
        let mut statuses = Vec::new();
        for i in 0..5 {
            statuses.extend(flood(&bases[..1], &asha, 1, &format!("Tomatoes, batch {i}")).await);
        }
        statuses
    };
    let (flooded, served) = tokio::join!(
        async {
            let mut all = Vec::new();
            for _ in 0..5 {
                all.extend(flood(&bases, &spammer, 60, &long).await);
            }
            all
        },
        others
    );
    assert!(
        flooded.iter().all(|s| [201, 429, 503].contains(s)),
        "{flooded:?}"
    );
    assert_eq!(served, [201; 5], "the other member is served");
    let admin = fleet.token("root", "admin");
    for base in bases {
        let report: Value = reqwest::Client::new()
            .get(format!("{base}/v1/admin/plugins"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("report")
            .json()
            .await
            .expect("JSON");
        for plugin in report["plugins"].as_array().expect("plugins") {
            assert_eq!(
                plugin["breaker"]["trips"], 0,
                "no breaker tripped: {plugin}"
            );
        }
    }
}

/// 4x overload at the door: a host admitting 8 posts at a time gets 32 at once (from 32
/// senders, so no sender's share decides): each is answered, 201 or 503 with Retry-After,
/// never an error of another kind and never a wait for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_at_the_door() {
    let redis = RedisServer::primary();
    let fleet = Fleet::start_with(&redis, "[limits]\nposts_in_flight = 8\n").await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/rooms/lobby/messages", fleet.hosts[0].base);
    let tokens: Vec<String> = (0..32)
        .map(|i| fleet.token(&format!("trader{i}"), "member"))
        .collect();
    let (mut admitted, mut refused) = (0, 0);
    for _ in 0..5 {
        let posts = tokens.iter().map(|token| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"text": "Wheat 2,400 a quintal, delivery Friday"}))
                    .send()
                    .await
                    .expect("answered");
                (r.status().as_u16(), r.headers().contains_key("retry-after"))
            }
        });
        for (status, retry_after) in futures::future::join_all(posts).await {
            match status {
                201 => admitted += 1,
                503 => {
                    assert!(retry_after, "a refusal says when to retry");
                    refused += 1;
                }
                other => panic!("{other}: only 201 or 503 under overload"),
            }
        }
    }
    println!("4x overload (32 at once, 8 admitted at a time), 5 rounds: {admitted} admitted, {refused} refused");
    assert!(admitted >= 8, "{admitted} admitted");
}
