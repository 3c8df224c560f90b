//! The first hour of an operator and a plugin author, as the README tells it, with the real
//! binaries: `chowk init` → `chowk rooms create` → `chowk serve` → post and read (real Redis and
//! NATS); the error texts they meet first; `cargo xtask stack` (the HA topology behind HAProxy)
//! started, used by a host and stopped with SIGINT leaving nothing behind; and a plugin
//! scaffolded with `chowk plugin new`, built with `cargo xtask plugins` and loaded in a host.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chowk_tests::servers::{chowk, chowk_token, ChowkProcess, NatsServer, RedisServer};
use serde_json::{json, Value};

fn utf8(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

async fn post(base: &str, room: &str, token: &str, text: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/rooms/{room}/messages"))
        .bearer_auth(token)
        .json(&json!({ "text": text }))
        .send()
        .await
        .expect("chowk answers");
    (r.status().as_u16(), r.json().await.expect("json"))
}

async fn history(base: &str, room: &str, token: &str) -> Vec<String> {
    let r: Value = reqwest::Client::new()
        .get(format!("{base}/v1/rooms/{room}/messages"))
        .bearer_auth(token)
        .send()
        .await
        .expect("chowk answers")
        .json()
        .await
        .expect("json");
    r["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// README, "Run a server": init, create a room, serve, post, read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walk_from_init_to_a_read() {
    let redis = RedisServer::primary();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = chowk_tests::plugins_dir();
    let (ok, out, err) = chowk(&[
        "init",
        "--dir",
        utf8(dir.path()),
        "--redis",
        &redis.url(),
        "--nats",
        &nats.url(),
        "--plugins-dir",
        utf8(&plugins),
    ]);
    assert!(ok, "chowk init failed: {err}");
    assert!(out.contains("chowk serve --config"), "{out}");
    let config = dir.path().join("chowk.toml");
    let text = std::fs::read_to_string(&config).expect("chowk.toml written");
    assert!(!text.contains("change-me"), "{text}");
    assert!(dir.path().join("plugins.toml").is_file());
    let (ok, _, err) = chowk(&["init", "--dir", utf8(dir.path())]);
    assert!(
        !ok && err.contains("--force"),
        "init must not overwrite: {err}"
    );

    let (ok, out, err) = chowk(&[
        "rooms",
        "create",
        "mandi",
        "--name",
        "Mandi traders",
        "--config",
        utf8(&config),
    ]);
    assert!(ok, "chowk rooms create failed: {err}");
    assert!(out.contains("mandi"), "{out}");
    let (ok, _, err) = chowk(&["rooms", "create", "mandi", "--config", utf8(&config)]);
    assert!(!ok && err.contains("already exists"), "{err}");

    let host = ChowkProcess::serve_logged(&config, &[]);
    let member = chowk_token(&config, "asha", "member");
    for room in ["lobby", "mandi"] {
        let (status, body) = post(&host.base, room, &member, "Fresh tomatoes, Rs 30 a kg").await;
        assert_eq!(status, 201, "{room}: {body}");
        assert_eq!(
            history(&host.base, room, &member).await,
            ["Fresh tomatoes, Rs 30 a kg"]
        );
    }
    let (ok, out, err) = chowk(&["rooms", "list", "--config", utf8(&config)]);
    assert!(ok, "{err}");
    assert!(out.contains("lobby") && out.contains("mandi"), "{out}");

    // Logs to a pipe are plain text, with one access line per request.
    host.wait_for_log("route=/v1/rooms/{room}/messages")
        .unwrap_or_else(|log| panic!("no access log line:\n{log}"));
    let log = host.log();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("chowk::access")
            && l.contains("status=201")
            && l.contains("user=asha")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_on_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, _, err) = chowk(&[
        "init",
        "--dir",
        utf8(dir.path()),
        "--plugins-dir",
        utf8(&chowk_tests::plugins_dir()),
    ]);
    assert!(ok, "{err}");
    // An empty chain: this test is about logs, and every plugin costs a compile at start.
    std::fs::write(dir.path().join("plugins.toml"), "version = 1\n").expect("write");
    let config = dir.path().join("chowk.toml");
    let host = ChowkProcess::serve_logged(&config, &["--log-format", "json"]);
    let member = chowk_token(&config, "asha", "member");
    let (status, _) = post(&host.base, "lobby", &member, "hello").await;
    assert_eq!(status, 201);
    host.wait_for_log("chowk::access")
        .unwrap_or_else(|log| panic!("no access log line:\n{log}"));
    let access = host
        .log()
        .lines()
        .filter(|l| l.contains("chowk::access"))
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON log line"))
        .find(|v| v["fields"]["status"] == 201)
        .expect("the post's access line");
    assert_eq!(access["fields"]["user"], "asha", "{access}");
    assert_eq!(
        access["fields"]["route"], "/v1/rooms/{room}/messages",
        "{access}"
    );
}

/// The errors an operator meets first say what to do, once.
#[test]
fn start_up_errors_say_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("chowk.toml");
    let (ok, _, err) = chowk(&["serve", "--config", utf8(&missing)]);
    assert!(!ok);
    assert!(err.contains("write one with `chowk init`"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    let no_chain = dir.path().join("no-chain.toml");
    std::fs::write(
        &no_chain,
        "[auth]\njwt_secret = \"first-hour-test-secret-0123456789abcdef\"\n\
         [plugins]\npath = \"missing-plugins.toml\"\n",
    )
    .expect("write");
    let (ok, _, err) = chowk(&["serve", "--config", utf8(&no_chain)]);
    assert!(!ok);
    assert!(
        err.contains("plugin chain") && err.contains("missing-plugins.toml"),
        "{err}"
    );
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    let example = chowk_tests::repo_root().join("chowk.example.toml");
    let (ok, _, err) = chowk(&["token", "--config", utf8(&example), "--user", "asha"]);
    assert!(!ok);
    assert!(
        err.contains("placeholder") && err.contains("chowk init"),
        "{err}"
    );

    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, "just some text, not a component").expect("write");
    let (ok, out, err) = chowk(&["plugin", "check", utf8(&not_wasm)]);
    assert!(!ok);
    let said = format!("{out}{err}");
    assert!(said.contains("not a WebAssembly file"), "{said}");
    assert_eq!(
        said.trim().lines().count(),
        1,
        "one line, no byte dumps: {said}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let dev = dir.path().join("dev.toml");
    std::fs::write(
        &dev,
        format!(
            "[plugins]\npath = \"{}\"\nwatch = false\n",
            chowk_tests::repo_root().join("plugins.toml").display()
        ),
    )
    .expect("write");
    let (ok, _, err) = chowk(&["serve", "--dev", "--config", utf8(&dev), "--listen", &addr]);
    assert!(!ok);
    assert!(
        err.contains("already in use") && err.contains("--listen"),
        "{err}"
    );

    // Rooms of the in-memory store cannot be managed from outside the server: say so.
    let trial = dir.path().join("trial.toml");
    std::fs::write(
        &trial,
        "[auth]\njwt_secret = \"first-hour-test-secret-0123456789abcdef\"\n",
    )
    .expect("write");
    let (ok, _, err) = chowk(&["rooms", "list", "--config", utf8(&trial)]);
    assert!(!ok);
    assert!(
        err.contains("no [redis]") && err.contains("bootstrap.rooms"),
        "{err}"
    );
}

/// `target/debug/xtask`, which `cargo xtask test` itself runs from.
fn xtask() -> PathBuf {
    let path = chowk_tests::repo_root().join("target/debug/xtask");
    assert!(
        path.is_file(),
        "{} is missing: run the suite with `cargo xtask test` (or build it: cargo build -p xtask)",
        path.display()
    );
    path
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only a running (or sleeping) process counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_serves_a_host_through_haproxy_and_stops_on_sigint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stack_dir = dir.path().join("stack");
    let mut stack = Stack(
        Command::new(xtask())
            .args(["stack", "--dir", utf8(&stack_dir)])
            .current_dir(chowk_tests::repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cargo xtask stack"),
    );
    let stdout = stack.0.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            println!("{line}");
            let _ = tx.send(line);
        }
    });
    let mut pids: Vec<u32> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the stack did not get ready within 60 s");
        if let Some(list) = line.strip_prefix("stack: pids ") {
            pids = list.split(' ').map(|p| p.parse().expect("pid")).collect();
        }
        if line.starts_with("stack: ready") {
            break;
        }
    }
    assert_eq!(
        pids.len(),
        8,
        "3 data nodes, 3 sentinels, haproxy, nats: {pids:?}"
    );
    let config = stack_dir.join("chowk.toml");
    let text = std::fs::read_to_string(&config).expect("chowk.toml");
    assert!(
        text.contains("[redis]") && text.contains("[nats]"),
        "{text}"
    );

    // The host runs an empty chain (this test is about the topology; plugins cost a compile).
    let empty = dir.path().join("plugins.toml");
    std::fs::write(&empty, "version = 1\n").expect("write");
    let plugins_line = text
        .lines()
        .find(|l| l.starts_with("path = "))
        .expect("[plugins] path");
    let host_config = dir.path().join("host.toml");
    std::fs::write(
        &host_config,
        text.replace(plugins_line, &format!("path = \"{}\"", empty.display())),
    )
    .expect("write");
    let host = ChowkProcess::serve(&host_config);
    let member = chowk_token(&config, "asha", "member");
    let (status, body) = post(&host.base, "lobby", &member, "Through HAProxy").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        history(&host.base, "lobby", &member).await,
        ["Through HAProxy"]
    );
    drop(host);

    let status = Command::new("kill")
        .args(["-INT", &stack.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = stack.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the stack did not stop within 20 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "stack exit: {exit}");
    let left: Vec<u32> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// The running `cargo xtask stack`: stopped with SIGINT (so it stops what it started) when a
/// failing test ends before it does.
struct Stack(std::process::Child);

impl Drop for Stack {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Restores the plugins workspace (the scaffolded crate, `Cargo.toml`, `Cargo.lock`) however the
/// test ends.
struct Restore {
    crate_dir: PathBuf,
    files: Vec<(PathBuf, String)>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.crate_dir);
        for (path, text) in &self.files {
            let _ = std::fs::write(path, text);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaffolded_plugin_builds_checks_and_runs_in_a_host() {
    let root = chowk_tests::repo_root();
    let name = "scaffold-probe";
    let plugins = root.join("plugins");
    let _restore = Restore {
        crate_dir: plugins.join(name),
        files: ["Cargo.toml", "Cargo.lock"]
            .iter()
            .map(|f| {
                let path = plugins.join(f);
                let text = std::fs::read_to_string(&path).expect("plugins workspace file");
                (path, text)
            })
            .collect(),
    };
    let (ok, out, err) = chowk(&["plugin", "new", name, "--dir", utf8(&plugins)]);
    assert!(ok, "chowk plugin new failed: {err}");
    assert!(
        out.contains("[[plugins]]"),
        "prints the manifest snippet: {out}"
    );

    let built = Command::new(xtask())
        .arg("plugins")
        .current_dir(&root)
        .status()
        .expect("run cargo xtask plugins");
    assert!(
        built.success(),
        "cargo xtask plugins failed on the scaffold"
    );
    let wasm = root.join(format!("target/plugins/{name}.wasm"));
    let (ok, out, err) = chowk(&["plugin", "check", utf8(&wasm)]);
    assert!(ok, "chowk plugin check refused the scaffold: {out}{err}");

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("plugins.toml"),
        format!(
            "version = 1\n[chain]\nflag_at = 2.0\n\n{}",
            chowk_host_snippet(name, &wasm)
        ),
    )
    .expect("plugins.toml");
    std::fs::write(
        dir.path().join("chowk.toml"),
        "[auth]\njwt_secret = \"first-hour-test-secret-0123456789abcdef\"\n\
         [[bootstrap.rooms]]\nid = \"lobby\"\n",
    )
    .expect("chowk.toml");
    let config = dir.path().join("chowk.toml");
    let host = ChowkProcess::serve(&config);
    let member = chowk_token(&config, "asha", "member");
    let (status, body) = post(&host.base, "lobby", &member, "Win the JACKPOT today").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["action"], "flag", "{body}");
    assert_eq!(body["reasons"][0]["plugin"], name, "{body}");
    let (status, body) = post(&host.base, "lobby", &member, "Fresh mangoes").await;
    assert_eq!((status, &body["action"]), (201, &json!("allow")), "{body}");
}

/// The snippet `chowk plugin new` printed, pointing at the built component.
fn chowk_host_snippet(name: &str, wasm: &Path) -> String {
    format!(
        "[[plugins]]\nname = \"{name}\"\npath = \"{}\"\n\n[plugins.config]\nwords = [\"jackpot\"]\npoints = 2.0\n",
        wasm.display()
    )
}
