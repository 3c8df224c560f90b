//! The load tool's CI smoke run (issue 13): `chowk-load --smoke` starts its own Redis primary
//! and replica, NATS and `chowk serve`, posts open loop for 10 s, and reports. No thresholds:
//! speed is judged by the long runs in BENCHMARKS.md, never by timed assertions. This checks
//! that the tool runs end to end and that what it reports adds up.

use std::process::Command;

#[test]
fn the_load_tool_runs_its_smoke_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_chowk-load"))
        .arg("--smoke")
        .output()
        .expect("run chowk-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "chowk-load failed:\n{stdout}\n{stderr}"
    );
    for part in [
        "first POST after /readyz: 201",
        "Redis commands per post",
        "POST → NATS",
        "POST → SSE",
        "history (50)",
        "NATS ingest",
        "host peak RSS",
    ] {
        assert!(
            stdout.contains(part),
            "no {part:?} in the report:\n{stdout}"
        );
    }
    // Every stored visible message reached the NATS subscriber, and nothing failed.
    let main = stdout
        .lines()
        .find(|l| l.contains("POST → NATS") && l.contains("stored relayed"))
        .expect("the main run's relay line");
    let counts: Vec<u64> = main
        .split(['(', ')', ' '])
        .filter_map(|w| w.parse().ok())
        .collect();
    let (relayed, stored) = (counts[counts.len() - 2], counts[counts.len() - 1]);
    assert!(stored > 0 && relayed == stored, "{main}");
    assert!(!stdout.contains("connection error"), "{stdout}");
}
