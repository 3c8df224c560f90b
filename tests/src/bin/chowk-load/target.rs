//! What the load runs against: Redis (primary + replica) and NATS started on free ports
//! through the test harness, then one target at a time — the bare baseline or a `chowk serve`
//! with a given chain — so each process's CPU time is its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chowk_tests::servers::{self, ChowkProcess, NatsServer, RedisServer};

/// The data stores every target shares.
pub struct Stores {
    pub primary: RedisServer,
    pub replica: RedisServer,
    pub nats: NatsServer,
}

impl Stores {
    /// Redis primary with one replica, and nats-server, on free ports.
    pub fn start() -> Self {
        let primary = RedisServer::primary();
        let replica = RedisServer::replica_of(primary.port());
        servers::wait_until("the replica is in sync", Duration::from_secs(20), || {
            replica.is_synced_replica()
        });
        Stores {
            primary,
            replica,
            nats: NatsServer::start(),
        }
    }

    /// The processes whose CPU time a post costs, besides the target itself.
    pub fn processes(&self) -> Vec<(String, u32)> {
        [
            ("redis primary", self.primary.pid()),
            ("redis replica", self.replica.pid()),
            ("nats-server", self.nats.pid()),
        ]
        .into_iter()
        .filter_map(|(n, p)| Some((n.to_owned(), p?)))
        .collect()
    }
}

/// A running target.
pub struct Target {
    /// How the report names it.
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub pid: u32,
    /// Whether it is Chowk (rooms, auth, SSE, ingest, history).
    pub chowk: bool,
    _process: Running,
    _dir: Option<tempfile::TempDir>,
}

enum Running {
    /// Killed when dropped.
    Chowk(#[allow(dead_code)] ChowkProcess),
    Bare(Child),
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Bare(child) = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where a chain's files are: `plugins.toml`, with components under `target/plugins/` and
/// assets under `models/` (the repository, or a copy of an older commit's build).
pub fn chain_text(chain_root: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(chain_root.join("plugins.toml"))?;
    let root = chain_root.display().to_string();
    Ok(text
        .replace("path = \"target/", &format!("path = \"{root}/target/"))
        .replace("= \"models/", &format!("= \"{root}/models/")))
}

/// A chain with no plugins: what Chowk costs without them.
pub const EMPTY_CHAIN: &str = "version = 1\n[chain]\nflag_at = 3.5\nreject_at = 8.0\n";

/// The token secret of every host the tool starts (the one `servers::write_host_config` writes).
pub const SECRET: &str = "host-test-secret-0123456789abcdef01234";

impl Target {
    /// `chowk serve` (`binary`) with `chain` on the shared stores, waited for until `/readyz`.
    pub fn chowk(
        name: &str,
        binary: &Path,
        chain: &str,
        stores: &Stores,
        acks: u32,
        bootstrap: &str,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("chowk-load-").tempdir()?;
        let config = servers::write_host_config(
            dir.path(),
            chain,
            &format!(
                "url = \"{}\"\nmin_replica_acks = {acks}\n",
                stores.primary.url()
            ),
            &format!("[nats]\nurl = \"{}\"\n{bootstrap}", stores.nats.url()),
        );
        let process = ChowkProcess::serve_binary(binary, &config);
        let pid = process
            .pid()
            .ok_or_else(|| anyhow::anyhow!("chowk exited"))?;
        Ok(Target {
            name: name.to_owned(),
            base: process.base.clone(),
            pid,
            chowk: true,
            _process: Running::Chowk(process),
            _dir: Some(dir),
        })
    }

    /// The bare baseline (`chowk-load bare-server`, this same executable).
    pub fn bare(stores: &Stores) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["bare-server", "--redis", &stores.primary.url()])
            .args(["--nats", &stores.nats.url()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
        let base = line
            .trim()
            .strip_prefix("bare: listening on ")
            .ok_or_else(|| anyhow::anyhow!("bare server said {line:?}"))?
            .to_owned();
        Ok(Target {
            name: "bare minimum (axum + XADD + publish)".into(),
            base,
            pid,
            chowk: false,
            _process: Running::Bare(child),
            _dir: None,
        })
    }

    /// Wait until `/readyz` answers 200 (Chowk) or the port answers (bare).
    pub async fn wait_ready(&self, client: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/readyz", self.base);
        loop {
            let ok = match client.get(&url).send().await {
                Ok(r) => !self.chowk || r.status().is_success(),
                Err(_) => false,
            };
            if ok {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "{} not ready in 30 s", self.name);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The `chowk` binary next to this executable (`target/<profile>/chowk`).
pub fn default_chowk_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("chowk")))
        .unwrap_or_else(|| PathBuf::from("chowk"))
}
