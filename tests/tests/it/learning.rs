//! The learning loop, end to end with real Redis: a new scam family the classifier misses is
//! posted; a room's moderators remove 30 of its messages (removal works on any message, and
//! keeps the text as a training label); `chowk train --from-store` fits a new model from the
//! corpus plus those decisions and writes it only because it is not worse on the held-out set;
//! the host reloads the chain with the new model, and the next messages of that family are
//! flagged. Also: moderators' decisions are kept the same way by the in-memory store.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use chowk_host::auth::Role;
use chowk_host::store::RedisConfig;
use chowk_tests::api::{create_room, Api, Setup, FLAGGED_TEXT, SECRET};
use chowk_tests::servers::{chowk, RedisServer};
use serde_json::{json, Value};

/// A scam family absent from the corpora and written without what the model already knows
/// of scams (no fee, no amount, no phone number, no link): a fake agricultural-market "token
/// desk" collecting photos of farmers' land records. The first version asked for a token fee;
/// once the corpus grew, the model flagged most of it before any moderator taught it, so it
/// no longer tested learning. Generated from parts so that the probes are new sentences, not
/// copies of the training messages.
fn mandi_scam(i: usize) -> String {
    const OPEN: [&str; 8] = [
        "Namaste kisan bhai",
        "Dear farmer",
        "Kisan bandhu dhyan de",
        "Attention trader",
        "Ram Ram ji",
        "Jai Kisan",
        "Bhai sahab",
        "Respected grower",
    ];
    const BODY: [&str; 5] = [
        "aapka mandi token {n} pending hai",
        "your mandi gate pass {n} is on hold",
        "lot number {n} ki boli ruk gayi hai",
        "gehun ki dheri {n} ka token block hai",
        "your e-NAM lot {n} is not verified",
    ];
    const ASK: [&str; 5] = [
        "token desk pe khasra khatauni ki photo bhejo",
        "send the land record photo to the token desk",
        "e-NAM wale bhai ko girdawari ki copy bhej do",
        "token clerk ko khatauni ki photo dikhani hai",
        "gate pass ke liye patwari ki parchi ki photo bhejo",
    ];
    const CLOSE: [&str; 5] = [
        "lot aage badh jayega",
        "then your lot moves up",
        "aaj shaam tak",
        "kal subah se pehle",
        "phir boli shuru hogi",
    ];
    let pick = |k: usize, n: usize| (i * 7 + k * 13 + i / n) % n;
    let n = 1000 + (i * 7919) % 9000;
    format!(
        "{}, {}. {}, {}.",
        OPEN[pick(1, 8)],
        BODY[pick(2, 5)].replace("{n}", &n.to_string()),
        ASK[pick(3, 5)],
        CLOSE[pick(4, 5)],
    )
}

