//! Reliability scenarios, Jepsen-style: real `chowk serve` hosts (two unless stated), real
//! Redis (Sentinel, HAProxy), real nats-server, and real faults (SIGKILL, a TCP fault proxy).
//! Writers post steadily through the hosts and retry each message with its client id until it
//! is acknowledged; the [`Checker`] records every attempt and every message seen on NATS and
//! SSE, reads the final store and verifies: every acknowledged message stored exactly once,
//! relayed and delivered in room order, never acknowledged while no replica could hold it.
//!
//! `cargo xtask test` runs the short versions (a few faults each); `cargo xtask reliability`
//! runs the long ones (`CHOWK_RELIABILITY=long`, ≥ 20 primary kills) and prints the figures
//! RELIABILITY.md reports.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chowk_tests::checker::{
    read_store, replay_jetstream, watch_nats, watch_sse, Channel, Checker, Hosts, Moderators,
    Writers,
};
use chowk_tests::fault::FaultProxy;
use chowk_tests::servers::{
    chowk_token, wait_until, write_host_config, ChowkProcess, HaProxy, NatsServer, RedisServer,
    SentinelCluster, MASTER_NAME, QUICK_DOWN_AFTER,
};
use tokio::task::block_in_place;

const ROOMS: [&str; 3] = ["mandi", "kirana", "textiles"];
/// Acknowledgements to wait for between faults.
const PROGRESS: usize = 20;
const PATIENCE: Duration = Duration::from_secs(40);
/// Sentinel's `down-after-milliseconds` where a spurious failover must not happen: long
/// enough that a node busy on this loaded machine is not taken for a dead one.
const STEADY_DOWN_AFTER: Duration = Duration::from_millis(3000);
/// The JetStream stream the relay writes to.
const STREAM: &str = chowk_host::relay::JETSTREAM_STREAM;

/// Faults per scenario: a few in `cargo xtask test`, many in `cargo xtask reliability`.
fn faults(short: usize, long: usize) -> usize {
    if std::env::var("CHOWK_RELIABILITY").is_ok_and(|v| v == "long") {
        long
    } else {
        short
    }
}

/// `chowk.toml` and `plugins.toml` in `dir`, with `redis` as the body of `[redis]`. The chain
/// is `spam-rules` alone, which flags the writers' prize texts for the moderators (the
/// scenarios are about the post path, not verdicts; every host compiles its chain at start).
fn write_config(dir: &Path, redis: &str, nats: &str, jetstream: bool) -> PathBuf {
    write_host_config(
        dir,
        "version = 1\n[chain]\nflag_at = 3.5\nreject_at = 8.0\n\
         [[plugins]]\nname = \"spam-rules\"\npath = \"{plugins}/spam-rules.wasm\"\n",
        redis,
        &format!("[nats]\nurl = \"{nats}\"\njetstream = {jetstream}\nflush_timeout_ms = 500\n"),
    )
}

/// `[redis]` for the store behind `url` or Sentinel, with `min_replica_acks = 1`.
fn redis_section(target: &str) -> String {
    redis_section_acks(target, 1)
}

/// `[redis]` with `min_replica_acks = acks`.
fn redis_section_acks(target: &str, acks: u32) -> String {
    format!(
        "{target}\nmin_replica_acks = {acks}\nreplica_ack_timeout_ms = 500\ntimeout_ms = 700\nretry_budget_ms = 1500\n"
    )
}

fn sentinel_target(cluster: &SentinelCluster) -> String {
    let urls: Vec<String> = cluster
        .sentinel_urls()
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect();
    format!(
        "sentinels = [{}]\nmaster_name = \"{MASTER_NAME}\"",
        urls.join(", ")
    )
}

/// Hosts serving `config`, their base URLs, and tokens.
struct Fleet {
    config: PathBuf,
    hosts: Vec<ChowkProcess>,
    urls: Hosts,
    member: String,
    moderator: String,
}

