//! The worker on Redis, through an outage: a private `redis-server` on a free port is stopped
//! and started again under a running worker, which keeps going and handles what arrives after.
//! Skipped (with a note) where `redis-server` is not installed; CI installs it.

mod support;
// The engine tests' private `redis-server` (free port, temp dir, killed when dropped).
#[path = "../../signalqueue/tests/support/redis_server.rs"]
mod redis_server;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use support::{Sandbox, DEADLINE};

const BIN: &str = env!("CARGO_BIN_EXE_signalqueue-worker");

fn redis_installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Sends with the CLI, trying again while Redis is still coming up. The order is sent by
/// reference and this sandbox's demo database has no such row: the receiver runs with `None`.
fn send(sb: &Sandbox, n: i64) -> String {
    let json =
        format!(r#"{{"instance": {{"app_label": "examples", "model": "order", "pk": {n}}}}}"#);
    let start = Instant::now();
    loop {
        let out = sb.run(BIN, &["send", "examples.form_submit", "--json", &json]);
        if out.status.success() {
            return out.stdout.trim().to_string();
        }
        assert!(start.elapsed() < DEADLINE, "cannot send: {out:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_redis_outage_does_not_stop_the_worker() {
    if !redis_installed() {
        eprintln!("redis-server is not installed; skipping");
        return;
    }
    let mut redis = RedisServer::start();
    let sb = Sandbox::new(Some(&format!(
        "[queues.default]\nurl = \"{}\"\n",
        redis.url("redis")
    )));
    let worker = sb.start(BIN, &["run", "127.0.0.1:0"]);

    let before = send(&sb, 1);
    worker.wait_stderr(&format!("id={before} attempt=1 receivers=1 failed=0"));

    redis.kill();
    worker.wait_stderr("cannot claim; trying again");
    // Same port and directory; it keeps nothing on disk, so it comes back empty.
    redis.restart();
    let after = send(&sb, 2);
    worker.wait_stderr(&format!("id={after} attempt=1 receivers=1 failed=0"));

    worker.signal("TERM");
    let out = worker.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        out.stdout
            .contains("queue default: redis redis://127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("event log: order 2 "), "{}", out.stdout);
}
