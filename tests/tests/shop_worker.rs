//! The two-line `shop-worker` binary (receivers from two crates), run as real processes on a
//! real SQLite file per test: retries, dead letters, graceful shutdown, crash and restart.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use shop_signals::{FlakyArgs, Order, EMAIL, FLAKY, FORM_SUBMIT, TWO_ARGS, UNNAMED};
use signalqueue::{Config, Runtime, SendOptions};
use support::Sandbox;

// The crates `shop-worker` links, linked here too, so this process's registry is the worker's.
use audit_receivers as _;
use shop_receivers as _;

const BIN: &str = env!("CARGO_BIN_EXE_shop-worker");

/// A sandbox whose configuration names its SQLite file by absolute path, so this test process
/// (sending) and the worker process (in the sandbox) share it. Retries are quick.
fn sandbox(lease_ms: u64) -> Sandbox {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("signalqueue.db");
    let config = format!(
        "[queues.default]\nurl = \"sqlite://{db}\"\nlease_ms = {lease_ms}\ninterval_ms = 50\n\
         [queues.emails]\nurl = \"sqlite://{db}\"\ninterval_ms = 50\n\
         [worker]\nretry_base_ms = 20\nretry_max_ms = 200\nshutdown_grace_ms = 120000\n",
        db = db.display()
    );
    std::fs::write(dir.path().join("signalqueue.toml"), config).expect("write config");
    Sandbox { dir }
}

/// The sandbox's queues, for sending from this process.
async fn runtime(sb: &Sandbox) -> Runtime {
    let config = Config::from_file(&sb.file("signalqueue.toml")).expect("config");
    Runtime::from_config(&config).await.expect("open queues")
}

fn run_worker(sb: &Sandbox, extra: &[&str]) -> support::Out {
    let mut args = vec!["run", "127.0.0.1:0", "--halt-when-exhausted"];
    args.extend_from_slice(extra);
    sb.run(BIN, &args).ok()
}

fn count(journal: &[String], line: &str) -> usize {
    journal.iter().filter(|l| *l == line).count()
}

/// How many times each key's `flaky` receiver started.
fn starts(journal: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in journal {
        if let Some(rest) = l.strip_prefix("flaky ") {
            if let Some((key, _)) = rest.split_once(" attempt ") {
                *m.entry(key.to_string()).or_default() += 1;
            }
        }
    }
    m
}

fn flaky(key: impl Into<String>, mode: &str) -> FlakyArgs {
    FlakyArgs {
        key: key.into(),
        mode: mode.into(),
    }
}