/// Writers, and moderators approving what the chain flags.
struct Load {
    writers: Writers,
    moderators: Option<Moderators>,
    urls: Hosts,
    moderator: String,
}

impl Load {
    /// Stop the writers, then approve every flagged message left.
    async fn stop(self) -> usize {
        self.writers.stop().await;
        let moderators = self
            .moderators
            .unwrap_or_else(|| Moderators::start(&self.urls, &rooms(), &self.moderator));
        moderators.finish().await
    }
}

impl Fleet {
    async fn start(config: PathBuf, n: usize) -> Self {
        // Side by side: each compiles its chain first.
        let hosts: Vec<ChowkProcess> = std::thread::scope(|s| {
            let starting: Vec<_> = (0..n)
                .map(|_| s.spawn(|| ChowkProcess::serve(&config)))
                .collect();
            starting
                .into_iter()
                .map(|h| h.join().expect("host starts"))
                .collect()
        });
        let urls = Arc::new(Mutex::new(hosts.iter().map(|h| h.base.clone()).collect()));
        let admin = chowk_token(&config, "root", "admin");
        let member = chowk_token(&config, "trader", "member");
        let moderator = chowk_token(&config, "mod", "moderator");
        let http = reqwest::Client::new();
        for room in ROOMS {
            let r = http
                .post(format!("{}/v1/rooms", hosts[0].base))
                .bearer_auth(&admin)
                .json(&serde_json::json!({"id": room, "name": room}))
                .send()
                .await
                .expect("create room");
            assert!(r.status().is_success(), "create room: {}", r.status());
        }
        Fleet {
            config,
            hosts,
            urls,
            member,
            moderator,
        }
    }

    /// Four writers; moderators approving as messages are flagged (`live_moderation`), or
    /// only once the writers stop.
    fn load(&self, checker: &Checker, live_moderation: bool) -> Load {
        Load {
            writers: Writers::start(checker, &self.urls, &rooms(), &self.member, 4),
            moderators: live_moderation
                .then(|| Moderators::start(&self.urls, &rooms(), &self.moderator)),
            urls: self.urls.clone(),
            moderator: self.moderator.clone(),
        }
    }

    /// Start a new host in place of host `i` (killed or not; a new port).
    fn replace(&mut self, i: usize) {
        self.hosts[i].kill();
        let host = ChowkProcess::serve(&self.config);
        self.urls.lock().expect("urls")[i] = host.base.clone();
        self.hosts[i] = host;
    }
}

/// A scenario's moving parts: NATS, two hosts on `[redis]` = `redis`, a checker watching NATS,
/// and the load (writers, live moderators).
struct Run {
    checker: Checker,
    load: Load,
    _fleet: Fleet,
    _nats: NatsServer,
    _dir: tempfile::TempDir,
}

impl Run {
    async fn start(redis: &str) -> Self {
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = write_config(dir.path(), redis, &nats.url(), false);
        let fleet = Fleet::start(config, 2).await;
        let checker = Checker::default();
        // The watcher's task owns its client and subscription.
        drop(watch_nats(&checker, &nats.url()).await);
        let load = fleet.load(&checker, true);
        Run {
            checker,
            load,
            _fleet: fleet,
            _nats: nats,
            _dir: dir,
        }
    }
}

fn rooms() -> Vec<String> {
    ROOMS.iter().map(|r| (*r).to_owned()).collect()
}

