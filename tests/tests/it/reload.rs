//! Hot reload on one host: while a client posts continuously, the chain files are changed 21
//! times (config changes, plugins added, removed and reordered, a component replaced, invalid
//! configs, broken and foreign components, a save by rename). No request fails, every response
//! carries a generation that was a valid chain, invalid changes are reported and keep the
//! previous generation, and the first message judged after each swap follows the new rules.
//! Also: the admin reload endpoint, and plugin state surviving a reload.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use chowk_host::auth::Role;
use chowk_tests::api::{create_room, Api, Reply, Setup, FLAGGED_TEXT};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(10);

/// A folder holding the chain: `plugins.toml` plus copies of the components, so tests can
/// replace them.
struct ChainDir {
    dir: tempfile::TempDir,
}

impl ChainDir {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let plugins = chowk_tests::plugins_dir();
        for name in ["keyword-filter", "spam-rules", "rate-limit"] {
            std::fs::copy(
                plugins.join(format!("{name}.wasm")),
                dir.path().join(format!("{name}.wasm")),
            )
            .expect("copy component");
        }
        std::fs::copy(fixture("misbehave.wasm"), dir.path().join("extra.wasm")).expect("copy");
        ChainDir { dir }
    }

    fn manifest(&self) -> PathBuf {
        self.dir.path().join("plugins.toml")
    }

    fn write(&self, text: &str) {
        std::fs::write(self.manifest(), text).expect("write plugins.toml");
    }

    /// Save the way many editors do: write a temporary file, rename it over the original.
    fn write_by_rename(&self, text: &str) {
        let tmp = self.dir.path().join(".plugins.toml.swp");
        std::fs::write(&tmp, text).expect("write temp");
        std::fs::rename(&tmp, self.manifest()).expect("rename");
    }

    fn replace(&self, component: &str, bytes: &[u8]) {
        std::fs::write(self.dir.path().join(component), bytes).expect("write component");
    }
}

fn fixture(name: &str) -> PathBuf {
    chowk_tests::plugins_dir().join("fixtures").join(name)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read component")
}

/// A manifest: keyword-filter blocking `blocked`, then `extra` plugins as given.
fn chain(flag_at: f64, filter_mode: &str, blocked: &str, rest: &str) -> String {
    let reject_at = (flag_at * 2.0).max(8.0);
    format!(
        r#"version = 1
[chain]
flag_at = {flag_at:.1}
reject_at = {reject_at:.1}

[[plugins]]
name = "keyword-filter"
path = "keyword-filter.wasm"
mode = "{filter_mode}"
[[plugins.config.lists]]
name = "blocked"
action = "reject"
terms = ["{blocked}"]
[[plugins.config.lists]]
name = "masked"
action = "mask"
terms = ["idiot"]
{rest}"#
    )
}

const SPAM: &str = "\n[[plugins]]\nname = \"spam-rules\"\npath = \"spam-rules.wasm\"\n";
const EXTRA: &str = "\n[[plugins]]\nname = \"extra\"\npath = \"extra.wasm\"\n";
const LIMIT: &str = "\n[[plugins]]\nname = \"rate-limit\"\npath = \"rate-limit.wasm\"\nrooms = [\"limited\"]\n[plugins.config]\nper_sender_room = { max = 1, window_ms = 60000 }\n";

