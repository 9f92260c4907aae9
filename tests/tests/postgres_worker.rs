//! The two-line `shop-worker` binary against PostgreSQL, through the failures the Redis and
//! SQLite worker tests go through: kill -9 of a worker with hundreds of signals in flight then
//! a restart, and the server itself crashed (`pg_ctl stop -m immediate`) and started again
//! under a steady stream of sends while the same worker process drains.
//!
//! The kill test uses a schema of its own on the shared PostgreSQL (127.0.0.1:5432, database
//! `test`; `SQ_PG_QUEUE_URL` overrides), dropped at the end; the crash test runs a private
//! server (`initdb` + `pg_ctl`, on a free loopback port). Every process gets the queue as
//! `SIGNALQUEUE_URL`. Nothing waits a fixed time for something to happen: every "eventually"
//! polls the journal or the engine's counts with a generous deadline, and the figures are
//! printed (`cargo test --test postgres_worker -- --nocapture`). Without PostgreSQL (or its
//! server binaries) the tests say so and pass, unless `SIGNALQUEUE_REQUIRE_POSTGRES=1`.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shop_signals::FLAKY;
use support::flaky::Tally;
use support::postgres::{PostgresServer, Schema};
use support::worker_bench::Bench;
use support::DEADLINE;

// The crates `shop-worker` links, linked here too, so this process's registry is the worker's.
use audit_receivers as _;
use shop_receivers as _;

/// One test at a time: each runs a worker with up to hundreds of receivers, which is as much
/// as a 2-core machine should carry if leases are to be renewed in time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// 1. kill -9 with hundreds in flight, then a restart

#[tokio::test]
async fn postgres_kill_9_with_hundreds_in_flight_then_a_restart_handles_every_signal() {
    let _serial = SERIAL.lock().await;
    if !support::postgres::available("postgres_kill_9").await {
        return;
    }
    let schema = Schema::new();
    let bench = Bench::new(schema.url(), 4_000);
    support::worker_kill::kill_9_with_hundreds_in_flight(&bench, "postgres").await;
}

// ---------------------------------------------------------------------------------------------
// 2. The server crashed and restarted while signals flow

/// Where the server is, as the test sets it around `kill` and `restart`.
const UP: u8 = 0;
const CRASHING: u8 = 1;
const DOWN: u8 = 2;
const RESTARTING: u8 = 3;
const BACK: u8 = 4;

/// What became of one send.
#[derive(Debug)]
struct SendResult {
    key: String,
    /// `None` when `send` returned Ok, else its error.
    error: Option<signalqueue::Error>,
    /// The server's phase when the send began, and when it returned.
    began: u8,
    ended: u8,
}

impl SendResult {
    fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Sent and answered while the server was stopped.
    fn while_down(&self) -> bool {
        (self.began, self.ended) == (DOWN, DOWN)
    }

    /// Under way at some moment between the crash's start and the restart's end.
    fn met_the_outage(&self) -> bool {
        self.ended >= CRASHING && self.began <= RESTARTING
    }
}

