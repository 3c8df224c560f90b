//! The traffic: posts from many senders into many rooms, history reads, NATS ingest requests,
//! and the recorders of where posted messages arrive (NATS subscribers, SSE streams).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chowk_host::auth::{Authority, Role};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::mix::Mix;
use crate::open_loop::{self, Latency};
use crate::target::{Target, SECRET};

/// Who posts where.
pub struct Crowd {
    pub client: reqwest::Client,
    pub senders: Vec<String>,
    pub rooms: Vec<String>,
    pub mix: Mix,
    authority: Authority,
}

impl Crowd {
    /// `senders` members (tokens minted here) posting into `rooms` rooms.
    pub fn new(senders: usize, rooms: usize) -> anyhow::Result<Self> {
        let authority = Authority::new(SECRET.as_bytes(), 5)?;
        let ttl = Duration::from_secs(24 * 3600);
        let senders = (0..senders)
            .map(|i| authority.mint(&format!("s{i}"), Role::Member, ttl))
            .collect::<Result<_, _>>()?;
        Ok(Crowd {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(512)
                .build()?,
            senders,
            rooms: (0..rooms).map(|i| format!("r{i:04}")).collect(),
            mix: Mix::load(),
            authority,
        })
    }

    /// A member token for `user`.
    pub fn token(&self, user: &str) -> anyhow::Result<String> {
        Ok(self
            .authority
            .mint(user, Role::Member, Duration::from_secs(24 * 3600))?)
    }
}

/// What one run of posts saw.
#[derive(Default)]
pub struct Posts {
    pub latency: Latency,
    pub statuses: Mutex<BTreeMap<String, usize>>,
    /// Each stored visible message's id and when its post was due.
    pub stored: Mutex<Vec<(String, Instant)>>,
}

impl Posts {
    /// Posts answered with a success or the chain's verdict (422).
    pub fn answered(&self) -> usize {
        let s = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        s.iter()
            .filter(|(k, _)| matches!(k.as_str(), "200" | "201" | "422"))
            .map(|(_, v)| v)
            .sum()
    }

    /// Every answer but those.
    pub fn failed(&self) -> usize {
        let s = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        s.values().sum::<usize>() - {
            drop(s);
            self.answered()
        }
    }
}

/// Post at `rate` for `duration` to `target`; `seq` numbers the posts across runs so every
/// message is new and senders take turns.
pub async fn post(
    crowd: &Arc<Crowd>,
    target: &Target,
    rate: f64,
    duration: Duration,
    seq: u64,
) -> Arc<Posts> {
    let posts = Arc::new(Posts::default());
    let (crowd, out) = (crowd.clone(), posts.clone());
    let base = target.base.clone();
    open_loop::run(rate, duration, move |k, due| {
        let (crowd, out, base) = (crowd.clone(), out.clone(), base.clone());
        async move {
            let n = seq + k;
            let senders = crowd.senders.len() as u64;
            let sender = (n % senders) as usize;
            let room = &crowd.rooms[((n + n / senders) % crowd.rooms.len() as u64) as usize];
            let sent = crowd
                .client
                .post(format!("{base}/v1/rooms/{room}/messages"))
                .bearer_auth(&crowd.senders[sender])
                .json(&json!({ "text": crowd.mix.text(n), "client_id": format!("l{n}") }))
                .send()
                .await;
            let (status, id) = match sent {
                Ok(r) => {
                    let status = r.status().as_u16().to_string();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    // Flagged messages go to moderators, not to `.messages`: only the others
                    // are expected there.
                    let visible = body.get("pending").and_then(Value::as_bool) != Some(true);
                    let id = body.get("id").and_then(Value::as_str).filter(|_| visible);
                    (status, id.map(str::to_owned))
                }
                Err(_) => ("connection error".to_owned(), None),
            };
            out.latency.record(due.elapsed());
            if let Some(id) = id {
                out.stored
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((id, due));
            }
            *out.statuses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(status)
                .or_default() += 1;
        }
    })
    .await;
    posts
}

