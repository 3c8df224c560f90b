//! Real `redis-server`, Redis Sentinel, `nats-server` and `chowk serve` processes for tests, in the style of nats.rs's
//! test-server crate: each on a free port with its own temporary directory, waited for until it
//! answers, and killed when dropped. Nothing here touches servers the machine already runs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `chowk serve` may take to listen: it compiles its plugins first, which a debug
/// build of Cranelift does slowly, and more slowly still while other tests load the machine.
const CHOWK_START_TIMEOUT: Duration = Duration::from_secs(60);

/// The path of a required binary, or a panic that says how to install it.
pub fn require_binary(name: &str, apt_package: &str) -> PathBuf {
    require_tool(name, &format!("sudo apt-get install -y {apt_package}"))
}

/// The path of `name` on PATH, or a panic naming `install_line` (`cargo xtask test` runs it).
pub fn require_tool(name: &str, install_line: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("`{name}` is not installed; install it with: {install_line}"))
}

/// A free TCP port on 127.0.0.1 (free when asked; the server then binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Send one inline command and read the first reply chunk.
pub fn raw_command(port: u16, command: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(format!("{command}\r\n").as_bytes())?;
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// What kind of Redis process.
#[derive(Debug, Clone)]
enum Role {
    Primary,
    /// A primary that accepts only TLS connections, with a self-signed certificate.
    TlsPrimary,
    Replica {
        of: u16,
    },
    Sentinel {
        master: u16,
        name: String,
        down_after: Duration,
    },
}

/// Stop the Redis servers of test processes that are gone. A server is stopped when its
/// `RedisServer` is dropped, but a process that ends without dropping one (a server held in a
/// `static`, as the fuzz targets' is; a test binary killed mid-run) leaves it running. Each
/// server's folder names its owner and its pid; this stops every server whose owner has
/// exited (checking that the pid still is that server, by its working folder) and removes the
/// folder. The first server each test process starts runs it.
pub fn reap_orphaned_redis() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let pid_in = |dir: &Path, file: &str| -> Option<u32> {
        std::fs::read_to_string(dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("chowk-redis-")
        {
            continue;
        }
        let (Some(owner), Some(server)) = (pid_in(&dir, "owner.pid"), pid_in(&dir, "server.pid"))
        else {
            continue;
        };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        let cwd = std::fs::read_link(format!("/proc/{server}/cwd"));
        if cwd.is_ok_and(|cwd| cwd == dir) {
            let _ = Command::new("kill")
                .args(["-KILL", &server.to_string()])
                .status();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// One running Redis (or Sentinel) process.
#[derive(Debug)]
pub struct RedisServer {
    role: Role,
    port: u16,
    dir: TempDir,
    process: Process,
}

/// A child process that is killed (SIGKILL) and reaped when stopped or dropped.
#[derive(Debug, Default)]
struct Process(Option<Child>);

impl Process {
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&mut self, signal: &str) {
        let child = self.0.as_ref().expect("running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    fn pid(&self) -> Option<u32> {
        self.0.as_ref().map(Child::id)
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Drop for RedisServer {
    /// With `CHOWK_KEEP_LOGS=<dir>`, keep this server's log there (`redis-<port>.log`), to read
    /// what Redis or Sentinel did during a failed run.
    fn drop(&mut self) {
        if let Some(keep) = std::env::var_os("CHOWK_KEEP_LOGS") {
            let keep = PathBuf::from(keep);
            let _ = std::fs::create_dir_all(&keep);
            let _ = std::fs::copy(
                self.dir.path().join("server.log"),
                keep.join(format!("redis-{}.log", self.port)),
            );
        }
    }
}

impl RedisServer {
    /// A standalone primary (no persistence).
    pub fn primary() -> Self {
        Self::start(Role::Primary)
    }

    /// A standalone primary that speaks only TLS (self-signed certificate; connect with
    /// `tls_insecure`). Needs `openssl` to make the certificate.
    pub fn primary_tls() -> Self {
        Self::start(Role::TlsPrimary)
    }

    /// A replica of the server on `primary_port`.
    pub fn replica_of(primary_port: u16) -> Self {
        Self::start(Role::Replica { of: primary_port })
    }

    /// A Sentinel monitoring `master_port` as `name`, quorum 2, judging a node down after
    /// `down_after` without a valid reply (`down-after-milliseconds`; failover timeout 3×).
    pub fn sentinel(master_port: u16, name: &str, down_after: Duration) -> Self {
        Self::start(Role::Sentinel {
            master: master_port,
            name: name.to_owned(),
            down_after,
        })
    }

    fn start(role: Role) -> Self {
        require_binary("redis-server", "redis-server");
        static REAPED: std::sync::Once = std::sync::Once::new();
        REAPED.call_once(reap_orphaned_redis);
        let dir = tempfile::Builder::new()
            .prefix("chowk-redis-")
            .tempdir()
            .expect("temp dir");
        let mut server = RedisServer {
            role,
            port: free_port(),
            dir,
            process: Process::default(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let dir = self.dir.path();
        let log = dir.join("server.log");
        let mut cmd = Command::new("redis-server");
        match &self.role {
            Role::Sentinel {
                master,
                name,
                down_after,
            } => {
                let conf = dir.join("sentinel.conf");
                if !conf.exists() {
                    std::fs::write(
                        &conf,
                        format!(
                            "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile {log}\n\
                             sentinel monitor {name} 127.0.0.1 {master} 2\n\
                             sentinel down-after-milliseconds {name} {down}\n\
                             sentinel failover-timeout {name} {timeout}\n\
                             sentinel parallel-syncs {name} 1\n",
                            down = down_after.as_millis(),
                            timeout = 3 * down_after.as_millis(),
                            port = self.port,
                            dir = dir.display(),
                            log = log.display(),
                        ),
                    )
                    .expect("write sentinel.conf");
                }
                cmd.arg(&conf).arg("--sentinel");
            }
            Role::TlsPrimary => {
                let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
                if !cert.exists() {
                    let openssl = require_binary("openssl", "openssl");
                    let status = Command::new(openssl)
                        .args([
                            "req",
                            "-x509",
                            "-newkey",
                            "rsa:2048",
                            "-nodes",
                            "-days",
                            "1",
                            "-subj",
                            "/CN=localhost",
                        ])
                        .arg("-keyout")
                        .arg(&key)
                        .arg("-out")
                        .arg(&cert)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .expect("run openssl");
                    assert!(
                        status.success(),
                        "openssl could not make a test certificate"
                    );
                }
                cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .args(["--tls-auth-clients", "no"])
                    .arg("--tls-cert-file")
                    .arg(&cert)
                    .arg("--tls-key-file")
                    .arg(&key)
                    .arg("--tls-ca-cert-file")
                    .arg(&cert);
            }
            Role::Primary => {
                cmd.args(["--port", &self.port.to_string()]);
            }
            Role::Replica { of } => {
                cmd.args(["--port", &self.port.to_string()]).args([
                    "--replicaof",
                    "127.0.0.1",
                    &of.to_string(),
                ]);
            }
        }
        if !matches!(self.role, Role::Sentinel { .. }) {
            // Every data node: loopback only, no persistence, in the foreground, in its dir.
            cmd.args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir)
                .arg("--logfile")
                .arg(&log);
        }
        if !matches!(self.role, Role::Sentinel { .. } | Role::TlsPrimary) {
            // Start a full resync at once instead of waiting 5 s for more replicas.
            cmd.args(["--repl-diskless-sync-delay", "0"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        // Who owns this server, for `reap_orphaned_redis` in a later test process.
        std::fs::write(dir.join("owner.pid"), std::process::id().to_string()).expect("owner.pid");
        std::fs::write(dir.join("server.pid"), child.id().to_string()).expect("server.pid");
        self.process = Process(Some(child));
        self.wait_ready(&log);
    }

    fn wait_ready(&mut self, log: &Path) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let answers = match self.role {
                Role::TlsPrimary => redis::Client::open(format!("{}#insecure", self.url()))
                    .and_then(|c| c.get_connection())
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                    .is_ok(),
                _ => raw_command(self.port, "PING").is_ok_and(|r| r.starts_with("+PONG")),
            };
            if answers {
                return;
            }
            if let Some(status) = self.process.exited() {
                panic!(
                    "redis-server on port {} exited with {status}; log:\n{}",
                    self.port,
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id, while it runs (for the load tool's CPU and memory figures).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if matches!(self.role, Role::TlsPrimary) {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kill with SIGKILL (no shutdown, no goodbye to replicas or Sentinel).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Start again on the same port and directory, with the same role arguments.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Start again on the same port as a replica of `primary_port` (what an orchestrator does
    /// with a failed primary after Sentinel promoted another node).
    pub fn restart_as_replica_of(&mut self, primary_port: u16) {
        self.kill();
        self.role = Role::Replica { of: primary_port };
        self.spawn();
    }

    /// Freeze the process (SIGSTOP): its connections stay open, nothing is answered.
    pub fn pause(&mut self) {
        self.process.signal("STOP");
    }

    /// Thaw a paused process (SIGCONT).
    pub fn resume(&mut self) {
        self.process.signal("CONT");
    }

    /// `INFO <section>` as text.
    pub fn info(&self, section: &str) -> String {
        raw_command(self.port, &format!("INFO {section}")).unwrap_or_default()
    }

    /// Whether this is a replica whose link to its primary is up.
    pub fn is_synced_replica(&self) -> bool {
        let info = self.info("replication");
        info.contains("role:slave") && info.contains("master_link_status:up")
    }
}

/// Poll `check` every 20 ms until it holds or `timeout` passes; panics with `what` on timeout.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A primary, its replicas and three Sentinels monitoring them as `mymaster`.
#[derive(Debug)]
pub struct SentinelCluster {
    /// The data nodes; which one is primary changes with failovers.
    pub nodes: Vec<RedisServer>,
    /// The Sentinels.
    pub sentinels: Vec<RedisServer>,
}

/// The master name used by [`SentinelCluster`].
pub const MASTER_NAME: &str = "mymaster";

/// How long a Sentinel of [`SentinelCluster::start`] waits before judging a node down: quick,
/// for tests of what a host does across one failover.
pub const QUICK_DOWN_AFTER: Duration = Duration::from_millis(1000);

impl SentinelCluster {
    /// A primary and one replica, Sentinels judging after [`QUICK_DOWN_AFTER`].
    pub fn start() -> Self {
        Self::start_with(1, QUICK_DOWN_AFTER)
    }

    /// A primary and `replicas` replicas; waits until they are in sync and every Sentinel
    /// knows them and the other Sentinels.
    pub fn start_with(replicas: usize, down_after: Duration) -> Self {
        let primary = RedisServer::primary();
        let port = primary.port();
        let mut nodes = vec![primary];
        for _ in 0..replicas {
            nodes.push(RedisServer::replica_of(port));
        }
        Self::monitor(nodes, port, down_after)
    }

    /// Sentinels for `nodes` (a primary first, then its replicas), monitoring the primary at
    /// `primary_port` (its own, or a proxy's in front of it) and judging a node down after
    /// `down_after`; waits until the replicas are in sync and every Sentinel knows them and
    /// the other Sentinels.
    pub fn monitor(nodes: Vec<RedisServer>, primary_port: u16, down_after: Duration) -> Self {
        let replicas = nodes.len() - 1;
        wait_until("the replicas are in sync", Duration::from_secs(15), || {
            nodes[1..].iter().all(RedisServer::is_synced_replica)
        });
        let sentinels: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::sentinel(primary_port, MASTER_NAME, down_after))
            .collect();
        let cluster = SentinelCluster { nodes, sentinels };
        wait_until(
            "every Sentinel sees the replicas and the other Sentinels",
            Duration::from_secs(20),
            || {
                cluster.sentinels.iter().all(|s| {
                    let info = raw_command(s.port(), &format!("SENTINEL MASTER {MASTER_NAME}"))
                        .unwrap_or_default();
                    field(&info, "num-slaves") == Some(replicas as u64)
                        && field(&info, "num-other-sentinels") == Some(2)
                })
            },
        );
        cluster
    }

    /// Wait until every Sentinel sees `replicas` healthy replicas of the current primary
    /// (flags exactly `slave`, link up): a failover started now can promote one.
    pub fn wait_healthy(&self, replicas: usize, timeout: Duration) {
        wait_until("every Sentinel sees healthy replicas", timeout, || {
            self.sentinels.iter().all(|s| {
                let reply = raw_command(s.port(), &format!("SENTINEL REPLICAS {MASTER_NAME}"))
                    .unwrap_or_default();
                let lines: Vec<&str> = reply
                    .lines()
                    .filter(|l| !l.starts_with(['*', '$']))
                    .map(str::trim)
                    .collect();
                let pairs = |name: &str, value: &str| {
                    lines
                        .windows(2)
                        .filter(|w| w[0] == name && w[1] == value)
                        .count()
                };
                pairs("flags", "slave") == replicas && pairs("master-link-status", "ok") == replicas
            })
        });
    }

    /// Sentinel URLs for the store config.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::url).collect()
    }

    /// The port the Sentinels currently name as primary.
    pub fn master_port(&self) -> Option<u16> {
        let reply = raw_command(
            self.sentinels[0].port(),
            &format!("SENTINEL get-master-addr-by-name {MASTER_NAME}"),
        )
        .ok()?;
        reply
            .lines()
            .filter(|l| !l.starts_with(['*', '$']))
            .nth(1)?
            .trim()
            .parse()
            .ok()
    }

    /// Index in `nodes` of the node on `port`.
    pub fn node_on(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .expect("a node on that port")
    }
}

/// A numeric field of a flat `SENTINEL MASTER` reply (name and value on alternating lines).
fn field(reply: &str, name: &str) -> Option<u64> {
    let lines: Vec<&str> = reply
        .lines()
        .filter(|l| !l.starts_with(['*', '$']))
        .collect();
    lines
        .iter()
        .position(|l| l.trim() == name)
        .and_then(|i| lines.get(i + 1))
        .and_then(|v| v.trim().parse().ok())
}

/// One running `nats-server` (core NATS, JetStream enabled), on a free port.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    dir: TempDir,
    process: Process,
    /// A config file, and the environment it reads (the shipped `examples/nats-server.conf`).
    config: Option<(PathBuf, Vec<(String, String)>)>,
}

/// Write `plugins.toml` (the `chain` text, `{plugins}` replaced by the components' folder) and
/// `chowk.toml` (a token secret, that chain, `[redis]` with `redis` as its body, then `extra`)
/// into `dir`; the path of `chowk.toml`, for [`ChowkProcess::serve`] and [`chowk_token`].
pub fn write_host_config(dir: &Path, chain: &str, redis: &str, extra: &str) -> PathBuf {
    let chain = chain.replace("{plugins}", &crate::plugins_dir().display().to_string());
    std::fs::write(dir.join("plugins.toml"), chain).expect("write plugins.toml");
    let config = dir.join("chowk.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\njwt_secret = \"host-test-secret-0123456789abcdef01234\"\n\
             [plugins]\npath = \"plugins.toml\"\n[redis]\n{redis}\n{extra}"
        ),
    )
    .expect("write chowk.toml");
    config
}

/// The shipped NATS config: accounts and per-subject permissions (`examples/nats-server.conf`).
pub fn shipped_nats_config() -> PathBuf {
    crate::repo_root().join("examples/nats-server.conf")
}

impl NatsServer {
    /// Start a server and wait until it accepts connections.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Start a server running the config file `config` (its port replaced by a free one), with
    /// `env` in its environment, and wait until it accepts connections.
    pub fn with_config(config: &Path, env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::launch(Some((config.to_owned(), env)))
    }

    fn launch(config: Option<(PathBuf, Vec<(String, String)>)>) -> Self {
        require_binary("nats-server", "nats-server");
        let dir = tempfile::Builder::new()
            .prefix("chowk-nats-")
            .tempdir()
            .expect("temp dir");
        let mut server = NatsServer {
            port: free_port(),
            dir,
            process: Process::default(),
            config,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("nats-server");
        if let Some((config, env)) = &self.config {
            cmd.arg("-c").arg(config).envs(env.iter().cloned());
        }
        let child = cmd
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .arg("-l")
            .arg(self.dir.path().join("nats.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.process = Process(Some(child));
        let port = self.port;
        wait_until("nats-server accepts connections", START_TIMEOUT, || {
            TcpStream::connect(("127.0.0.1", port))
                .and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_secs(1)))?;
                    let mut buf = [0u8; 4];
                    s.read_exact(&mut buf)?;
                    Ok(&buf == b"INFO")
                })
                .unwrap_or(false)
        });
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stop the server (SIGKILL).
    pub fn stop(&mut self) {
        self.process.kill();
    }

    /// Start it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Freeze the server (SIGSTOP): connections stay open but nothing is read, so clients'
    /// buffers fill — a hung bus, worse for clients than a dead one.
    pub fn pause(&mut self) {
        self.process.signal("STOP");
    }

    /// Thaw a paused server (SIGCONT).
    pub fn resume(&mut self) {
        self.process.signal("CONT");
    }
}

/// The shipped HAProxy config for Redis (`examples/haproxy-redis.cfg`).
const HAPROXY_CONFIG: &str = include_str!("../../examples/haproxy-redis.cfg");

/// A real `haproxy` in front of Redis nodes, running the shipped config with this test's
/// ports: clients reach whichever node answers `role:master`.
#[derive(Debug)]
pub struct HaProxy {
    port: u16,
    _dir: TempDir,
    _process: Process,
}

impl HaProxy {
    /// Start it in front of the data nodes on `nodes`, and wait until it routes to the primary
    /// on `primary` (a dozen connections in a row answer `role:master`).
    pub fn start(nodes: &[u16], primary: u16) -> Self {
        let binary = require_binary("haproxy", "haproxy");
        let dir = tempfile::Builder::new()
            .prefix("chowk-haproxy-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let mut config = String::new();
        let mut servers_written = false;
        for line in HAPROXY_CONFIG.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("bind ") {
                config.push_str(&format!("    bind 127.0.0.1:{port}\n"));
            } else if trimmed.starts_with("server ") {
                if !servers_written {
                    for (i, node) in nodes.iter().enumerate() {
                        config.push_str(&format!(
                            "    server redis-{i} 127.0.0.1:{node} check inter 500ms fall 2 rise 2\n"
                        ));
                    }
                    servers_written = true;
                }
            } else {
                config.push_str(line);
                config.push('\n');
            }
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        let child = Command::new(binary)
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        let proxy = HaProxy {
            port,
            _dir: dir,
            _process: Process(Some(child)),
        };
        proxy.wait_routes_to(primary, Duration::from_secs(20));
        proxy
    }

    /// Wait until a dozen connections in a row reach the node on `port` (by its `tcp_port`).
    pub fn wait_routes_to(&self, port: u16, timeout: Duration) {
        let expect = format!("tcp_port:{port}");
        let mut in_a_row = 0;
        wait_until("HAProxy routes to the primary", timeout, || {
            let hit =
                raw_command(self.port, "INFO server").is_ok_and(|info| info.contains(&expect));
            in_a_row = if hit { in_a_row + 1 } else { 0 };
            in_a_row >= 12
        });
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// The `chowk` binary cargo built next to this test binary (`target/<profile>/chowk`).
pub fn chowk_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let path = dir.join("chowk");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo test -p chowk-host --no-run` (`cargo xtask test` does)",
        path.display()
    );
    path
}

/// A `chowk serve` process on a free port, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct ChowkProcess {
    process: Process,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// What it wrote to stderr so far (when started with [`ChowkProcess::serve_logged`]).
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ChowkProcess {
    /// `chowk serve --config <config> --listen 127.0.0.1:0`, waited for until it prints where
    /// it listens.
    pub fn serve(config: &Path) -> Self {
        Self::start(config, &[], "warn", false)
    }

    /// Like [`ChowkProcess::serve`] with `args` added, logging at `info` into
    /// [`ChowkProcess::stderr`] (also echoed to this process's stderr).
    pub fn serve_logged(config: &Path, args: &[&str]) -> Self {
        Self::start(config, args, "info", true)
    }

    /// `binary serve --config <config>` (another build of `chowk`, such as the load tool's
    /// release binary or an older commit's), logging at `warn`.
    pub fn serve_binary(binary: &Path, config: &Path) -> Self {
        Self::launch(binary, config, &[], "warn", false)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    fn start(config: &Path, args: &[&str], log: &str, capture: bool) -> Self {
        Self::launch(&chowk_binary(), config, args, log, capture)
    }

    fn launch(binary: &Path, config: &Path, args: &[&str], log: &str, capture: bool) -> Self {
        let mut child = Command::new(binary)
            .args(args)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("CHOWK_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if capture {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("start chowk serve");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    eprintln!("{line}");
                    let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                    text.push_str(&line);
                    text.push('\n');
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(base) = line.strip_prefix("chowk: listening on ") {
                    let _ = tx.send(base.trim().to_owned());
                }
            }
        });
        let mut process = Process(Some(child));
        let base = match rx.recv_timeout(CHOWK_START_TIMEOUT) {
            Ok(base) => base,
            Err(_) => {
                let status = process.exited();
                panic!("chowk serve did not start listening (exit status: {status:?}); see its log above")
            }
        };
        ChowkProcess {
            process,
            base,
            stderr,
        }
    }

    /// The stderr captured so far.
    pub fn log(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wait (at most 10 s) until the captured stderr contains `text`; the log so far otherwise.
    pub fn wait_for_log(&self, text: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(text) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(log);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no final relay drain.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Send a signal (`HUP`, `TERM`, ...) with `kill`.
    pub fn signal(&mut self, signal: &str) {
        self.process.signal(signal);
    }

    /// SIGTERM, then wait (at most `timeout`) for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.process.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "chowk serve did not exit within {timeout:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `chowk token --config <config> --user <user> --role <role>`: a token the server accepts.
pub fn chowk_token(config: &Path, user: &str, role: &str) -> String {
    let config = config.to_str().expect("utf-8 path");
    let (ok, out, err) = chowk(&["token", "--config", config, "--user", user, "--role", role]);
    assert!(ok, "chowk token failed: {err}");
    out.trim().to_owned()
}

/// Run `chowk <args>` to completion: (success, stdout, stderr).
pub fn chowk(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(chowk_binary())
        .args(args)
        .output()
        .expect("run chowk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