async fn post(api: &Api, sender: &str, text: &str) -> Value {
    let token = api.token(sender, Role::Member);
    let r = api
        .call(
            Method::POST,
            "/v1/rooms/market/messages",
            Some(&token),
            Some(json!({"text": text})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.json
}

async fn remove(api: &Api, id: &str) {
    let moderator = api.token("moderator", Role::Moderator);
    let r = api
        .call(
            Method::POST,
            &format!("/v1/rooms/market/moderation/{id}"),
            Some(&moderator),
            Some(json!({"decision": "remove"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
}

async fn flagged_share(api: &Api, range: std::ops::Range<usize>) -> f64 {
    let mut flagged = 0;
    let n = range.len();
    for i in range {
        let m = post(api, &format!("probe{i}"), &mandi_scam(i)).await;
        flagged += usize::from(m["pending"] == true);
    }
    flagged as f64 / n as f64
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_removals_teach_the_classifier_a_new_scam_family() {
    let redis = RedisServer::primary();
    let repo = chowk_tests::repo_root();
    let dir = tempfile::tempdir().expect("temp dir");
    let model = dir.path().join("model.bin");
    let (train_corpus, heldout) = (
        repo.join("corpus/sme/train.tsv"),
        repo.join("corpus/sme/heldout.tsv"),
    );
    let weighted = format!("{}*3", s(&train_corpus));
    // The current model: the corpus alone (what the operator last trained).
    let (ok, out, err) = chowk(&[
        "train",
        "--corpus",
        &weighted,
        "--heldout",
        s(&heldout),
        "--out",
        s(&model),
    ]);
    assert!(ok, "{out}\n{err}");
    std::fs::write(
        dir.path().join("plugins.toml"),
        format!(
            "version = 1\n[chain]\nflag_at = 3.5\nreject_at = 100.0\n[[plugins]]\nname = \"classifier\"\n\
             path = {:?}\nassets = {{ model = \"model.bin\" }}\n[plugins.config]\n\
             per_logit = 1.25\noffset = -0.5\nvouch = true\n",
            s(&chowk_tests::plugins_dir().join("classifier.wasm"))
        ),
    )
    .expect("write chain");
    let api = Api::start(Setup {
        redis: Some(RedisConfig::url(redis.url())),
        chain_file: Some(dir.path().join("plugins.toml")),
        ..Setup::default()
    })
    .await;
    create_room(&api, "market", "open").await;

    let before = flagged_share(&api, 100..110).await;
    assert!(
        before <= 0.5,
        "the family is new to the model: {before} flagged"
    );

    // Moderators remove 30 messages of the family that got through.
    for i in 0..30 {
        let m = post(&api, &format!("scammer{i}"), &mandi_scam(i)).await;
        remove(&api, m["id"].as_str().expect("id")).await;
    }

    // The held-out ham rate of the shipped chain with this model, before and after.
    let shipped = std::fs::read_to_string(repo.join("plugins.toml"))
        .expect("plugins.toml")
        .replace(
            "path = \"target/plugins/",
            &format!("path = \"{}/", s(&chowk_tests::plugins_dir())),
        )
        .replace("models/sme.bin", s(&model));
    let full_chain = dir.path().join("shipped.toml");
    std::fs::write(&full_chain, shipped).expect("write chain");
    let ham_flagged = || -> (u32, u32) {
        let (ok, _, err) = chowk(&[
            "eval",
            "--plugins",
            s(&full_chain),
            "--corpus",
            s(&heldout),
            "--summary-only",
        ]);
        assert!(ok, "{err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("ham flagged or rejected"))
            .unwrap_or_else(|| panic!("no ham line in {err}"));
        let (flagged, total) = line
            .split_whitespace()
            .find(|w| w.contains('/'))
            .and_then(|w| w.split_once('/'))
            .expect("n/m");
        (flagged.parse().expect("n"), total.parse().expect("m"))
    };
    let (ham_before, ham_total) = ham_flagged();

    let config = dir.path().join("chowk.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\njwt_secret = \"{SECRET}\"\n[redis]\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .expect("write config");
    let (ok, out, err) = chowk(&[
        "train",
        "--corpus",
        &weighted,
        "--from-store",
        "--rooms",
        "market",
        "--config",
        s(&config),
        "--heldout",
        s(&heldout),
        "--out",
        s(&model),
    ]);
    assert!(ok, "train refused or failed:\n{out}\n{err}");
    assert!(
        err.contains("moderators' decisions: 30 spam + 0 ham"),
        "{err}"
    );
    // "Does not rise" within what one model's training noise moves: one message of the held-out
    // ham (a retrained model differs everywhere a little; `chowk train` checked that no change
    // is significant, per class, with McNemar's test).
    let (ham_after, _) = ham_flagged();
    assert!(
        ham_after <= ham_before + 1,
        "held-out ham flagged by the shipped chain rose: {ham_before} -> {ham_after} of \
         {ham_total}\n{out}"
    );

    // The watcher reloads the chain with the new model; the family is now flagged.
    let admin = api.token("root", Role::Admin);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = api
            .call(Method::GET, "/v1/admin/plugins", Some(&admin), None)
            .await;
        if r.json["generation"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no reload: {}", r.json);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = flagged_share(&api, 200..210).await;
    eprintln!(
        "new scam family flagged: {before} before, {after} after; held-out ham flagged by the \
         shipped chain: {ham_before} -> {ham_after} of {ham_total}"
    );
    assert!(
        after >= 0.9,
        "the new model flags the family: {after} flagged (before {before})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_works_on_any_message_and_decisions_are_kept_as_labels() {
    let api = Api::start(Setup::default()).await;
    create_room(&api, "market", "open").await;
    let ok = post(&api, "asha", "fresh tomatoes at 30 per kg").await;
    remove(&api, ok["id"].as_str().expect("id")).await;
    let moderator = api.token("moderator", Role::Moderator);
    // Removing again is a retry (204, no second label); approving what was removed conflicts.
    for (decision, status) in [
        ("remove", StatusCode::NO_CONTENT),
        ("approve", StatusCode::CONFLICT),
    ] {
        let r = api
            .call(
                Method::POST,
                &format!(
                    "/v1/rooms/market/moderation/{}",
                    ok["id"].as_str().expect("id")
                ),
                Some(&moderator),
                Some(json!({ "decision": decision })),
            )
            .await;
        assert_eq!(r.status, status, "{decision}: {r:?}");
    }
    let flagged = post(&api, "ravi", FLAGGED_TEXT).await;
    assert_eq!(flagged["pending"], true, "{flagged}");
    let r = api
        .call(
            Method::POST,
            &format!(
                "/v1/rooms/market/moderation/{}",
                flagged["id"].as_str().expect("id")
            ),
            Some(&moderator),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let room = chowk_host::ids::RoomId::new("market").expect("room id");
    let labels = api
        .server
        .state()
        .chat
        .store
        .labels(&room)
        .await
        .expect("labels");
    let got: Vec<(bool, &str)> = labels.iter().map(|l| (l.spam, l.text.as_str())).collect();
    assert_eq!(
        got,
        [(true, "fresh tomatoes at 30 per kg"), (false, FLAGGED_TEXT)]
    );
}
