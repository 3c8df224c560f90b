//! The OpenAPI document against the running API (issue 12): Schemathesis generates requests from
//! a live host's `/openapi.json` (on a real Redis, as an admin, with a room to find) and checks
//! that no answer is a 5xx and that every status and body is one the document lists.

use std::process::Command;

use chowk_tests::servers::{
    chowk_token, require_tool, write_host_config, ChowkProcess, RedisServer,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_as_its_openapi_document_says() {
    let schemathesis = require_tool(
        "schemathesis",
        "python3 -m pip install schemathesis==4.32.5",
    );
    let redis = RedisServer::primary();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_host_config(
        dir.path(),
        "version = 1\n[[plugins]]\nname = \"spam-rules\"\npath = \"{plugins}/spam-rules.wasm\"\n",
        &format!("url = \"{}\"", redis.url()),
        "",
    );
    let host = ChowkProcess::serve(&config);
    let admin = chowk_token(&config, "root", "admin");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/rooms", host.base))
        .bearer_auth(&admin)
        .json(&json!({"id": "lobby", "name": "Lobby"}))
        .send()
        .await
        .expect("create room");
    assert_eq!(r.status(), 201);
    // Schemathesis keeps a cache in its working folder: the test's own.
    let workdir = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis)
            .current_dir(workdir)
            .args(["run", &format!("{}/openapi.json", host.base)])
            .args(["-H", &format!("Authorization: Bearer {admin}")])
            .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
            .args(["--phases", "coverage,fuzzing", "--max-examples", "5", "--seed", "1"])
            .args(["--no-color"])
            .output()
            .expect("run schemathesis")
    })
    .await
    .expect("joined");
    let report = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("generated") || l.contains("Seed"))
        .collect();
    println!("schemathesis: {}", summary.join("; "));
    assert!(
        out.status.success(),
        "schemathesis found answers the document does not allow:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
