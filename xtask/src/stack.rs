//! `cargo xtask stack`: the production topology on one machine, from the binaries on PATH — a
//! Redis primary with two replicas, three Sentinels, HAProxy in front routing to whichever node
//! says `role:master` (the config in `examples/haproxy-redis.cfg`), and a NATS server with
//! JetStream — on free loopback ports, in a folder of its own. It writes a matching
//! `chowk.toml` there, prints it, and stops every process on Ctrl-C (SIGINT) or SIGTERM.

use std::fmt::Write as _;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::packages;

/// The file that marks a folder as the stack's own (safe to clear).
const MARKER: &str = ".chowk-stack";
/// The Sentinel name of the primary.
const MASTER: &str = "chowk";
/// The shipped HAProxy config; its `bind` and `server` lines get this stack's ports.
const HAPROXY: &str = include_str!("../../examples/haproxy-redis.cfg");

/// [`HAPROXY`] listening on `listen`, with one `server` line per data node port.
fn haproxy_config(listen: u16, nodes: &[u16]) -> String {
    let mut out = String::new();
    let mut servers_written = false;
    for line in HAPROXY.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("bind ") {
            let _ = writeln!(out, "    bind 127.0.0.1:{listen}");
        } else if trimmed.starts_with("server ") {
            if !servers_written {
                for (i, port) in nodes.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "    server redis-{i} 127.0.0.1:{port} check inter 500ms fall 2 rise 2"
                    );
                }
                servers_written = true;
            }
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// Processes of the stack, stopped (SIGTERM, then SIGKILL) when dropped.
/// The stack's processes: name, child, and the file its output goes to.
struct Processes(Vec<(String, Child, PathBuf)>);

impl Processes {
    fn spawn(&mut self, name: &str, cmd: &mut Command, log: &Path) -> Result<u32> {
        let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pid = child.id();
        self.0.push((name.to_owned(), child, log.to_owned()));
        Ok(pid)
    }

