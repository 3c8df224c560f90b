//! Fleet reload over a real nats-server: hosts with `[plugins] source = "nats"` converge on the
//! chain `chowk plugins publish` puts in JetStream (the KV revision is the generation), a host
//! started later loads the current one, publish refuses a chain that does not build, and a bad
//! revision that got into the bucket anyway leaves running hosts on the old generation and lets
//! new hosts start on the last good one, the failure reported either way.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use chowk_host::auth::Role;
use chowk_host::bus::NatsConfig;
use chowk_host::config::PluginSource;
use chowk_tests::api::{create_room, plugin_report as report, wait_generation, Api, Setup};
use chowk_tests::servers::{chowk, NatsServer};
use serde_json::{json, Value};

fn chain(blocked: &str, spam: bool) -> String {
    let mut text = format!(
        "version = 1\n[[plugins]]\nname = \"keyword-filter\"\npath = \"keyword-filter.wasm\"\n\
         [[plugins.config.lists]]\nname = \"b\"\naction = \"reject\"\nterms = [\"{blocked}\"]\n"
    );
    if spam {
        text.push_str("[[plugins]]\nname = \"spam-rules\"\npath = \"spam-rules.wasm\"\n");
    }
    text
}

fn setup_dir(dir: &Path) {
    for name in ["keyword-filter", "spam-rules"] {
        std::fs::copy(
            chowk_tests::plugins_dir().join(format!("{name}.wasm")),
            dir.join(format!("{name}.wasm")),
        )
        .expect("copy component");
    }
}

async fn host(nats: &NatsServer, bootstrap: &Path) -> Api {
    Api::start(Setup {
        nats: Some(NatsConfig::url(nats.url())),
        plugin_source: Some(PluginSource::Nats),
        chain_file: Some(bootstrap.to_owned()),
        ..Setup::default()
    })
    .await
}

