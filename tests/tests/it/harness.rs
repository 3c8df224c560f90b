//! The test harness itself: servers it starts do not outlive the test process that started
//! them, even when that process never drops them.

use std::time::{Duration, Instant};

use chowk_tests::servers::{raw_command, reap_orphaned_redis, RedisServer};

/// Set in the child process the test below starts: the file to write the leaked server's port to.
const LEAK_TO: &str = "CHOWK_TEST_LEAK_REDIS_TO";

/// A test process that ends without dropping its Redis (the fuzz targets hold theirs in a
/// `static`; a test binary may be killed) left it running for good. The next harness run
/// stops it.
#[test]
fn a_redis_left_by_an_ended_test_process_is_stopped_by_the_next_one() {
    if let Some(file) = std::env::var_os(LEAK_TO) {
        // The child: start a server, say where, and end the process without dropping it.
        let server = RedisServer::primary();
        std::fs::write(&file, server.port().to_string()).expect("write the port");
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("port");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "harness::a_redis_left_by_an_ended_test_process_is_stopped_by_the_next_one",
            "--test-threads",
            "1",
        ])
        .env(LEAK_TO, &file)
        .status()
        .expect("run the child test process");
    assert!(status.success(), "the child test process failed: {status}");
    let port: u16 = std::fs::read_to_string(&file)
        .expect("the child wrote its server's port")
        .parse()
        .expect("a port");
    let answers = || raw_command(port, "PING").is_ok_and(|r| r.starts_with("+PONG"));
    assert!(
        answers(),
        "the child's server should still be running: it was never dropped"
    );

    reap_orphaned_redis();
    let deadline = Instant::now() + Duration::from_secs(10);
    while answers() {
        assert!(
            Instant::now() < deadline,
            "the server left on port {port} by an ended test process still answers"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