#[tokio::test]
async fn shop_worker_runs_the_receivers_of_both_crates() {
    let sb = sandbox(30_000);
    runtime(&sb)
        .await
        .scope(async {
            let order = |id| Order {
                id,
                total_cents: id * 100,
            };
            let _ = FORM_SUBMIT
                .send_with(SendOptions::new().sender("shop.Order"), order(1))
                .await
                .unwrap();
            let _ = FORM_SUBMIT.send(order(2)).await.unwrap();
            let _ = TWO_ARGS.send(4, "x".into()).await.unwrap();
            let _ = UNNAMED.send(9).await.unwrap();
            let _ = EMAIL.send("a@example.com".into()).await.unwrap();
        })
        .await;

    let out = run_worker(&sb, &["-n", "default", "-n", "emails"]);
    assert!(
        out.stdout.contains("queue default: sqlite"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("queue emails: sqlite"),
        "{}",
        out.stdout
    );
    let registered = support::registered_banner();
    assert!(
        out.stdout.contains(&registered),
        "{registered}: {}",
        out.stdout
    );

    let j = sb.journal();
    for line in [
        "update_event_log 1",
        "update_event_log 2",
        "audit_order 1",
        "audit_order 2",
        "only_from_orders 1 shop.Order",
        "on_two_blocking 4 x",
        "on_unnamed 9",
        "send_email a@example.com",
    ] {
        assert_eq!(count(&j, line), 1, "{line}: {j:#?}");
    }
    // The sender filter: order 2 had no sender.
    assert!(
        !j.iter().any(|l| l.starts_with("only_from_orders 2")),
        "{j:#?}"
    );
}

#[tokio::test]
async fn a_failed_receiver_is_retried_and_the_one_that_succeeded_is_not_run_again() {
    let sb = sandbox(30_000);
    runtime(&sb)
        .await
        .scope(FLAKY.send_many([flaky("k1", "fail-once")]))
        .await
        .unwrap();

    let out = run_worker(&sb, &[]);
    let j = sb.journal();
    assert_eq!(count(&j, "audit_flaky k1 fail-once"), 1, "{j:#?}");
    assert_eq!(count(&j, "flaky k1 attempt 1"), 1, "{j:#?}");
    assert_eq!(count(&j, "flaky k1 attempt 2"), 1, "{j:#?}");
    assert_eq!(j.len(), 3, "{j:#?}");
    assert!(
        out.stderr.contains("receiver failed; retrying it"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("receiver=shop_receivers::flaky"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("dead-lettered"), "{}", out.stderr);
}

#[tokio::test]
async fn receivers_that_always_fail_or_panic_end_in_dead_letters_and_replay_brings_them_back() {
    let sb = sandbox(30_000);
    runtime(&sb)
        .await
        .scope(FLAKY.send_many([flaky("bad", "fail"), flaky("boom", "panic")]))
        .await
        .unwrap();

    let out = run_worker(&sb, &[]);
    let j = sb.journal();
    // `#[receiver(FLAKY, retries = 2)]`: three attempts; the other receiver ran once.
    for key in ["bad", "boom"] {
        for attempt in 1..=3 {
            assert_eq!(
                count(&j, &format!("flaky {key} attempt {attempt}")),
                1,
                "{j:#?}"
            );
        }
        assert_eq!(count(&j, &format!("flaky {key} attempt 4")), 0, "{j:#?}");
    }
    assert_eq!(count(&j, "audit_flaky bad fail"), 1, "{j:#?}");
    assert_eq!(
        out.stderr.matches("dead-lettered").count(),
        2,
        "{}",
        out.stderr
    );

    let dead = sb.run(BIN, &["dead", "list"]).ok().stdout;
    let lines: Vec<&str> = dead.lines().collect();
    assert_eq!(lines.len(), 2, "{dead}");
    // The worker wrote each failed attempt into the envelope: `dead list --json` shows them.
    let letters: serde_json::Value =
        serde_json::from_str(&sb.run(BIN, &["dead", "list", "--json"]).ok().stdout).unwrap();
    let bad_letter = letters
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["reason"].as_str().unwrap().contains("failed as asked"))
        .unwrap_or_else(|| panic!("{letters:#}"));
    let history: Vec<(u64, &str, &str)> = bad_letter["history"]
        .as_array()
        .unwrap_or_else(|| panic!("{bad_letter:#}"))
        .iter()
        .map(|h| {
            (
                h["attempt"].as_u64().unwrap(),
                h["receiver"].as_str().unwrap(),
                h["error"].as_str().unwrap(),
            )
        })
        .collect();
    let failed = "failed: flaky bad failed as asked";
    assert_eq!(
        history,
        [1, 2, 3].map(|n| (n, "shop_receivers::flaky", failed)),
        "{bad_letter:#}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("\t3 failed attempts")),
        "{dead}"
    );
    let bad = lines
        .iter()
        .find(|l| l.contains("failed as asked"))
        .unwrap_or_else(|| panic!("{dead}"));
    assert!(bad.contains("shop.flaky"), "{bad}");
    assert!(bad.contains("gave up after 3 attempts: `shop_receivers::flaky` failed: flaky bad failed as asked (retries: 2)"), "{bad}");
    let boom = lines
        .iter()
        .find(|l| l.contains("panicked"))
        .unwrap_or_else(|| panic!("{dead}"));
    assert!(
        boom.contains("panicked: flaky boom panicked as asked"),
        "{boom}"
    );

    // Replay one by key, then the other with no keys (all).
    let key = bad.split('\t').next().unwrap();
    let out = sb.run(BIN, &["dead", "replay", key]).ok();
    assert!(
        out.stdout
            .contains("replayed 1 dead letter(s) into queue default"),
        "{}",
        out.stdout
    );
    let out = sb.run(BIN, &["dead", "replay"]).ok();
    assert!(
        out.stdout.contains("replayed 1 dead letter(s)"),
        "{}",
        out.stdout
    );

    run_worker(&sb, &[]);
    let j = sb.journal();
    // The replay owes only the failed receiver, with its retries afresh.
    assert_eq!(count(&j, "flaky bad attempt 1"), 2, "{j:#?}");
    assert_eq!(count(&j, "flaky boom attempt 3"), 2, "{j:#?}");
    assert_eq!(count(&j, "audit_flaky bad fail"), 1, "{j:#?}");
    let dead = sb.run(BIN, &["dead", "list"]).ok().stdout;
    assert_eq!(dead.lines().count(), 2, "{dead}");
}

#[tokio::test]
async fn sigterm_lets_in_flight_receivers_finish_and_loses_nothing() {
    let sb = sandbox(30_000);
    let keys: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    runtime(&sb)
        .await
        .scope(FLAKY.send_many(keys.iter().map(|k| flaky(k.clone(), "sleep-1500"))))
        .await
        .unwrap();

    let worker = sb.start(BIN, &["run", "127.0.0.1:0", "--concurrency", "4"]);
    sb.wait_journal("4 receivers to start", |j| starts(j).len() >= 4);
    worker.signal("TERM");
    let out = worker.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(out.stderr.contains("shutting down"), "{}", out.stderr);

    let j = sb.journal();
    let started = starts(&j);
    assert!(started.len() >= 4, "{j:#?}");
    for (key, n) in &started {
        assert_eq!(*n, 1, "{key} started twice: {j:#?}");
        assert_eq!(
            count(&j, &format!("flaky {key} slept")),
            1,
            "{key} did not finish: {j:#?}"
        );
    }
    let counts = sb.engine("default").await.counts().await.unwrap();
    assert_eq!(counts.pending as usize, 8 - started.len(), "{counts:?}");
    assert_eq!(counts.in_flight, 0, "{counts:?}");

    run_worker(&sb, &[]);
    let j = sb.journal();
    for key in &keys {
        assert_eq!(count(&j, &format!("flaky {key} slept")), 1, "{key}: {j:#?}");
    }
    assert!(starts(&j).values().all(|n| *n == 1), "{j:#?}");
}

#[tokio::test]
async fn kill_9_with_hundreds_in_flight_then_a_restart_handles_every_signal() {
    // A short lease so the restart does not wait long for the dead worker's claims, yet long
    // enough that a loaded machine does not miss renewals (which would add duplicates).
    let sb = sandbox(4_000);
    let keys: Vec<String> = (0..400).map(|i| format!("c{i}")).collect();
    runtime(&sb)
        .await
        .scope(FLAKY.send_many(keys.iter().map(|k| flaky(k.clone(), "sleep-2000"))))
        .await
        .unwrap();

    let worker = sb.start(BIN, &["run", "127.0.0.1:0", "--concurrency", "200"]);
    sb.wait_journal("a hundred receivers to start", |j| starts(j).len() >= 100);
    worker.signal("KILL");
    let killed = worker.wait();
    assert!(!killed.status.success());
    // What the dead worker had started is the most that can run twice.
    let in_flight_at_kill = starts(&sb.journal()).len();
    assert!(
        in_flight_at_kill <= 200,
        "never more in flight than the concurrency"
    );

    run_worker(&sb, &["--concurrency", "200"]);
    let j = sb.journal();
    for key in &keys {
        assert!(
            count(&j, &format!("flaky {key} slept")) >= 1,
            "{key} was never handled"
        );
    }
    let duplicates: usize = starts(&j).values().map(|n| n - 1).sum();
    eprintln!("kill -9 with {in_flight_at_kill} started: {duplicates} ran twice after the restart");
    assert!(
        duplicates <= in_flight_at_kill,
        "{duplicates} duplicate runs, but only {in_flight_at_kill} were in flight at the kill"
    );
    let counts = sb.engine("default").await.counts().await.unwrap();
    assert_eq!(
        (
            counts.pending,
            counts.scheduled,
            counts.in_flight,
            counts.dead
        ),
        (0, 0, 0, 0),
        "{counts:?}"
    );
}

#[tokio::test]
async fn receivers_longer_than_the_lease_are_renewed_and_not_run_twice() {
    // Two workers on one file, receivers over twice the lease: without renewal the second
    // worker would take the first one's claims.
    let sb = sandbox(3_000);
    let keys: Vec<String> = (0..6).map(|i| format!("l{i}")).collect();
    runtime(&sb)
        .await
        .scope(FLAKY.send_many(keys.iter().map(|k| flaky(k.clone(), "sleep-7000"))))
        .await
        .unwrap();
    let args = [
        "run",
        "127.0.0.1:0",
        "--halt-when-exhausted",
        "--concurrency",
        "3",
    ];
    let a = sb.start(BIN, &args);
    let b = sb.start(BIN, &args);
    a.wait().ok();
    b.wait().ok();
    let j = sb.journal();
    for key in &keys {
        assert_eq!(count(&j, &format!("flaky {key} slept")), 1, "{key}: {j:#?}");
    }
    assert!(
        starts(&j).values().all(|n| *n == 1),
        "a receiver ran twice: {j:#?}"
    );
}

#[tokio::test]
async fn receivers_still_running_after_the_grace_period_are_given_back() {
    let sb = sandbox(30_000);
    let keys: Vec<String> = (0..3).map(|i| format!("g{i}")).collect();
    runtime(&sb)
        .await
        .scope(FLAKY.send_many(keys.iter().map(|k| flaky(k.clone(), "sleep-600000"))))
        .await
        .unwrap();
    let worker = sb.start(
        BIN,
        &[
            "run",
            "127.0.0.1:0",
            "--concurrency",
            "2",
            "--shutdown-grace-ms",
            "200",
        ],
    );
    sb.wait_journal("2 receivers to start", |j| starts(j).len() == 2);
    worker.signal("TERM");
    let out = worker.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        out.stderr.contains("giving back 2 signals"),
        "{}",
        out.stderr
    );
    // Nothing lost: all three wait again, none held.
    let counts = sb.engine("default").await.counts().await.unwrap();
    assert_eq!((counts.pending, counts.in_flight), (3, 0), "{counts:?}");
}

#[tokio::test]
async fn a_second_shutdown_signal_exits_at_once() {
    let sb = sandbox(30_000);
    let _ = runtime(&sb)
        .await
        .scope(FLAKY.send_many([flaky("x", "sleep-600000")]))
        .await
        .unwrap();
    let worker = sb.start(BIN, &["run", "127.0.0.1:0"]);
    sb.wait_journal("the receiver to start", |j| starts(j).len() == 1);
    worker.signal("TERM");
    worker.wait_stderr("shutting down");
    worker.signal("INT");
    let out = worker.wait();
    assert_eq!(out.code(), 130, "{out:?}");
    assert!(out.stderr.contains("exiting at once"), "{}", out.stderr);
}

#[tokio::test]
async fn a_slow_receiver_does_not_hold_the_other_signals() {
    let sb = sandbox(30_000);
    let release = sb.file("release");
    let slow = format!("until-{}", release.display());
    let fast: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    runtime(&sb)
        .await
        .scope(async {
            FLAKY.send_many([flaky("slow", &slow)]).await.unwrap();
            FLAKY
                .send_many(fast.iter().map(|k| flaky(k.clone(), "ok")))
                .await
                .unwrap();
        })
        .await;
    let worker = sb.start(
        BIN,
        &[
            "run",
            "127.0.0.1:0",
            "--halt-when-exhausted",
            "--concurrency",
            "2",
        ],
    );
    // With one of two slots held by the slow receiver, the other slot runs all the rest.
    sb.wait_journal("the fast signals", |j| {
        fast.iter()
            .all(|k| count(j, &format!("flaky {k} attempt 1")) == 1)
    });
    assert_eq!(count(&sb.journal(), "flaky slow released"), 0);
    std::fs::write(&release, b"").unwrap();
    worker.wait().ok();
    assert_eq!(count(&sb.journal(), "flaky slow released"), 1);
}

#[test]
fn list_shows_sender_filters_and_retry_limits_and_check_flags_unconfigured_queues() {
    let sb = sandbox(30_000);
    let out = sb.run(BIN, &["list"]).ok();
    assert!(
        out.stdout.contains("shop.form_submit(instance: Order)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("only from sender `shop.Order`"),
        "{}",
        out.stdout
    );
    let flaky = out
        .stdout
        .lines()
        .find(|l| l.contains("-> shop_receivers::flaky "))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(flaky.ends_with("retries 2"), "{flaky}");
    assert!(out.stdout.contains("queue: emails"), "{}", out.stdout);
    // A worker built on the `signalqueue-runner` library links only its own crates: none of
    // the demo app's signals (which this repository's `signalqueue-worker` binary links).
    for demo in [
        "examples.form_submit",
        "demo.two_args",
        "examples.heartbeat",
    ] {
        assert!(
            !out.stdout.contains(demo),
            "{demo} linked in:\n{}",
            out.stdout
        );
    }
    sb.run(BIN, &["check"]).ok();

    // Without `[queues.emails]`, `shop.email` has nowhere to go.
    let db = sb.file("signalqueue.db");
    std::fs::write(
        sb.file("signalqueue.toml"),
        format!("[queues.default]\nurl = \"sqlite://{}\"\n", db.display()),
    )
    .unwrap();
    let out = sb.run(BIN, &["check"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stdout.contains(
            "problem: signal `shop.email` goes to queue `emails`, which is not configured"
        ),
        "{}",
        out.stdout
    );
}

/// Stops `worker` (SIGSTOP) at a moment it does not hold the write lock of the SQLite file at
/// `db`. SQLite cannot take a lock from a process that stopped holding it: frozen inside one of
/// its short write transactions (each claim's look, each renewal), it would block every other
/// process on the file until it resumes (`docs/engines.md`). So a freeze that lands inside one
/// is undone and tried again.
fn freeze_outside_a_write(worker: &support::Running, db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).expect("open the queue's file");
    for _ in 0..100 {
        worker.signal("STOP");
        // Let the signal land before looking.
        std::thread::sleep(Duration::from_millis(20));
        // The write lock is free if a write transaction can start at once.
        if conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").is_ok() {
            return;
        }
        worker.signal("CONT");
        std::thread::sleep(Duration::from_millis(7));
    }
    panic!("the worker held the file's write lock at each of 100 freezes");
}

#[tokio::test]
async fn a_paused_worker_loses_its_claim_and_its_late_outcome_is_refused() {
    // B renews its own lease every third of it while it runs the signal: 3 s, so a loaded
    // machine (CI's two cores, every test binary at once) cannot make B's own lease run out
    // between renewals, which would run the signal a third time (seen twice in ~40 runs at 1 s).
    let sb = sandbox(3_000);
    let release = sb.file("release");
    let _ = runtime(&sb)
        .await
        .scope(FLAKY.send_many([flaky("p", &format!("until-{}", release.display()))]))
        .await
        .unwrap();
    let a = sb.start(BIN, &["run", "127.0.0.1:0"]);
    sb.wait_journal("worker A to start the receiver", |j| {
        count(j, "flaky p attempt 1") == 1
    });
    // A freezes (a stalled VM, SIGSTOP) past its lease: the claim goes to B.
    freeze_outside_a_write(&a, &sb.file("signalqueue.db"));
    let b = sb.start(BIN, &["run", "127.0.0.1:0", "--halt-when-exhausted"]);
    sb.wait_journal_showing(
        "worker B to take the claim over",
        |j| count(j, "flaky p attempt 1") == 2,
        || format!("B's stderr:\n{}", b.stderr_so_far()),
    );
    std::fs::write(&release, b"").unwrap();
    let b = b.wait().ok();
    a.signal("CONT");
    // A wakes up: its lease is gone, so whatever it says about the signal is refused.
    a.wait_stderr("lease");
    a.signal("TERM");
    let out = a.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        out.stderr.contains("acknowledgement refused") || out.stderr.contains("lost the lease"),
        "{}",
        out.stderr
    );
    let counts = sb.engine("default").await.counts().await.unwrap();
    assert_eq!(
        (
            counts.pending,
            counts.scheduled,
            counts.in_flight,
            counts.dead
        ),
        (0, 0, 0, 0),
        "{counts:?}"
    );
    // B's run was the one that counted; nothing ran a third time.
    assert_eq!(
        count(&sb.journal(), "flaky p attempt 1"),
        2,
        "{:?}\nA's stderr:\n{}\nB's stderr:\n{}",
        sb.journal(),
        out.stderr,
        b.stderr
    );
}

