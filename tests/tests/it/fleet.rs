//! Fleet reload over a real nats-server: hosts with `[plugins] source = "nats"` converge on the
//! chain `chowk plugins publish` puts in JetStream (the KV revision is the generation), a host
//! started later loads the current one, and a chain a host cannot load leaves it on the old
//! generation with the failure reported.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use chowk_host::auth::Role;
use chowk_host::bus::NatsConfig;
use chowk_host::config::PluginSource;
use chowk_tests::api::{create_room, Api, Setup};
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

async fn report(api: &Api) -> Value {
    let admin = api.token("root", Role::Admin);
    api.call(Method::GET, "/v1/admin/plugins", Some(&admin), None)
        .await
        .json
}

async fn wait_generation(api: &Api, generation: u64) -> Duration {
    let started = Instant::now();
    loop {
        let r = report(api).await;
        if r["generation"] == generation {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "host never reached generation {generation}: {r}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
    let (ok, out, err) = chowk(&[
        "plugins",
        "publish",
        "--plugins",
        manifest.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
    ]);
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

    // A chain the hosts cannot load: they keep the old one and say why.
    std::fs::write(dir.path().join("spam-rules.wasm"), b"not a component").expect("write");
    let broken = chowk_host::plugins::fleet::publish(&client, &manifest)
        .await
        .expect("publish (components are checked by the hosts)");
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
        assert_eq!(
            r["generation"], second,
            "revision {} refused",
            broken.revision
        );
        assert_eq!(r["reload"]["last_error"]["plugin"], "spam-rules", "{r}");
        let (status, _) = post(h, "still papaya").await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "the old chain still judges"
        );
    }
}