/// The worker's log says an engine call failed (claim, acknowledgement or renewal) and that it
/// will try again.
fn saw_the_outage(stderr: &str) -> bool {
    ["cannot claim", "cannot acknowledge", "cannot renew"]
        .iter()
        .any(|what| stderr.contains(what))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crashed_and_restarted_under_load_loses_nothing_a_sender_was_told_is_queued() {
    let _serial = SERIAL.lock().await;
    let Some(mut server) = PostgresServer::start() else {
        return;
    };
    let bench = Bench::new(server.url("sq_crash"), 5_000);
    let mut worker = bench.worker(16, false);

    // A sender task: one signal after another, each `send` awaited, its outcome recorded.
    let results: Arc<Mutex<Vec<SendResult>>> = Arc::default();
    let phase = Arc::new(AtomicU8::new(UP));
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = bench.runtime().await;
    let sender = {
        let (results, phase, stop) = (results.clone(), phase.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("s{i}");
                i += 1;
                let began = phase.load(Ordering::SeqCst);
                // Never hangs: while the server is down a send fails within the engine's bound.
                let sent = tokio::time::timeout(
                    DEADLINE,
                    runtime.scope(FLAKY.send(key.clone(), "sleep-20".into())),
                )
                .await
                .unwrap_or_else(|_| panic!("send of {key} hung"));
                results.lock().unwrap().push(SendResult {
                    key,
                    error: sent.err(),
                    began,
                    ended: phase.load(Ordering::SeqCst),
                });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let wait_for = |what: &str, cond: &dyn Fn(&[SendResult]) -> bool| {
        let start = Instant::now();
        while !cond(&results.lock().unwrap()) {
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    // Signals flow: sent, and the worker handles them.
    wait_for("100 sends", &|r| r.iter().filter(|s| s.ok()).count() >= 100);
    bench.sb.wait_journal("the worker to handle 50", |j| {
        Tally::of(j).finished.len() >= 50
    });

    // The server crashes: no checkpoint, the next start replays the write-ahead log.
    phase.store(CRASHING, Ordering::SeqCst);
    let crashed = Instant::now();
    server.kill();
    phase.store(DOWN, Ordering::SeqCst);
    wait_for("sends to fail while the server is down", &|r| {
        r.iter().filter(|s| s.while_down() && !s.ok()).count() >= 10
    });
    let start = Instant::now();
    while !saw_the_outage(&worker.stderr_so_far()) {
        assert!(
            start.elapsed() < DEADLINE,
            "the worker never noticed the outage:\n{}",
            worker.stderr_so_far()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        worker.alive(),
        "the worker exited when the server went away"
    );

    // Back on the same port and data directory.
    phase.store(RESTARTING, Ordering::SeqCst);
    server.restart();
    phase.store(BACK, Ordering::SeqCst);
    let outage = crashed.elapsed();
    wait_for("100 sends after the restart", &|r| {
        r.iter().filter(|s| s.began == BACK && s.ok()).count() >= 100
    });
    stop.store(true, Ordering::SeqCst);
    sender.await.expect("the sender task");

    let results = std::mem::take(&mut *results.lock().unwrap());
    let ok: Vec<String> = results
        .iter()
        .filter(|s| s.ok())
        .map(|s| s.key.clone())
        .collect();
    let failed: Vec<&SendResult> = results.iter().filter(|s| !s.ok()).collect();
    // A send that met the stopped server says so, as an error worth retrying: never an Ok for
    // a signal that is not queued, never an error of another kind.
    let failed_while_down = failed.iter().filter(|s| s.while_down()).count();
    let ok_while_down: Vec<&String> = results
        .iter()
        .filter(|s| s.while_down() && s.ok())
        .map(|s| &s.key)
        .collect();
    assert!(
        ok_while_down.is_empty(),
        "sends returned Ok with the server down: {ok_while_down:?}"
    );
    // Only the outage makes sends fail: once the server is back, the sender's pool has
    // dropped the connections the crash broke and opens fresh ones.
    let failed_otherwise: Vec<&&SendResult> =
        failed.iter().filter(|s| !s.met_the_outage()).collect();
    assert!(
        failed_otherwise.is_empty(),
        "sends failed outside the outage: {failed_otherwise:?}"
    );
    for s in &failed {
        assert!(
            matches!(&s.error, Some(signalqueue::Error::Engine(e)) if e.is_unavailable()),
            "the send of {} failed, but not as `Unavailable`: {:?}",
            s.key,
            s.error
        );
    }

    // Every signal whose send returned Ok is handled by the same worker process, which
    // reconnected by itself.
    bench
        .sb
        .wait_journal("every acknowledged send to be handled", |j| {
            Tally::of(j).unfinished(&ok).is_empty()
        });
    assert!(worker.alive(), "the worker exited");
    let counts = bench.wait_settled().await;
    let tally = Tally::of(&bench.sb.journal());
    let (duplicates, _) = tally.duplicates(&ok);
    let failed_but_queued = failed.iter().filter(|s| tally.started(&s.key) > 0).count();
    eprintln!(
        "postgres crash: {} sends Ok (all handled), {} failed as unavailable ({failed_while_down} \
         of them while the server was stopped, the others while it stopped or started; \
         {failed_but_queued} queued anyway); {duplicates} ran twice; \
         server down {} ms",
        ok.len(),
        failed.len(),
        outage.as_millis(),
    );
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

    worker.signal("TERM");
    let out = worker.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    bench.assert_served(&out);
}