#[tokio::test]
async fn a_hung_receiver_is_abandoned_at_its_time_limit_and_dead_lettered() {
    let sb = sandbox(30_000);
    let rt = runtime(&sb).await;
    // `#[receiver(SLOW, timeout_ms = 300, retries = 0)]`: a 10-minute run is cut at 300 ms.
    rt.scope(shop_signals::SLOW.send_many([
        shop_signals::SlowArgs {
            key: "hung".into(),
            ms: 600_000,
        },
        shop_signals::SlowArgs {
            key: "quick".into(),
            ms: 1,
        },
    ]))
    .await
    .unwrap();

    // Without the limit this worker would never exhaust its queue.
    run_worker(&sb, &[]);
    let j = sb.journal();
    assert_eq!(count(&j, "slow_with_limit hung started"), 1, "{j:#?}");
    assert_eq!(count(&j, "slow_with_limit hung finished"), 0, "{j:#?}");
    assert_eq!(count(&j, "slow_with_limit quick finished"), 1, "{j:#?}");
    let dead = sb.run(BIN, &["dead", "list"]).ok().stdout;
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(dead.contains("shop.slow"), "{dead}");
    assert!(dead.contains("timed out after 300ms"), "{dead}");
}

/// A delayed send is not handled before its time, is handled soon after, and survives the
/// worker's death: killed before the due time and started again, the worker runs it once,
/// at its time, and the receiver sees the due time in `Delivery::scheduled_for`.
#[tokio::test]
async fn a_delayed_send_runs_once_at_its_time_across_a_worker_restart() {
    let sb = sandbox(30_000);
    let delay = std::time::Duration::from_secs(4);
    let sent = std::time::Instant::now();
    runtime(&sb)
        .await
        .scope(async {
            let _ = FLAKY
                .send_with(
                    SendOptions::new().delay(delay),
                    "later".into(),
                    "stamp".into(),
                )
                .await
                .unwrap();
            let _ = FLAKY.send("now".into(), "stamp".into()).await.unwrap();
        })
        .await;
    let engine = sb.engine("default").await;
    let due_ms = {
        let entries = engine.pending(10).await.unwrap();
        let due: Vec<u64> = entries
            .iter()
            .filter_map(|e| {
                signalqueue::Envelope::decode(&e.payload)
                    .ok()?
                    .scheduled_for
            })
            .map(signalqueue::engine::unix_ms)
            .collect();
        assert_eq!(due.len(), 1, "one delayed entry");
        due[0]
    };

    let worker = sb.start(BIN, &["run", "127.0.0.1:0"]);
    sb.wait_journal("the signal sent without a delay", |j| {
        !support::stamps(j, "now").is_empty()
    });
    let early = support::stamps(&sb.journal(), "later");
    if sent.elapsed() < delay {
        assert!(early.is_empty(), "ran before its time: {early:?}");
        let counts = engine.counts().await.unwrap();
        assert_eq!((counts.pending, counts.scheduled), (0, 1), "{counts:?}");
    }
    worker.signal("KILL");
    let _ = worker.wait();

    let worker = sb.start(BIN, &["run", "127.0.0.1:0"]);
    sb.wait_journal("the delayed signal", |j| {
        !support::stamps(j, "later").is_empty()
    });
    // Give a second run, were there one, the time to show itself.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    worker.signal("TERM");
    let out = worker.wait();
    let runs = support::stamps(&sb.journal(), "later");
    assert_eq!(runs.len(), 1, "ran once: {runs:?}\n{}", out.stderr);
    let (ran, due) = runs[0];
    assert_eq!(due, Some(due_ms), "the receiver sees the due time");
    assert!(ran >= due_ms, "ran {} ms before its time", due_ms - ran);
    assert!(
        ran - due_ms < 5_000,
        "ran {} ms after its time; the queue looks every 50 ms",
        ran - due_ms
    );
    assert_eq!(
        support::stamps(&sb.journal(), "now")[0].1,
        None,
        "not delayed: no due time"
    );
    assert_eq!(engine.counts().await.unwrap(), Default::default());
}
