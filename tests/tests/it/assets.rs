//! Plugin assets (contract 0.2.0, and plugins built for earlier contracts): a plugin reads files the manifest names; a changed asset
//! reloads the chain like a changed component (file watch, and fleet publish over NATS, which
//! uploads only what changed); and a plugin built against 0.1.0, before assets existed, still
//! loads and runs with its state and clock.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use chowk_host::auth::Role;
use chowk_host::bus::NatsConfig;
use chowk_host::config::PluginSource;
use chowk_host::plugins::Action;
use chowk_sdk::classifier::{train, Example, TrainOptions};
use chowk_tests::api::{create_room, plugin_report as report, wait_generation, Api, Setup};
use chowk_tests::servers::NatsServer;
use chowk_tests::{plugins_dir, text, World};
use serde_json::json;

/// A tiny model that calls texts about `fruit` spam and trade talk ham.
fn model_against(fruit: &str) -> Vec<u8> {
    let spam = [
        format!("{fruit} sale offer"),
        format!("fresh {fruit} cheap"),
        format!("buy {fruit} now"),
    ];
    let ham = [
        "rice rate kya hai",
        "payment done ji",
        "shop closed today",
        "ok noted",
    ];
    let examples: Vec<Example> = spam
        .iter()
        .map(|t| Example {
            text: t.clone(),
            spam: true,
        })
        .chain(ham.iter().map(|t| Example {
            text: (*t).to_owned(),
            spam: false,
        }))
        .collect();
    let options = TrainOptions {
        bits: 12,
        epochs: 30,
        ..TrainOptions::default()
    };
    train(&examples, &options).expect("train").to_bytes()
}

/// A chain of the classifier alone, its model in `model.bin` next to the manifest.
const CHAIN: &str = "version = 1\n[chain]\nflag_at = 3.5\nreject_at = 100.0\n\
    [[plugins]]\nname = \"classifier\"\npath = \"classifier.wasm\"\nassets = { model = \"model.bin\" }\n\
    [plugins.config]\nper_logit = 4.0\n";

fn chain_dir(model: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        chowk_tests::plugins_dir().join("classifier.wasm"),
        dir.path().join("classifier.wasm"),
    )
    .expect("copy component");
    std::fs::write(dir.path().join("model.bin"), model).expect("write model");
    std::fs::write(dir.path().join("plugins.toml"), CHAIN).expect("write manifest");
    dir
}

/// Replace a file the way `chowk train` does: write beside it, rename over it.
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// Post and say whether the message was flagged (stored, pending).
async fn flagged(api: &Api, text: &str) -> bool {
    let token = api.token("asha", Role::Member);
    let r = api
        .call(
            Method::POST,
            "/v1/rooms/lobby/messages",
            Some(&token),
            Some(json!({"text": text})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.json["pending"].as_bool().expect("pending")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_asset_reloads_the_chain_and_the_plugin_reads_the_new_one() {
    let dir = chain_dir(&model_against("mango"));
    let api = Api::start(Setup {
        chain_file: Some(dir.path().join("plugins.toml")),
        ..Setup::default()
    })
    .await;
    create_room(&api, "lobby", "open").await;
    assert!(flagged(&api, "mango").await);
    assert!(!flagged(&api, "papaya").await);

    replace(&dir.path().join("model.bin"), &model_against("papaya"));
    wait_generation(&api, 2).await;
    assert!(flagged(&api, "papaya").await);
    assert!(!flagged(&api, "mango").await);

    // A broken model is refused at reload: the previous chain stays, the failure names it.
    replace(&dir.path().join("model.bin"), b"not a model");
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = report(&api).await;
        if !r["reload"]["last_error"].is_null() {
            break r;
        }
        assert!(Instant::now() < deadline, "no failure reported: {r}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(r["generation"], 2, "{r}");
    let reason = r["reload"]["last_error"]["reason"]
        .as_str()
        .expect("reason");
    assert!(
        reason.contains("asset \"model\": invalid model"),
        "{reason}"
    );
    assert!(flagged(&api, "papaya").await, "the old chain still judges");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_publish_ships_assets_and_uploads_only_what_changed() {
    let nats = NatsServer::start();
    let dir = chain_dir(&model_against("mango"));
    let manifest = dir.path().join("plugins.toml");
    let api = Api::start(Setup {
        nats: Some(NatsConfig::url(nats.url())),
        plugin_source: Some(PluginSource::Nats),
        chain_file: Some(manifest.clone()),
        ..Setup::default()
    })
    .await;
    create_room(&api, "lobby", "open").await;
    let client = async_nats::connect(nats.url()).await.expect("client");
    let first = chowk_host::plugins::fleet::publish(&client, &manifest)
        .await
        .expect("publish");
    assert_eq!(
        (first.components, first.uploaded),
        (1, 2),
        "component and model"
    );
    wait_generation(&api, first.revision).await;
    assert!(flagged(&api, "mango").await);

    // A new model only: one upload, and the hosts follow it.
    std::fs::write(dir.path().join("model.bin"), model_against("papaya")).expect("write");
    let second = chowk_host::plugins::fleet::publish(&client, &manifest)
        .await
        .expect("publish");
    assert_eq!(second.uploaded, 1, "only the model changed");
    wait_generation(&api, second.revision).await;
    assert!(flagged(&api, "papaya").await);
    assert!(!flagged(&api, "mango").await);
}

#[test]
fn a_plugin_built_for_contract_0_1_0_still_loads_and_runs() {
    let world = World::default();
    let chain = world.chain(
        "version = 1\n[chain]\nflag_at = 5.0\nreject_at = 10.0\n\
         [[plugins]]\nname = \"legacy\"\npath = \"fixtures/contract-0-1.wasm\"\n",
    );
    let first = chain.evaluate(&text("a legacy plugin"));
    assert_eq!(first.action, Action::Allow);
    assert_eq!(first.score, 1.0);
    assert_eq!(
        first.reasons[0].detail, "seen 1 at true",
        "{:?}",
        first.reasons
    );
    let second = chain.evaluate(&text("legacy again"));
    assert_eq!(
        second.reasons[0].detail, "seen 2 at true",
        "its state works"
    );
    assert!(chain.evaluate(&text("nothing here")).reasons.is_empty());
}

#[test]
fn a_plugin_built_for_contract_0_2_0_still_loads_and_reads_its_assets() {
    let world = World::default();
    // Any file serves as its asset; the fixture reports its size.
    let asset = plugins_dir().join("fixtures/contract-0-1.wasm");
    let size = std::fs::metadata(&asset).expect("the fixture exists").len();
    let chain = world.chain(&format!(
        "version = 1\n[chain]\nflag_at = 5.0\nreject_at = 10.0\n\
         [[plugins]]\nname = \"two\"\npath = \"fixtures/contract-0-2.wasm\"\n\
         assets = {{ model = \"{}\" }}\n",
        asset.display()
    ));
    let first = chain.evaluate(&text("assets of a 0.2.0 plugin"));
    assert_eq!(first.action, Action::Allow);
    assert_eq!(
        first.reasons[0].detail,
        format!("seen 1, model of {size} bytes"),
        "{:?}",
        first.reasons
    );
    let second = chain.evaluate(&text("assets again"));
    assert_eq!(
        second.reasons[0].detail,
        format!("seen 2, model of {size} bytes"),
        "its state works"
    );
}
