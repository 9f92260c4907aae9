//! The outbox through the `signalqueue-worker` binary: `check` shows what waits in it, a
//! worker with `[outbox] relay = false` leaves it alone, `relay` moves it into the queue, and a
//! worker relays by default and waits for its outboxes before `--halt-when-exhausted` stops it.
//! The app's database is a SQLite file beside the queue's (no server needed).

mod support;

use std::time::{Duration, Instant};

use examples::TWO_ARGS;
use signalqueue::outbox::Outbox;
use signalqueue::{Config, Runtime};
use support::Sandbox;

const BIN: &str = env!("CARGO_BIN_EXE_signalqueue-worker");

/// A sandbox whose queue is `queue.db` and whose outbox is the app's `app.db`; `n` signals
/// committed into the outbox by the app's own transaction.
async fn sandbox(relay: bool, n: u32) -> (Sandbox, Outbox) {
    let sb = Sandbox::new(None);
    let config = format!(
        "[queues.default]\nurl = \"sqlite://{}\"\ninterval_ms = 50\n[outbox]\nurl = \"sqlite://{}\"\nrelay = {relay}\n",
        sb.file("queue.db").display(),
        sb.file("app.db").display()
    );
    std::fs::write(sb.file("signalqueue.toml"), config).unwrap();
    let runtime = Runtime::from_config(&Config::from_file(&sb.file("signalqueue.toml")).unwrap())
        .await
        .unwrap();
    let mut conn = rusqlite::Connection::open(sb.file("app.db")).unwrap();
    runtime
        .scope(async {
            let tx = conn.transaction().unwrap();
            for a in 0..n {
                let _ = TWO_ARGS
                    .send_in(&tx, a, "from the outbox".into())
                    .await
                    .unwrap();
            }
            tx.commit().unwrap();
        })
        .await;
    let outbox = runtime.outboxes()[0].clone();
    (sb, outbox)
}

fn handled(stdout: &str) -> usize {
    stdout.matches("two_args: a=").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_the_outbox_and_relay_false_leaves_it_alone() {
    let (sb, outbox) = sandbox(false, 2).await;
    let out = sb.run(BIN, &["check"]);
    let expected = format!(
        "ok: outbox sqlite://{}: reachable, 2 rows waiting",
        sb.file("app.db").display()
    );
    assert!(
        out.stdout.contains(&expected),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("relay = false"), "{}", out.stdout);

    let out = sb
        .run(BIN, &["run", "127.0.0.1:0", "--halt-when-exhausted"])
        .ok();
    assert!(out.stdout.contains("not relayed here"), "{}", out.stdout);
    assert_eq!(handled(&out.stdout), 0, "{}", out.stdout);
    assert_eq!(outbox.stats().await.unwrap().depth, 2);

    // `relay` moves them (and runs no receiver); the worker then handles them.
    let relay = sb.start(BIN, &["relay"]);
    let start = Instant::now();
    while outbox.stats().await.unwrap().depth > 0 {
        assert!(
            start.elapsed() < support::DEADLINE,
            "{}",
            relay.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.signal("TERM");
    let out = relay.wait().ok();
    assert!(out.stdout.contains("relay"), "{}", out.stdout);
    assert_eq!(
        handled(&out.stdout),
        0,
        "the relay runs no receiver: {}",
        out.stdout
    );
    let out = sb
        .run(BIN, &["run", "127.0.0.1:0", "--halt-when-exhausted"])
        .ok();
    assert_eq!(handled(&out.stdout), 2, "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_relays_by_default_and_halts_only_once_the_outbox_is_empty() {
    let (sb, outbox) = sandbox(true, 3).await;
    let out = sb
        .run(BIN, &["run", "127.0.0.1:0", "--halt-when-exhausted"])
        .ok();
    assert!(out.stdout.contains("(relayed here)"), "{}", out.stdout);
    assert_eq!(handled(&out.stdout), 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(outbox.stats().await.unwrap().depth, 0);
}