/// 50-message history pages of `rooms`, open loop.
pub async fn history(
    crowd: &Arc<Crowd>,
    target: &Target,
    rooms: Vec<String>,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<(Latency, usize)> {
    let latency = Latency::default();
    let failed = Arc::new(Mutex::new(0usize));
    let token = crowd.token("history-reader")?;
    let (client, base) = (crowd.client.clone(), target.base.clone());
    let (out, bad) = (latency.clone(), failed.clone());
    open_loop::run(rate, duration, move |k, due| {
        let room = rooms[k as usize % rooms.len()].clone();
        let req = client
            .get(format!("{base}/v1/rooms/{room}/messages?limit=50"))
            .bearer_auth(&token);
        let (out, bad) = (out.clone(), bad.clone());
        async move {
            let ok = match req.send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                _ => false,
            };
            out.record(due.elapsed());
            if !ok {
                *bad.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            }
        }
    })
    .await;
    let failed = *failed.lock().unwrap_or_else(|e| e.into_inner());
    Ok((latency, failed))
}

/// NATS ingest requests (`chowk.ingest.<room>`), open loop: request-reply latency and the
/// replies by outcome (`posted`, or the error code).
pub async fn ingest(
    crowd: &Arc<Crowd>,
    nats: async_nats::Client,
    rate: f64,
    duration: Duration,
    seq: u64,
) -> (Latency, BTreeMap<String, usize>) {
    let latency = Latency::default();
    let outcomes = Arc::new(Mutex::new(BTreeMap::new()));
    let (crowd, out, seen) = (crowd.clone(), latency.clone(), outcomes.clone());
    open_loop::run(rate, duration, move |k, due| {
        let (crowd, nats, out, seen) = (crowd.clone(), nats.clone(), out.clone(), seen.clone());
        async move {
            let n = seq + k;
            let room = &crowd.rooms[(n % crowd.rooms.len() as u64) as usize];
            let body = json!({ "sender": format!("ingest{}", n % 1000), "text": crowd.mix.text(n),
                "client_id": format!("i{n}") });
            let reply = nats
                .request(format!("chowk.ingest.{room}"), body.to_string().into())
                .await;
            out.record(due.elapsed());
            let outcome = match reply {
                Err(_) => "no reply".to_owned(),
                Ok(m) => match serde_json::from_slice::<Value>(&m.payload) {
                    Ok(v) => v["error"]["code"].as_str().unwrap_or("posted").to_owned(),
                    Err(_) => "bad reply".to_owned(),
                },
            };
            *seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(outcome)
                .or_default() += 1;
        }
    })
    .await;
    let outcomes = outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (latency, outcomes)
}

/// When each message id first arrived somewhere (a NATS subscription, SSE streams).
#[derive(Clone, Default)]
pub struct Arrivals(Arc<Mutex<HashMap<String, Instant>>>);

impl Arrivals {
    fn saw(&self, id: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_insert_with(Instant::now);
    }

    /// How many of `stored` arrived, and their latencies from the time their post was due.
    pub fn latency_of(&self, stored: &[(String, Instant)]) -> (Latency, usize) {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let latency = Latency::default();
        let mut arrived = 0;
        for (id, due) in stored {
            if let Some(at) = seen.get(id) {
                latency.record(at.saturating_duration_since(*due));
                arrived += 1;
            }
        }
        (latency, arrived)
    }

    /// Wait (at most `timeout`) until every id of `stored` arrived.
    pub async fn wait_for(&self, stored: &[(String, Instant)], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let missing = {
                let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
                stored.iter().any(|(id, _)| !seen.contains_key(id))
            };
            if !missing {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Subscribe to `<prefix>.*.messages` and record every message id published there.
    pub async fn subscribe(&self, nats: &async_nats::Client, prefix: &str) -> anyhow::Result<()> {
        let mut sub = nats.subscribe(format!("{prefix}.*.messages")).await?;
        nats.flush().await?;
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                if let Ok(v) = serde_json::from_slice::<Value>(&m.payload) {
                    if let Some(id) = v.get("id").and_then(Value::as_str) {
                        me.saw(id.to_owned());
                    }
                }
            }
        });
        Ok(())
    }

    /// Open a live stream (SSE) of `room` and record every message id it delivers.
    pub async fn watch(&self, crowd: &Crowd, base: &str, room: &str) -> anyhow::Result<()> {
        let token = crowd.token("sse-watcher")?;
        let response = crowd
            .client
            .get(format!("{base}/v1/rooms/{room}/events"))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "SSE answered {}",
            response.status()
        );
        let mut body = response.bytes_stream();
        let me = self.clone();
        tokio::spawn(async move {
            let mut buf = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    if let Some(id) = chowk_tests::checker::sse_message_id(&event) {
                        me.saw(id);
                    }
                }
            }
        });
        Ok(())
    }
}