async fn chain_report(api: &Api) -> Value {
    let admin = api.token("root", Role::Admin);
    let r = api
        .call(Method::GET, "/v1/admin/plugins", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    r.json
}

/// Poll the admin report until `done` holds (or fail after the deadline).
async fn wait_for(api: &Api, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let report = chain_report(api).await;
        if done(&report) {
            return report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {report}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn post(api: &Api, room: &str, sender: &str, text: &str) -> Reply {
    let token = api.token(sender, Role::Member);
    api.call(
        Method::POST,
        &format!("/v1/rooms/{room}/messages"),
        Some(&token),
        Some(json!({"text": text})),
    )
    .await
}

fn plugin_names(report: &Value) -> Vec<String> {
    report["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect()
}

/// What a change should do.
enum Expect {
    /// A new chain with this generation.
    Generation(u64),
    /// Refused, naming this plugin (or none for manifest errors); the generation stays.
    Refused(Option<&'static str>),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_changes_under_load() {
    let files = ChainDir::new();
    files.write(&chain(3.5, "enforce", "mango", EXTRA));
    let api = Arc::new(
        Api::start(Setup {
            chain_file: Some(files.manifest()),
            ..Setup::default()
        })
        .await,
    );
    create_room(&api, "lobby", "open").await;
    create_room(&api, "limited", "open").await;

    // The continuous client.
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (api, stop) = (api.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let r = post(
                    &api,
                    "lobby",
                    &format!("bg{}", i % 50),
                    &format!("hello {i}"),
                )
                .await;
                assert_eq!(
                    r.status,
                    StatusCode::CREATED,
                    "background post {i} failed: {r:?}"
                );
                seen.push(r.json["generation"].as_u64().expect("generation"));
            }
            seen
        })
    };

    let spam = read(&chowk_tests::plugins_dir().join("spam-rules.wasm"));
    let misbehave = read(&fixture("misbehave.wasm"));
    let wrong_version = read(&fixture("wrong-version.wasm"));
    let mut valid = vec![1u64];
    let mut failures = 0u64;
    let mut generation = 1u64;
    let mut step = 0;
    let mut change = |label: &'static str| {
        step += 1;
        eprintln!("change {step}: {label}");
        step
    };

    // Each change, what it must do, and a probe of the new rules on the first message after.
    macro_rules! expect {
        ($expect:expr) => {{
            match $expect {
                Expect::Generation(g) => {
                    let report =
                        wait_for(&api, &format!("generation {g}"), |r| r["generation"] == g).await;
                    assert!(report["reload"]["last_error"].is_null(), "{report}");
                    generation = g;
                    valid.push(g);
                    report
                }
                Expect::Refused(plugin) => {
                    failures += 1;
                    let f = failures;
                    let report =
                        wait_for(&api, "a reported failure", |r| r["reload"]["failures"] == f)
                            .await;
                    assert_eq!(
                        report["generation"], generation,
                        "the previous chain stays live"
                    );
                    let error = &report["reload"]["last_error"];
                    assert_eq!(error["kept_generation"], generation);
                    assert_eq!(error["plugin"].as_str(), plugin, "{error}");
                    assert!(!error["reason"].as_str().unwrap_or("").is_empty());
                    report
                }
            }
        }};
    }

    change("config: block papaya instead of mango");
    files.write(&chain(3.5, "enforce", "papaya", EXTRA));
    expect!(Expect::Generation(2));
    let r = post(&api, "lobby", "probe", "fresh papaya today").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "rejected")
    );
    let r = post(&api, "lobby", "probe", "fresh mango today").await;
    assert_eq!(
        (r.status, &r.json["generation"]),
        (StatusCode::CREATED, &json!(2))
    );

    change("add a plugin: spam-rules");
    files.write(&chain(3.5, "enforce", "papaya", &format!("{EXTRA}{SPAM}")));
    expect!(Expect::Generation(3));
    let r = post(&api, "lobby", "probe", FLAGGED_TEXT).await;
    assert_eq!(
        (&r.json["action"], &r.json["generation"]),
        (&json!("flag"), &json!(3)),
        "{r:?}"
    );

    change("reorder: spam-rules before extra");
    files.write(&chain(3.5, "enforce", "papaya", &format!("{SPAM}{EXTRA}")));
    let report = expect!(Expect::Generation(4));
    assert_eq!(
        plugin_names(&report),
        ["keyword-filter", "spam-rules", "extra"]
    );

    change("remove a plugin: extra");
    files.write(&chain(3.5, "enforce", "papaya", SPAM));
    let report = expect!(Expect::Generation(5));
    assert_eq!(plugin_names(&report), ["keyword-filter", "spam-rules"]);

    change("invalid config: TOML syntax error");
    files.write("version = 1\n[[plugins]\nname = ");
    expect!(Expect::Refused(None));
    let r = post(&api, "lobby", "probe", FLAGGED_TEXT).await;
    assert_eq!(
        (&r.json["action"], &r.json["generation"]),
        (&json!("flag"), &json!(5)),
        "old rules still apply"
    );

    change("config saved by rename: raise flag_at, extra back");
    files.write_by_rename(&chain(
        100.0,
        "enforce",
        "papaya",
        &format!("{SPAM}{EXTRA}"),
    ));
    expect!(Expect::Generation(6));
    let before = post(&api, "lobby", "probe", FLAGGED_TEXT).await;
    assert_eq!(
        (&before.json["action"], &before.json["generation"]),
        (&json!("allow"), &json!(6))
    );

    change("replace a .wasm: extra becomes the spam rules");
    files.replace("extra.wasm", &spam);
    let report = expect!(Expect::Generation(7));
    assert_eq!(
        report["plugins"][2]["hash"], report["plugins"][1]["hash"],
        "extra runs the spam-rules component now"
    );
    let after = post(&api, "lobby", "probe", FLAGGED_TEXT).await;
    assert_eq!(after.json["generation"], 7);
    let (b, a) = (
        before.json["score"].as_f64().expect("score"),
        after.json["score"].as_f64().expect("score"),
    );
    assert!(
        (a - 2.0 * b).abs() < 1e-9,
        "both spam-rules instances score: {b} then {a}"
    );

    change("broken .wasm");
    files.replace("extra.wasm", b"\0asm but not really a component");
    expect!(Expect::Refused(Some("extra")));

    change("a valid component again");
    files.replace("extra.wasm", &misbehave);
    expect!(Expect::Generation(8));
    let r = post(&api, "lobby", "probe", FLAGGED_TEXT).await;
    assert_eq!(r.json["score"].as_f64(), Some(b), "extra no longer scores");

    change("config: mask list used");
    files.write(&chain(3.5, "enforce", "papaya", &format!("{SPAM}{EXTRA}")));
    expect!(Expect::Generation(9));
    let r = post(&api, "lobby", "probe", "you idiot").await;
    assert_eq!(
        (&r.json["action"], &r.json["generation"]),
        (&json!("rewrite"), &json!(9)),
        "{r:?}"
    );

    change("invalid config: unknown key");
    files.write(&format!(
        "{}\ncolour = \"red\"\n",
        chain(3.5, "enforce", "papaya", SPAM)
    ));
    expect!(Expect::Refused(None));

    change("invalid config: a component that does not exist");
    files.write(&chain(
        3.5,
        "enforce",
        "papaya",
        "\n[[plugins]]\nname = \"ghost\"\npath = \"ghost.wasm\"\n",
    ));
    expect!(Expect::Refused(Some("ghost")));

    change("keyword-filter in shadow mode");
    files.write(&chain(3.5, "shadow", "papaya", SPAM));
    expect!(Expect::Generation(10));
    let r = post(&api, "lobby", "probe", "papaya in shadow").await;
    assert_eq!(
        (r.status, &r.json["generation"]),
        (StatusCode::CREATED, &json!(10))
    );

    change("enforce again");
    files.write(&chain(3.5, "enforce", "papaya", SPAM));
    expect!(Expect::Generation(11));
    let r = post(&api, "lobby", "probe", "papaya enforced").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    change("add a rate limit in one room");
    files.write(&chain(3.5, "enforce", "papaya", &format!("{SPAM}{LIMIT}")));
    expect!(Expect::Generation(12));
    assert_eq!(
        post(&api, "limited", "probe", "first").await.status,
        StatusCode::CREATED
    );
    let r = post(&api, "limited", "probe", "second").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );

    change("config of the rate limit changed: its counters survive");
    files.write(&chain(
        3.5,
        "enforce",
        "papaya",
        &format!("{SPAM}{}", LIMIT.replace("max = 1", "max = 2")),
    ));
    expect!(Expect::Generation(13));
    let r = post(&api, "limited", "probe", "third").await;
    assert_eq!(r.status, StatusCode::CREATED, "one more allowed: {r:?}");
    let r = post(&api, "limited", "probe", "fourth").await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "state kept across the reload: {r:?}"
    );

    change("remove the rate limit");
    files.write(&chain(3.5, "enforce", "papaya", &format!("{SPAM}{EXTRA}")));
    expect!(Expect::Generation(14));
    assert_eq!(
        post(&api, "limited", "probe", "fifth").await.status,
        StatusCode::CREATED
    );

    change("a component of another contract version");
    files.replace("extra.wasm", &wrong_version);
    expect!(Expect::Refused(Some("extra")));

    change("the component restored");
    files.replace("extra.wasm", &misbehave);
    let report = wait_for(&api, "the error cleared", |r| {
        r["reload"]["last_error"].is_null()
    })
    .await;
    assert_eq!(
        report["generation"], 14,
        "the same chain as before: no new generation"
    );

    change("config: block guava");
    files.write(&chain(3.5, "enforce", "guava", &format!("{SPAM}{EXTRA}")));
    expect!(Expect::Generation(15));
    let r = post(&api, "lobby", "probe", "guava juice").await;
    assert_eq!(
        (r.status, &r.json["generation"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &Value::Null)
    );
    assert_eq!(r.code(), "rejected");

    change("down to one plugin");
    files.write(&chain(3.5, "enforce", "guava", ""));
    let report = expect!(Expect::Generation(16));
    assert_eq!(plugin_names(&report), ["keyword-filter"]);
    let r = post(&api, "lobby", "probe", FLAGGED_TEXT).await;
    assert_eq!(
        (&r.json["action"], &r.json["generation"]),
        (&json!("allow"), &json!(16))
    );
    assert_eq!((step, generation), (21, 16), "21 changes, 16 valid chains");

    stop.store(true, Ordering::Relaxed);
    let seen = background.await.expect("background client");
    assert!(
        seen.len() > 20,
        "the client kept posting: {} posts",
        seen.len()
    );
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "generations never go back"
    );
    assert!(
        seen.iter().all(|g| valid.contains(g)),
        "every generation was a valid chain: {valid:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_reload_on_demand() {
    let files = ChainDir::new();
    files.write(&chain(3.5, "enforce", "mango", ""));
    let api = Api::start(Setup {
        chain_file: Some(files.manifest()),
        watch: Some(false),
        ..Setup::default()
    })
    .await;
    let admin = api.token("root", Role::Admin);
    let member = api.token("asha", Role::Member);
    files.write(&chain(3.5, "enforce", "papaya", ""));
    let r = api
        .call(
            Method::POST,
            "/v1/admin/plugins/reload",
            Some(&member),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        chain_report(&api).await["generation"],
        1,
        "not watching: nothing reloaded"
    );
    let r = api
        .call(Method::POST, "/v1/admin/plugins/reload", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.json, json!({"outcome": "swapped", "generation": 2}));
    let r = api
        .call(Method::POST, "/v1/admin/plugins/reload", Some(&admin), None)
        .await;
    assert_eq!(r.json, json!({"outcome": "unchanged", "generation": 2}));
    files.write("not toml at all [");
    let r = api
        .call(Method::POST, "/v1/admin/plugins/reload", Some(&admin), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "reload_failed"),
        "{r:?}"
    );
    assert_eq!(r.json["error"]["kept_generation"], 2);
    let text = api.call(Method::GET, "/metrics", None, None).await;
    let text = text.json.as_str().expect("metrics text");
    assert!(text.contains("chowk_chain_reloads_total 1"), "{text}");
    assert!(
        text.contains("chowk_chain_reload_failures_total 1"),
        "{text}"
    );
}