    fn stop(&mut self) {
        for (_, child, _) in &mut self.0 {
            // SIGTERM first, so servers shut down cleanly.
            let _ = Command::new("kill")
                .arg(child.id().to_string())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (name, child, _) in &mut self.0 {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(None) = child.try_wait() {
                eprintln!("stack: {name} did not stop on SIGTERM; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.0.clear();
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Start the stack in `dir` and run until SIGINT/SIGTERM.
pub fn run(dir: &Path) -> Result<()> {
    packages::ensure(&["redis-server", "nats-server", "haproxy"])?;
    // Clear only a folder a previous stack made (it holds the marker), or an empty one: never,
    // say, `--dir .`.
    let marker = dir.join(MARKER);
    let empty = fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
    if dir.exists() && !empty {
        if !marker.is_file() {
            bail!(
                "{} is not empty and was not made by `cargo xtask stack`: pick another --dir",
                dir.display()
            );
        }
        fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    fs::create_dir_all(dir)?;
    fs::write(
        &marker,
        "made by `cargo xtask stack`; cleared by its next run\n",
    )?;
    let dir = std::path::absolute(dir)?;
    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the SIGINT/SIGTERM handler")?;

    let mut procs = Processes(Vec::new());
    let mut pids = Vec::new();
    let data = [free_port()?, free_port()?, free_port()?];
    for (i, port) in data.iter().enumerate() {
        let node = dir.join(format!("redis-{i}"));
        fs::create_dir_all(&node)?;
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&node);
        if i > 0 {
            cmd.args(["--replicaof", "127.0.0.1", &data[0].to_string()]);
        }
        pids.push(procs.spawn(&format!("redis-{i}"), &mut cmd, &node.join("log"))?);
    }
    let mut sentinels = Vec::new();
    for i in 0..3 {
        let port = free_port()?;
        let node = dir.join(format!("sentinel-{i}"));
        fs::create_dir_all(&node)?;
        let conf = node.join("sentinel.conf");
        fs::write(
            &conf,
            format!(
                "bind 127.0.0.1\nport {port}\ndir {}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {} 2\n\
                 sentinel down-after-milliseconds {MASTER} 3000\n\
                 sentinel failover-timeout {MASTER} 9000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                node.display(),
                data[0]
            ),
        )?;
        let mut cmd = Command::new("redis-server");
        cmd.arg(&conf).arg("--sentinel");
        pids.push(procs.spawn(&format!("sentinel-{i}"), &mut cmd, &node.join("log"))?);
        sentinels.push(port);
    }
    let haproxy_port = free_port()?;
    let haproxy_cfg = dir.join("haproxy.cfg");
    fs::write(&haproxy_cfg, haproxy_config(haproxy_port, &data))?;
    pids.push(
        procs.spawn(
            "haproxy",
            Command::new("haproxy")
                .arg("-db")
                .arg("-f")
                .arg(&haproxy_cfg),
            &dir.join("haproxy.log"),
        )?,
    );
    let nats_port = free_port()?;
    let nats_dir = dir.join("nats");
    fs::create_dir_all(&nats_dir)?;
    pids.push(
        procs.spawn(
            "nats-server",
            Command::new("nats-server")
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &nats_port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(&nats_dir),
            &nats_dir.join("log"),
        )?,
    );

    wait_for_port(haproxy_port, &mut procs)?;
    wait_for_port(nats_port, &mut procs)?;
    wait_for_primary_only(haproxy_port, &mut procs)?;
    let config = chowk_toml(&dir, haproxy_port, nats_port, &sentinels)?;
    let config_path = dir.join("chowk.toml");
    fs::write(&config_path, &config)?;
    println!(
        "stack: redis primary 127.0.0.1:{} (replicas {}, {}), sentinels {:?} (master name `{MASTER}`), \
         haproxy 127.0.0.1:{haproxy_port}, nats 127.0.0.1:{nats_port}",
        data[0], data[1], data[2], sentinels
    );
    println!("stack: pids {}", join(&pids));
    println!("stack: logs in {}", dir.display());
    println!("\n{config}");
    println!(
        "stack: ready; config at {}\n\
         Run a host on it:  chowk serve --config {}\n\
         Stop everything:   Ctrl-C",
        config_path.display(),
        config_path.display()
    );
    loop {
        match stop_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(what) = exited(&mut procs) {
                    procs.stop();
                    bail!("{what}; the logs are in {}", dir.display());
                }
            }
        }
    }
    eprintln!("stack: stopping");
    procs.stop();
    eprintln!("stack: stopped");
    Ok(())
}

fn join(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first process that has exited, with the end of its output (why it stopped).
fn exited(procs: &mut Processes) -> Option<String> {
    procs.0.iter_mut().find_map(|(name, c, log)| {
        matches!(c.try_wait(), Ok(Some(_))).then(|| {
            let output = fs::read_to_string(&*log).unwrap_or_default();
            let tail: Vec<&str> = output.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!(
                "{name} (its last output, {}: {})",
                log.display(),
                tail.join(" | ")
            )
        })
    })
}

fn wait_for_port(port: u16, procs: &mut Processes) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(what) = exited(procs) {
            bail!("while starting: {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on 127.0.0.1:{port} after 20 s")
}

/// HAProxy starts with every server up and marks the replicas down only after their first
/// failed checks: wait until every connection through it reaches the primary.
fn wait_for_primary_only(port: u16, procs: &mut Processes) -> Result<()> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut in_a_row = 0;
    while in_a_row < 12 {
        if Instant::now() > deadline {
            bail!("HAProxy on 127.0.0.1:{port} still routes to a replica after 30 s");
        }
        if let Some(what) = exited(procs) {
            bail!("while starting: {what}");
        }
        let role = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut c| {
            c.set_read_timeout(Some(Duration::from_secs(1)))?;
            c.write_all(b"INFO replication\r\n")?;
            let mut buf = [0u8; 512];
            let n = c.read(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).contains("role:master"))
        });
        if matches!(role, Ok(true)) {
            in_a_row += 1;
        } else {
            in_a_row = 0;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

fn chowk_toml(dir: &Path, haproxy: u16, nats: u16, sentinels: &[u16]) -> Result<String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let plugins = PathBuf::from("plugins.toml");
    let plugins = std::path::absolute(&plugins).unwrap_or(plugins);
    let sentinel_urls: Vec<String> = sentinels
        .iter()
        .map(|p| format!("\"redis://127.0.0.1:{p}\""))
        .collect();
    Ok(format!(
        "# Written by `cargo xtask stack` for the stack in {dir}.\n\
         [auth]\njwt_secret = \"{secret}\"\n\n\
         [plugins]\npath = \"{plugins}\"\n\n\
         # Through HAProxy, which routes to whichever node is the primary. To ask the Sentinels\n\
         # instead: sentinels = [{sentinels}] and master_name = \"{MASTER}\" (without url).\n\
         [redis]\nurl = \"redis://127.0.0.1:{haproxy}\"\n\n\
         [nats]\nurl = \"nats://127.0.0.1:{nats}\"\njetstream = true\n\n\
         [[bootstrap.rooms]]\nid = \"lobby\"\nname = \"Lobby\"\n",
        dir = dir.display(),
        plugins = plugins.display(),
        sentinels = sentinel_urls.join(", "),
    ))
}