/// Kill the primary `kills` times under load; after each promotion the old primary rejoins as
/// a replica of the new one (as an orchestrator would restart it).
async fn primary_kills(cluster: &mut SentinelCluster, checker: &Checker, kills: usize) {
    for k in 1..=kills {
        checker
            .wait_for_acks(PROGRESS, PATIENCE, "writes flow before the kill")
            .await;
        // Repeated failovers, each of a recovered cluster (Sentinel promotes only a replica it
        // has seen healthy).
        block_in_place(|| cluster.wait_healthy(cluster.nodes.len() - 1, PATIENCE));
        let old_port = cluster.master_port().expect("a primary");
        let old = cluster.node_on(old_port);
        let killed = checker.fault(&format!("primary SIGKILL {k}"));
        cluster.nodes[old].kill();
        let new_port = block_in_place(|| {
            let mut new_port = None;
            wait_until("Sentinel promotes a replica", PATIENCE, || {
                new_port = cluster.master_port().filter(|p| *p != old_port);
                new_port.is_some()
            });
            new_port.expect("promoted")
        });
        println!(
            "primary SIGKILL {k}: {old_port} → {new_port} promoted after {} ms; {} acknowledged so far",
            killed.elapsed().as_millis(),
            checker.acked()
        );
        block_in_place(|| cluster.nodes[old].restart_as_replica_of(new_port));
        checker
            .wait_for_acks(PROGRESS, PATIENCE, "writes resume on the new primary")
            .await;
    }
}

/// Stop the writers, wait for deliveries, read the final store and check.
async fn finish(name: &str, checker: &Checker, load: Load, store_url: &str) {
    let approved = load.stop().await;
    println!("reliability {name}: {approved} flagged messages approved");
    for c in checker.channels() {
        checker.wait_delivered(c, PATIENCE).await;
    }
    check(name, checker, store_url).await;
}

/// Like [`finish`], with the relay checked by replaying the JetStream stream (again until it
/// holds every acknowledged message, or the patience runs out: the hosts relay their backlog
/// after NATS returns).
async fn finish_replaying(
    name: &str,
    checker: &Checker,
    load: Load,
    store_url: &str,
    nats_url: &str,
) {
    let approved = load.stop().await;
    println!("reliability {name}: {approved} flagged messages approved");
    for c in checker.channels() {
        checker.wait_delivered(c, PATIENCE).await;
    }
    let deadline = std::time::Instant::now() + PATIENCE;
    let replayed = loop {
        let replayed = replay_jetstream(nats_url, STREAM).await;
        if checker.acked_missing_from(&replayed) == 0 || std::time::Instant::now() > deadline {
            break replayed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    checker.watching(Channel::Nats, None);
    for (room, id, approval) in &replayed {
        checker.delivered(Channel::Nats, room, id, *approval);
    }
    check(name, checker, store_url).await;
}

async fn check(name: &str, checker: &Checker, store_url: &str) {
    let stored = read_store(store_url, &rooms()).await;
    let report = checker.check(&stored);
    println!("reliability {name}: {report}");
    for (fault, outage) in &report.outages {
        println!("  {fault}: write outage {} ms", outage.as_millis());
    }
    report.assert_clean();
}

/// Sentinel, primary + 2 replicas, two hosts: the primary SIGKILLed again and again under
/// load, with `min_replica_acks = acks` and Sentinels judging a node down after `down_after`.
async fn sentinel_primary_kills(acks: u32, down_after: Duration) {
    let mut cluster = SentinelCluster::start_with(2, down_after);
    let run = Run::start(&redis_section_acks(&sentinel_target(&cluster), acks)).await;
    primary_kills(&mut cluster, &run.checker, faults(3, 20)).await;
    let primary = cluster.master_port().expect("a primary");
    finish(
        &format!("sentinel, min_replica_acks = {acks}"),
        &run.checker,
        run.load,
        &format!("redis://127.0.0.1:{primary}"),
    )
    .await;
}

/// One replica of two acknowledges each write (the scenario), and the Sentinels take
/// [`STEADY_DOWN_AFTER`] to judge a node down: no spurious failover follows the real one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_primary_kills_lose_nothing() {
    sentinel_primary_kills(1, STEADY_DOWN_AFTER).await;
}

/// Every replica acknowledges each write: whichever one Sentinel promotes holds it, even when
/// quick Sentinels ([`QUICK_DOWN_AFTER`] on this loaded machine) fail over twice in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_primary_kills_with_every_replica_acking_lose_nothing() {
    sentinel_primary_kills(2, QUICK_DOWN_AFTER).await;
}