/// A fleet host can be handed revisions out of order (two KV updates handled at once): the
/// older one must never replace the newer, whatever the order the calls end in.
#[test]
fn an_older_generation_never_replaces_a_newer_one() {
    use chowk_host::clock::SystemClock;
    use chowk_host::plugins::reload::{ChainSource, ReloadOutcome, Reloader};
    use chowk_host::plugins::{ChainContext, MemoryState};

    let dir = ChainDir::new();
    dir.write(&chain(3.5, "enforce", "first", ""));
    let clock = Arc::new(SystemClock);
    let ctx = ChainContext {
        engine: chowk_tests::engine(),
        state: Arc::new(MemoryState::new(clock.clone())),
        clock,
        max_text_chars: chowk_host::ids::DEFAULT_TEXT_CHARS,
    };
    let first = ChainSource::from_file(&dir.manifest()).expect("source");
    let reloader = Reloader::start(ctx, &first, 1).expect("chain");
    dir.write(&chain(3.5, "enforce", "newest", ""));
    let newest = ChainSource::from_file(&dir.manifest()).expect("source");
    dir.write(&chain(3.5, "enforce", "older", ""));
    let older = ChainSource::from_file(&dir.manifest()).expect("source");

    assert_eq!(
        reloader.apply(&newest, Some(7)),
        Ok(ReloadOutcome::Swapped { generation: 7 })
    );
    assert_eq!(
        reloader.apply(&older, Some(5)),
        Ok(ReloadOutcome::Unchanged { generation: 7 }),
        "revision 5 arrived after 7 and must not be applied"
    );
    assert_eq!(reloader.generation(), 7);
    let live = reloader.live().load_full();
    let decision = live.evaluate(&chowk_tests::msg("the newest word", "asha", "lobby"));
    assert_eq!(
        decision.action,
        chowk_host::plugins::Action::Reject,
        "{decision:?}"
    );
}
