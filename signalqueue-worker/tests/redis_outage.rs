//! The worker on Redis, through an outage: a private `redis-server` on a free port is stopped
//! and started again under a running worker, which keeps going and handles what arrives after.
//! Skipped (with a note) where `redis-server` is not installed; CI installs it.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Sandbox, DEADLINE};

const BIN: &str = env!("CARGO_BIN_EXE_signalqueue-worker");

/// A `redis-server` this test started; stopped when dropped.
struct Redis(Child);

impl Redis {
    fn start(port: u16) -> Option<Redis> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Redis(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < DEADLINE, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends with the CLI, trying again while Redis is still coming up.
fn send(sb: &Sandbox, n: i64) -> String {
    let json = format!(r#"{{"instance": {{"id": {n}, "total_cents": 1}}}}"#);
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
    let port = free_port();
    let Some(redis) = Redis::start(port) else {
        eprintln!("redis-server is not installed; skipping");
        return;
    };
    let sb = Sandbox::new(Some(&format!(
        "[queues.default]\nurl = \"redis://127.0.0.1:{port}/0\"\n"
    )));
    let worker = sb.start(BIN, &["run", "127.0.0.1:0"]);

    let before = send(&sb, 1);
    worker.wait_stderr(&format!(
        "id={before} receiver=examples::update_event_log attempt=1 outcome=ok"
    ));

    drop(redis);
    worker.wait_stderr("cannot claim; trying again");
    let _redis = Redis::start(port).expect("restart redis-server");
    let after = send(&sb, 2);
    worker.wait_stderr(&format!(
        "id={after} receiver=examples::update_event_log attempt=1 outcome=ok"
    ));

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