/// The original topology: HAProxy in front of the Redis nodes (routing to whichever says
/// `role:master`), Sentinel moving the role, hosts given only the HAProxy URL; one replica of
/// two acknowledges each write, as in Sentinel mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_primary_kills_lose_nothing() {
    let mut cluster = SentinelCluster::start_with(2, STEADY_DOWN_AFTER);
    let ports: Vec<u16> = cluster.nodes.iter().map(RedisServer::port).collect();
    let haproxy = HaProxy::start(&ports, cluster.master_port().expect("primary"));
    let run = Run::start(&redis_section(&format!("url = \"{}\"", haproxy.url()))).await;
    primary_kills(&mut cluster, &run.checker, faults(2, 20)).await;
    finish("haproxy", &run.checker, run.load, &haproxy.url()).await;
}

/// Primary and its only replica, `min_replica_acks = 1`: while the replica is down nothing is
/// acknowledged (503 + Retry-After), and writes resume by themselves when it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_replica_nothing_is_acknowledged() {
    let primary = RedisServer::primary();
    let mut replica = RedisServer::replica_of(primary.port());
    wait_until("the replica is in sync", PATIENCE, || {
        replica.is_synced_replica()
    });
    let run = Run::start(&redis_section(&format!("url = \"{}\"", primary.url()))).await;
    for k in 1..=faults(1, 10) {
        run.checker
            .wait_for_acks(PROGRESS, PATIENCE, "writes flow")
            .await;
        replica.kill();
        run.checker.fault(&format!("replica SIGKILL {k}"));
        let window = run.checker.no_acks_from_now();
        block_in_place(|| {
            wait_until("the primary sees no replica", PATIENCE, || {
                primary.info("replication").contains("connected_slaves:0")
            })
        });
        // The writers keep trying: each is refused (503) at least once while the replica is away.
        let deadline = std::time::Instant::now() + PATIENCE;
        while run
            .checker
            .answers_since(window)
            .get("503")
            .copied()
            .unwrap_or(0)
            < 4
        {
            assert!(
                std::time::Instant::now() < deadline,
                "posts are refused with 503"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let answers = run.checker.answers_since(window);
        assert_eq!(
            run.checker.acked_since(window),
            0,
            "nothing acknowledged: {answers:?}"
        );
        run.checker.acks_allowed();
        block_in_place(|| replica.restart());
        run.checker
            .wait_for_acks(PROGRESS, PATIENCE, "writes resume by themselves")
            .await;
    }
    finish("one-replica", &run.checker, run.load, &primary.url()).await;
}

/// Hosts reach Redis through a TCP fault proxy: latency spikes of 50–500 ms and every
/// connection reset, again and again under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_spikes_and_resets_lose_nothing() {
    let primary = RedisServer::primary();
    let replica = RedisServer::replica_of(primary.port());
    wait_until("the replica is in sync", PATIENCE, || {
        replica.is_synced_replica()
    });
    let proxy = FaultProxy::start(primary.port());
    let run = Run::start(&redis_section(&format!("url = \"{}\"", proxy.redis_url()))).await;
    let spikes = [50u64, 200, 500, 120, 350, 80, 450, 60, 300, 500];
    for k in 0..faults(2, 20) {
        run.checker
            .wait_for_acks(PROGRESS, PATIENCE, "writes flow")
            .await;
        let spike = spikes[k % spikes.len()];
        run.checker.fault(&format!("latency {spike} ms"));
        proxy.latency(Duration::from_millis(spike));
        // A spike lasts a while (posts may be refused meanwhile: 503, never a false ack)...
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        proxy.heal();
        // ...and then every connection is cut.
        run.checker.fault("connections reset");
        proxy.reset();
    }
    finish("fault-proxy", &run.checker, run.load, &primary.url()).await;
}

