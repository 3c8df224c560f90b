//! Sentinel failover under load. A writer posts a steady stream of messages with
//! `min_replica_acks = 1`, retrying each with its client id as a phone would. The primary is
//! killed with SIGKILL five times in a row, and separately demoted by a Sentinel-driven
//! failover (so pooled connections reach a live node answering `READONLY`). Writes resume
//! without restarting the store, and every acknowledged message is present exactly once.
//! Prints the write outage of each failover.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chowk_host::store::{
    HistoryQuery, NewMessage, NewRoom, RedisConfig, RedisStore, RoomId, Store, StoredAction,
    Viewer, Visibility,
};
use chowk_tests::servers::{raw_command, wait_until, SentinelCluster, MASTER_NAME};
use tokio::task::{block_in_place, JoinHandle};

const FAILOVERS: usize = 5;

/// Acknowledged messages: (client id, message id, when).
type Acks = Arc<Mutex<Vec<(String, String, Instant)>>>;

struct Writer {
    acks: Acks,
    stop: Arc<AtomicBool>,
    task: JoinHandle<usize>,
}

impl Writer {
    fn start(store: Arc<Store>, room: RoomId) -> Self {
        let acks: Acks = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (acks, stop) = (acks.clone(), stop.clone());
            tokio::spawn(async move {
                let mut retries = 0;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let cid = format!("w-{n}");
                    loop {
                        let m = NewMessage {
                            room: room.clone(),
                            sender: chowk_tests::user("writer"),
                            text: format!("message {n}"),
                            time_ms: n,
                            action: StoredAction::Allow,
                            score: 0.0,
                            trace: "[]".into(),
                            reasons: r#"{"reasons":[]}"#.into(),
                            generation: 1,
                            client_id: Some(chowk_tests::client_id(&cid)),
                        };
                        match store.append(m).await {
                            Ok(a) => {
                                acks.lock().expect("acks").push((
                                    cid.clone(),
                                    a.message.id,
                                    Instant::now(),
                                ));
                                break;
                            }
                            Err(e) => {
                                assert!(
                                    e.is_transient(),
                                    "only transient errors during failover: {e}"
                                );
                                retries += 1;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                }
                retries
            })
        };
        Writer { acks, stop, task }
    }

    fn count(&self) -> usize {
        self.acks.lock().expect("acks").len()
    }

    fn wait_for(&self, more_than: usize, what: &str) {
        block_in_place(|| wait_until(what, Duration::from_secs(30), || self.count() >= more_than));
    }

    /// The longest gap between two acknowledgements after `since`.
    fn outage_since(&self, since: Instant) -> Duration {
        let acks = self.acks.lock().expect("acks");
        acks.windows(2)
            .filter(|w| w[1].2 > since)
            .map(|w| w[1].2.duration_since(w[0].2))
            .max()
            .unwrap_or_default()
    }

    async fn finish(self) -> (Vec<(String, String, Instant)>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let retries = self.task.await.expect("writer finished cleanly");
        let acks = self.acks.lock().expect("acks").clone();
        (acks, retries)
    }
}

async fn setup(cluster: &SentinelCluster) -> (Arc<Store>, RoomId) {
    let mut config = RedisConfig::sentinel(cluster.sentinel_urls(), MASTER_NAME);
    config.min_replica_acks = 1;
    config.replica_ack_timeout_ms = 300;
    config.timeout_ms = 300;
    config.retry_budget_ms = 1_000;
    let store = Arc::new(Store::Redis(RedisStore::new(config).expect("config")));
    let room = RoomId::new("failover").expect("id");
    store
        .create_room(NewRoom {
            id: room.clone(),
            name: "Failover".into(),
            description: String::new(),
            visibility: Visibility::Open,
            retention: 1_000_000,
        })
        .await
        .expect("room");
    (store, room)
}

/// Every acknowledged message is stored, with the acknowledged id, and nothing twice.
async fn verify(store: &Store, room: &RoomId, acks: &[(String, String, Instant)]) -> usize {
    let mut stored = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = store
            .history(
                room,
                &HistoryQuery {
                    before: before.clone(),
                    after: None,
                    limit: 200,
                },
                &Viewer {
                    user: chowk_tests::user("auditor"),
                    moderator: true,
                },
            )
            .await
            .expect("history");
        stored.extend(page.messages);
        match page.next_before {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let mut cids: Vec<&str> = stored
        .iter()
        .filter_map(|m| m.client_id.as_deref())
        .collect();
    let total = cids.len();
    cids.sort_unstable();
    cids.dedup();
    assert_eq!(cids.len(), total, "no message stored twice");
    for (cid, id, _) in acks {
        let found = stored
            .iter()
            .find(|m| m.client_id.as_deref() == Some(cid.as_str()));
        assert_eq!(
            found.map(|m| m.id.as_str()),
            Some(id.as_str()),
            "acknowledged {cid} ({id}) is stored"
        );
    }
    stored.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_repeated_primary_kills() {
    let mut cluster = SentinelCluster::start();
    let (store, room) = setup(&cluster).await;
    let writer = Writer::start(store.clone(), room.clone());

    for round in 1..=FAILOVERS {
        writer.wait_for(writer.count() + 20, "the writer makes progress");
        let old_port = cluster.master_port().expect("a master");
        let old = cluster.node_on(old_port);
        let killed_at = Instant::now();
        cluster.nodes[old].kill();
        let cl = &cluster;
        block_in_place(|| {
            wait_until(
                "Sentinel promotes the replica",
                Duration::from_secs(30),
                || cl.master_port().is_some_and(|p| p != old_port),
            )
        });
        let promoted_after = killed_at.elapsed();
        // Bring the old primary back as a replica of the new one (as an orchestrator would):
        // with one replica, no write can be confirmed by `WAIT 1` until it rejoins.
        let at_kill = writer.count();
        let new_port = cluster.master_port().expect("new master");
        block_in_place(|| cluster.nodes[old].restart_as_replica_of(new_port));
        writer.wait_for(at_kill + 20, "writes resume");
        println!(
            "failover {round}: promoted after {} ms; write outage {} ms",
            promoted_after.as_millis(),
            writer.outage_since(killed_at).as_millis()
        );
    }
    let (acks, retries) = writer.finish().await;
    let stored = verify(&store, &room, &acks).await;
    println!("{} acknowledged across {FAILOVERS} kills, {stored} stored, {retries} transient errors retried", acks.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_primary_answering_readonly_is_left_behind() {
    let cluster = SentinelCluster::start();
    let (store, room) = setup(&cluster).await;
    let writer = Writer::start(store.clone(), room.clone());
    writer.wait_for(20, "the writer makes progress");
    let old_port = cluster.master_port().expect("a master");
    let started = Instant::now();
    let reply = raw_command(
        cluster.sentinels[0].port(),
        &format!("SENTINEL FAILOVER {MASTER_NAME}"),
    )
    .expect("failover");
    assert!(reply.starts_with("+OK"), "{reply}");
    let cl = &cluster;
    block_in_place(|| {
        wait_until(
            "Sentinel names a new primary",
            Duration::from_secs(30),
            || cl.master_port().is_some_and(|p| p != old_port),
        )
    });
    let promoted_after = started.elapsed();
    block_in_place(|| {
        wait_until(
            "the old primary is a synced replica",
            Duration::from_secs(30),
            || cl.nodes[cl.node_on(old_port)].is_synced_replica(),
        )
    });
    println!(
        "graceful failover: promoted after {} ms, old primary synced after {} ms",
        promoted_after.as_millis(),
        started.elapsed().as_millis()
    );
    let at_demotion = writer.count();
    writer.wait_for(at_demotion + 30, "writes continue on the new primary");
    println!(
        "graceful failover: write outage {} ms",
        writer.outage_since(started).as_millis()
    );
    let (acks, _) = writer.finish().await;
    verify(&store, &room, &acks).await;
}