async fn post(api: &Api, text: &str) -> (StatusCode, Value) {
    let token = api.token("asha", Role::Member);
    let r = api
        .call(
            Method::POST,
            "/v1/rooms/lobby/messages",
            Some(&token),
            Some(json!({"text": text})),
        )
        .await;
    (r.status, r.json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_converge_on_the_published_chain() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    setup_dir(dir.path());
    let manifest = dir.path().join("plugins.toml");
    std::fs::write(&manifest, chain("mango", false)).expect("write");

    // Two hosts before anything is published: the local chain, generation 0.
    let a = host(&nats, &manifest).await;
    let b = host(&nats, &manifest).await;
    for h in [&a, &b] {
        assert_eq!(report(h).await["generation"], 0);
        let ready = h.call(Method::GET, "/readyz", None, None).await;
        assert_eq!(
            ready.status,
            StatusCode::OK,
            "serving the local chain: {ready:?}"
        );
        create_room(h, "lobby", "open").await;
    }

    // Publish (the library call the CLI makes): both load it, generation = KV revision.
    std::fs::write(&manifest, chain("papaya", false)).expect("write");
    let client = async_nats::connect(nats.url()).await.expect("client");
    let first = chowk_host::plugins::fleet::publish(&client, &manifest)
        .await
        .expect("publish");
    assert_eq!((first.components, first.uploaded), (1, 1));
    for h in [&a, &b] {
        let took = wait_generation(h, first.revision).await;
        eprintln!("converged on revision {} in {took:?}", first.revision);
        let (status, body) = post(h, "papaya for sale").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = post(h, "mango for sale").await;
        assert_eq!(
            (status, &body["generation"]),
            (StatusCode::CREATED, &json!(first.revision))
        );
    }

    // Publish with the CLI: a new plugin; only the new component is uploaded.
    std::fs::write(&manifest, chain("papaya", true)).expect("write");
    let config = dir.path().join("chowk.toml");
    std::fs::write(&config, format!("[nats]\nurl = \"{}\"\n", nats.url())).expect("write");
    let publish_cli = || {
        chowk(&[
            "plugins",
            "publish",
            "--plugins",
            manifest.to_str().expect("utf-8"),
            "--config",
            config.to_str().expect("utf-8"),
        ])
    };
    let (ok, out, err) = publish_cli();
    assert!(ok, "chowk plugins publish: {err}");
    assert!(out.contains("2 components, 1 uploaded"), "{out}");
    let second = first.revision + 1;
    for h in [&a, &b] {
        wait_generation(h, second).await;
        let names: Vec<Value> = report(h).await["plugins"]
            .as_array()
            .expect("plugins")
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        assert_eq!(names, [json!("keyword-filter"), json!("spam-rules")]);
    }

    // A host started now loads the current chain at once.
    let c = host(&nats, &manifest).await;
    assert_eq!(report(&c).await["generation"], second);
    create_room(&c, "lobby", "open").await;

    // A chain that cannot load is refused by publish itself (library and CLI), before anything
    // reaches the fleet.
    std::fs::write(dir.path().join("spam-rules.wasm"), b"not a component").expect("write");
    let refused = chowk_host::plugins::fleet::publish(&client, &manifest)
        .await
        .expect_err("publish builds the chain first");
    assert!(refused.to_string().contains("spam-rules"), "{refused}");
    let (ok, _, err) = publish_cli();
    assert!(!ok && err.contains("spam-rules"), "{err}");
    for h in [&a, &b, &c] {
        let r = report(h).await;
        assert_eq!(r["generation"], second, "nothing was published: {r}");
    }

    // A bad revision that got into the bucket anyway (an older publisher, a damaged object):
    // running hosts keep their chain and say why...
    let bad = put_unloadable_revision(&client).await;
    for h in [&a, &b, &c] {
        let deadline = Instant::now() + Duration::from_secs(10);
        let r = loop {
            let r = report(h).await;
            if !r["reload"]["last_error"].is_null() {
                break r;
            }
            assert!(Instant::now() < deadline, "no failure reported: {r}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(r["generation"], second, "revision {bad} refused");
        assert_eq!(r["reload"]["last_error"]["plugin"], "spam-rules", "{r}");
        let (status, _) = post(h, "still papaya").await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "the old chain still judges"
        );
    }

    // ...and a host started after it starts anyway, on the last good revision, ready, with the
    // bad revision reported.
    let d = host(&nats, &manifest).await;
    let r = report(&d).await;
    assert_eq!(
        r["generation"], second,
        "the last good published chain: {r}"
    );
    assert_eq!(r["reload"]["last_error"]["revision"], bad, "{r}");
    assert_eq!(r["reload"]["last_error"]["plugin"], "spam-rules", "{r}");
    let ready = d.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    create_room(&d, "lobby", "open").await;
    let (status, body) = post(&d, "papaya again").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "judged by revision {second}: {body} {}",
        report(&d).await
    );
}

/// Put a revision whose spam-rules component is not a component into the buckets directly
/// (bypassing `publish`, which would refuse it), the object named by its content hash as
/// publish names them; returns the revision.
async fn put_unloadable_revision(client: &async_nats::Client) -> u64 {
    use sha2::Digest;
    let js = async_nats::jetstream::new(client.clone());
    let kv = js
        .get_key_value(chowk_host::plugins::fleet::KV_BUCKET)
        .await
        .expect("kv bucket");
    let objects = js
        .get_object_store(chowk_host::plugins::fleet::OBJECT_BUCKET)
        .await
        .expect("object store");
    let junk: &[u8] = b"this is not a component";
    let name = format!("{}.wasm", hex::encode(sha2::Sha256::digest(junk)));
    objects
        .put(name.as_str(), &mut &junk[..])
        .await
        .expect("put object");
    let current = kv
        .get(chowk_host::plugins::fleet::CHAIN_KEY)
        .await
        .expect("get")
        .expect("a published chain");
    let mut table: toml::Table = std::str::from_utf8(&current)
        .expect("utf-8")
        .parse()
        .expect("toml");
    for plugin in table["plugins"].as_array_mut().expect("plugins") {
        if plugin["name"].as_str() == Some("spam-rules") {
            plugin
                .as_table_mut()
                .expect("table")
                .insert("path".into(), toml::Value::String(name.clone()));
        }
    }
    kv.put(
        chowk_host::plugins::fleet::CHAIN_KEY,
        toml::to_string(&table).expect("toml").into_bytes().into(),
    )
    .await
    .expect("put chain")
}