/// NATS SIGKILLed and restarted under load, then a host SIGKILLed under load and replaced; the
/// relay uses JetStream, so what is relayed is checked by replaying the stream, and an SSE
/// client follows a room across the killed host with `Last-Event-ID`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_and_host_kills_lose_nothing() {
    let primary = RedisServer::primary();
    let mut nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        &format!("url = \"{}\"\n", primary.url()),
        &nats.url(),
        true,
    );
    let mut fleet = Fleet::start(config, 2).await;
    let checker = Checker::default();
    let sse = watch_sse(&checker, &fleet.urls, ROOMS[0], &fleet.member);
    let load = fleet.load(&checker, false);
    let rounds = faults(1, 5);
    for k in 1..=rounds {
        checker
            .wait_for_acks(PROGRESS, PATIENCE, "writes flow")
            .await;
        checker.fault(&format!("NATS SIGKILL {k}"));
        nats.stop();
        checker
            .wait_for_acks(PROGRESS, PATIENCE, "writes go on while NATS is down")
            .await;
        block_in_place(|| nats.restart());
        checker.fault(&format!("host SIGKILL {k}"));
        fleet.hosts[k % 2].kill();
        checker
            .wait_for_acks(PROGRESS, PATIENCE, "writes go on through the other host")
            .await;
        if k < rounds {
            // A new host in its place for the next round.
            block_in_place(|| fleet.replace(k % 2));
        }
    }
    // The moderators approve what was flagged once the writers stop; an approval made while the
    // SSE client is between hosts is not replayed to it (RELIABILITY.md, "Open"), so it must
    // have reconnected after the last kill first.
    sse.wait_connected(PATIENCE).await;
    // The hosts relay the backlog once NATS is back; the stream then holds every message.
    let _sse = sse;
    finish_replaying("nats-and-host", &checker, load, &primary.url(), &nats.url()).await;
}

/// The original topology split: HAProxy reaches every node directly, while the replicas and
/// the Sentinels reach the primary through a fault proxy that is then partitioned. Sentinel
/// promotes a replica; the old primary still says `role:master`, so HAProxy routes to both.
/// Writes that land on the old primary cannot reach a replica, so with `min_replica_acks = 1`
/// they are refused, never acknowledged; when the partition heals Sentinel demotes the old
/// primary (discarding what it took) and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_old_primary_acknowledges_nothing() {
    let primary = RedisServer::primary();
    let front = FaultProxy::start(primary.port());
    let replicas = [
        RedisServer::replica_of(front.port()),
        RedisServer::replica_of(front.port()),
    ];
    let ports = [primary.port(), replicas[0].port(), replicas[1].port()];
    let [r1, r2] = replicas;
    let cluster = SentinelCluster::monitor(vec![primary, r1, r2], front.port(), QUICK_DOWN_AFTER);
    let haproxy = HaProxy::start(&ports, ports[0]);
    let run = Run::start(&redis_section(&format!("url = \"{}\"", haproxy.url()))).await;
    let old = &cluster.nodes[0];
    run.checker
        .wait_for_acks(PROGRESS, PATIENCE, "writes flow")
        .await;
    let before = cluster.master_port().expect("a primary");
    run.checker.fault("old primary partitioned");
    front.partition();
    block_in_place(|| {
        wait_until("Sentinel promotes a replica", PATIENCE, || {
            cluster.master_port().is_some_and(|p| p != before)
        })
    });
    run.checker
        .wait_for_acks(PROGRESS, PATIENCE, "writes go on at the new primary")
        .await;
    assert!(
        old.info("replication").contains("role:master"),
        "the partitioned old primary still takes writes"
    );
    run.checker.fault("partition healed");
    front.heal();
    block_in_place(|| {
        wait_until("Sentinel demotes the old primary", PATIENCE, || {
            old.info("replication").contains("role:slave")
        })
    });
    run.checker
        .wait_for_acks(PROGRESS, PATIENCE, "writes go on after the heal")
        .await;
    finish("partition", &run.checker, run.load, &haproxy.url()).await;
}
