//! The two-line `shop-worker` binary against Redis, through the failures issue 3 lists: kill -9
//! of a worker with hundreds of signals in flight, Redis itself killed and restarted under a
//! steady stream of sends, two workers on one queue with receivers shorter and longer than the
//! lease (and one of them frozen), and a short chaos loop with toxic entries.
//!
//! Each test runs its own `redis-server` on a free loopback port (never a Redis the machine
//! runs) and passes it to every process as `SIGNALQUEUE_URL`. Nothing here waits a fixed time
//! for something to happen: every "eventually" polls the journal or the engine's counts with a
//! generous deadline, and the figures (in flight at a kill, duplicate runs) are printed, so
//! `cargo test --test redis_worker -- --nocapture` shows them. Skipped, loudly, where
//! `redis-server` is not installed (CI installs it).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shop_signals::{FlakyArgs, FLAKY};
use support::flaky::{flaky, Tally};
use support::redis::{Persistence, RedisServer};
use support::worker_bench::Bench;
use support::{Out, Running, DEADLINE};

// The crates `shop-worker` links, linked here too, so this process's registry is the worker's.
use audit_receivers as _;
use shop_receivers as _;

/// Everything the engine holds, for `dead(...)`.
const ALL: usize = usize::MAX;

/// One test at a time: each runs Redis and up to two workers with hundreds of receivers, which
/// is as much as a 2-core machine should carry if leases are to be renewed in time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A private Redis and a bench whose worker processes reach it through `SIGNALQUEUE_URL`
/// (`scheme://127.0.0.1:PORT/0`), with `lease_ms` on the default queue.
fn redis_bench(
    test: &str,
    scheme: &str,
    lease_ms: u64,
    persistence: Persistence,
) -> Option<(Bench, RedisServer)> {
    if !support::redis::available(test) {
        return None;
    }
    let redis = RedisServer::start_with(persistence);
    Some((Bench::new(redis.url(scheme), lease_ms), redis))
}

/// How many times a worker's log says it lost a lease or had an outcome refused for that.
fn lease_losses(stderr: &str) -> (usize, usize) {
    (
        stderr.matches("lost the lease of a signal").count(),
        stderr.matches("acknowledgement refused").count()
            + stderr.matches("this claim's lease was lost").count(),
    )
}

// ---------------------------------------------------------------------------------------------
// 1. kill -9 with hundreds in flight, then a restart

/// The scenario of `support/worker_kill.rs`, on a private Redis.
async fn kill_9_with_hundreds_in_flight(test: &str, scheme: &str) {
    let _serial = SERIAL.lock().await;
    let Some((bench, _redis)) = redis_bench(test, scheme, 4_000, Persistence::None) else {
        return;
    };
    support::worker_kill::kill_9_with_hundreds_in_flight(&bench, scheme).await;
}

#[tokio::test]
async fn redis_kill_9_with_hundreds_in_flight_then_a_restart_handles_every_signal() {
    kill_9_with_hundreds_in_flight("redis_kill_9", "redis").await;
}

#[tokio::test]
async fn redis_set_kill_9_with_hundreds_in_flight_then_a_restart_handles_every_signal() {
    kill_9_with_hundreds_in_flight("redis_set_kill_9", "redis-set").await;
}

// ---------------------------------------------------------------------------------------------
// 2. Redis killed and restarted (AOF) while signals flow

/// What became of one send.
#[derive(Debug)]
struct SendResult {
    key: String,
    ok: bool,
    /// Sent once the restarted Redis answered.
    after_restart: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load_loses_nothing_a_sender_was_told_is_queued() {
    let _serial = SERIAL.lock().await;
    let Some((bench, mut redis)) = redis_bench(
        "redis_killed_and_restarted",
        "redis",
        5_000,
        Persistence::AofAlways,
    ) else {
        return;
    };
    let mut worker = bench.worker(16, false);

    // A sender task: one signal after another, each `send` awaited, its outcome recorded.
    let results: Arc<Mutex<Vec<SendResult>>> = Arc::default();
    let restarted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runtime = bench.runtime().await;
    let sender = {
        let (results, restarted, stop) = (results.clone(), restarted.clone(), stop.clone());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let key = format!("s{i}");
                i += 1;
                let after_restart = restarted.load(std::sync::atomic::Ordering::SeqCst);
                let start = Instant::now();
                // Never hangs: while Redis is down a send fails within the engine's bound.
                let sent = tokio::time::timeout(
                    DEADLINE,
                    runtime.scope(FLAKY.send(key.clone(), "sleep-20".into())),
                )
                .await
                .unwrap_or_else(|_| panic!("send of {key} hung"));
                slowest = slowest.max(start.elapsed());
                results.lock().unwrap().push(SendResult {
                    key,
                    ok: sent.is_ok(),
                    after_restart,
                });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            slowest
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
    wait_for("100 sends", &|r| r.iter().filter(|s| s.ok).count() >= 100);
    bench.sb.wait_journal("the worker to handle 50", |j| {
        Tally::of(j).finished.len() >= 50
    });

    // Redis dies (SIGKILL: no chance to save anything on the way out).
    redis.kill();
    let sent_before = results.lock().unwrap().len();
    let down = Instant::now();
    wait_for("sends to fail", &|r| {
        r[sent_before..].iter().filter(|s| !s.ok).count() >= 10
    });
    worker.wait_stderr("cannot claim; trying again");
    let outage = down.elapsed();

    // Back on the same port and directory: it reloads its append-only file.
    redis.restart();
    restarted.store(true, std::sync::atomic::Ordering::SeqCst);
    wait_for("100 sends after the restart", &|r| {
        r.iter().filter(|s| s.ok && s.after_restart).count() >= 100
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let slowest = sender.await.expect("the sender task");

    let results = std::mem::take(&mut *results.lock().unwrap());
    let ok: Vec<String> = results
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.key.clone())
        .collect();
    let failed: Vec<String> = results
        .iter()
        .filter(|s| !s.ok)
        .map(|s| s.key.clone())
        .collect();
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
    let failed_but_queued = failed.iter().filter(|k| tally.started(k) > 0).count();
    // A connection learns that Redis restarted from its next call, which fails.
    let failed_once_back = results.iter().filter(|s| !s.ok && s.after_restart).count();
    eprintln!(
        "redis outage: {} sends Ok (all handled), {} failed ({} of them queued anyway, \
         {failed_once_back} after Redis answered again); {duplicates} ran twice; \
         Redis down {} ms; slowest send {} ms",
        ok.len(),
        failed.len(),
        failed_but_queued,
        outage.as_millis(),
        slowest.as_millis()
    );
    assert_eq!(counts.dead, 0, "{counts:?}");

    worker.signal("TERM");
    let out = worker.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    bench.assert_served(&out);
}

// ---------------------------------------------------------------------------------------------
// 3. Two workers on one queue

#[tokio::test]
async fn two_workers_with_receivers_shorter_and_longer_than_the_lease_never_run_one_twice() {
    let _serial = SERIAL.lock().await;
    let Some((bench, _redis)) = redis_bench("two_workers", "redis", 3_000, Persistence::None)
    else {
        return;
    };
    // Long receivers take three times the lease: without renewal the other worker would take
    // them over. Short ones keep both workers claiming around them.
    let mut keys = Vec::new();
    let mut batch = Vec::new();
    for i in 0..60 {
        if i % 10 == 0 {
            let key = format!("long{i}");
            batch.push(flaky(key.clone(), "sleep-9000"));
            keys.push(key);
        }
        let key = format!("short{i}");
        batch.push(flaky(key.clone(), "sleep-100"));
        keys.push(key);
    }
    bench
        .runtime()
        .await
        .scope(FLAKY.send_many(batch))
        .await
        .expect("send");

    let a = bench.worker(4, true);
    let b = bench.worker(4, true);
    let (a, b) = (a.wait().ok(), b.wait().ok());
    bench.assert_served(&a);

    let tally = Tally::of(&bench.sb.journal());
    let unfinished = tally.unfinished(&keys);
    assert!(unfinished.is_empty(), "never handled: {unfinished:?}");
    let (duplicates, twice) = tally.duplicates(&keys);
    let runs = |out: &Out| {
        out.stderr
            .matches("receiver=shop_receivers::flaky attempt=1 outcome=ok")
            .count()
    };
    let (lost_a, refused_a) = lease_losses(&a.stderr);
    let (lost_b, refused_b) = lease_losses(&b.stderr);
    eprintln!(
        "two workers: {} signals ({} longer than the lease), worker A ran {}, worker B ran {}; \
         leases lost {}, outcomes refused {}, {duplicates} ran twice",
        keys.len(),
        keys.iter().filter(|k| k.starts_with("long")).count(),
        runs(&a),
        runs(&b),
        lost_a + lost_b,
        refused_a + refused_b
    );
    // Renewed while their receivers run, no lease was lost, so nothing ran twice.
    assert_eq!(
        (duplicates, lost_a + lost_b, refused_a + refused_b),
        (0, 0, 0),
        "ran twice: {twice:?}\n--- A\n{}\n--- B\n{}",
        a.stderr,
        b.stderr
    );
    let counts = bench.wait_settled().await;
    assert_eq!(counts.dead, 0, "{counts:?}");
}

#[tokio::test]
async fn a_frozen_worker_loses_its_claims_to_the_other_and_only_those_run_twice() {
    let _serial = SERIAL.lock().await;
    let Some((bench, _redis)) = redis_bench("frozen_worker", "redis", 1_500, Persistence::None)
    else {
        return;
    };
    let release = bench.sb.file("release");
    let keys: Vec<String> = (0..3).map(|i| format!("p{i}")).collect();
    bench
        .runtime()
        .await
        .scope(
            FLAKY.send_many(
                keys.iter()
                    .map(|k| flaky(k.clone(), format!("until-{}", release.display()))),
            ),
        )
        .await
        .expect("send");

    let a = bench.worker(3, false);
    bench.sb.wait_journal("worker A to start all three", |j| {
        Tally::of(j).started.len() == 3
    });
    // A freezes (SIGSTOP: a stalled VM, a long GC pause) past its lease.
    a.signal("STOP");
    let b = bench.worker(3, true);
    bench
        .sb
        .wait_journal("worker B to take all three over", |j| {
            let t = Tally::of(j);
            keys.iter().all(|k| t.started(k) == 2)
        });
    std::fs::write(&release, b"").expect("release");
    let b = b.wait().ok();
    // A wakes up: its receivers finish, and what it says about them is refused.
    a.signal("CONT");
    a.wait_stderr("acknowledgement refused");
    let start = Instant::now();
    while lease_losses(&a.stderr_so_far()).1 < keys.len() {
        assert!(start.elapsed() < DEADLINE, "{}", a.stderr_so_far());
        std::thread::sleep(Duration::from_millis(20));
    }
    a.signal("TERM");
    let a = a.wait();
    assert_eq!(a.code(), 0, "{a:?}");

    let tally = Tally::of(&bench.sb.journal());
    let (duplicates, _) = tally.duplicates(&keys);
    let (lost, refused) = lease_losses(&a.stderr);
    eprintln!(
        "frozen worker: {} claims taken over, {duplicates} ran twice; worker A: {lost} leases seen lost, {refused} outcomes refused; worker B: {:?}",
        keys.len(),
        lease_losses(&b.stderr)
    );
    // Each frozen claim ran twice (A's run and B's), and only B's counted.
    assert_eq!(duplicates, keys.len());
    assert_eq!(refused, keys.len(), "{}", a.stderr);
    assert_eq!(lease_losses(&b.stderr), (0, 0), "{}", b.stderr);
    let counts = bench.wait_settled().await;
    assert_eq!(counts.dead, 0, "{counts:?}");
}

// ---------------------------------------------------------------------------------------------
// 4. Chaos

/// xorshift64*: enough randomness to pick victims and durations, reproducible from its seed.
struct Rng(u64);

impl Rng {
    /// Seeded from `SQ_CHAOS_SEED` when set (to replay a run), else from the clock.
    fn from_env_or_clock() -> Rng {
        let seed = std::env::var("SQ_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("chaos: SQ_CHAOS_SEED={seed}");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test]
async fn chaos_kill_workers_restart_redis_inject_toxic_entries_and_lose_nothing() {
    let _serial = SERIAL.lock().await;
    let Some((bench, mut redis)) = redis_bench("chaos", "redis", 4_000, Persistence::AofAlways)
    else {
        return;
    };
    let mut rng = Rng::from_env_or_clock();
    let runtime = bench.runtime().await;
    let engine = bench.engine().await;
    let mut workers: Vec<Running> = (0..2).map(|_| bench.worker(32, false)).collect();
    let mut ended: Vec<Out> = Vec::new();

    let mut good: Vec<String> = Vec::new();
    // Toxic entries pushed by hand, byte for byte, and `flaky` signals that always fail.
    let mut raw_toxic: Vec<String> = Vec::new();
    let mut failing: Vec<String> = Vec::new();
    // What may run twice: the claims in flight at each kill.
    let mut allowance = 0;
    for round in 1..=3 {
        let keys: Vec<String> = (0..120).map(|i| format!("g{round}-{i}")).collect();
        let batch: Vec<FlakyArgs> = keys
            .iter()
            .map(|k| flaky(k.clone(), format!("sleep-{}", 50 + rng.below(1450))))
            .collect();
        runtime
            .scope(FLAKY.send_many(batch))
            .await
            .expect("send the good ones");
        good.extend(keys.iter().cloned());
        let toxic = [
            // Not an envelope at all.
            format!("garbage of round {round}: {:x}", rng.next()),
            // An envelope naming a signal no worker knows.
            format!(r#"{{"v":1,"signal":"chaos.no_such_signal","args":{{"round":{round}}}}}"#),
            // A known signal whose arguments no longer decode (the type changed).
            format!(r#"{{"v":1,"signal":"shop.flaky","args":{{"key":{round},"mode":"ok"}}}}"#),
        ];
        for raw in toxic {
            redis.command(&["RPUSH", "{sq:default}:pending", raw.as_str()]);
            raw_toxic.push(raw);
        }
        let fail = format!("fail{round}");
        let _ = runtime
            .scope(FLAKY.send(fail.clone(), "fail".into()))
            .await
            .expect("send the failing one");
        failing.push(fail);

        // Work in flight, then a worker dies.
        bench
            .sb
            .wait_journal("this round's receivers to start", |j| {
                let t = Tally::of(j);
                keys.iter().filter(|k| t.started(k) > 0).count() >= 30
            });
        let victim = rng.below(2) as usize;
        let held_before = engine.counts().await.expect("counts").in_flight;
        let killed = workers.remove(victim);
        killed.signal("KILL");
        ended.push(killed.wait());
        // Every claim Redis holds: the dead worker's (its leases stay until they expire, so
        // counting right after the kill sees them all), the other's, and any of an earlier
        // kill not yet expired. An upper bound on what this kill can make run twice.
        let held_after = engine.counts().await.expect("counts").in_flight;
        let in_flight = held_before.max(held_after);
        allowance += in_flight;
        workers.insert(victim, bench.worker(32, false));
        eprintln!("chaos round {round}: kill -9 of worker {victim} with {in_flight} claims in flight; restarted");

        if round == 2 {
            // Redis dies too, and comes back from its append-only file.
            let held = engine.counts().await.expect("counts").in_flight;
            redis.kill();
            redis.restart();
            allowance += held;
            eprintln!(
                "chaos round {round}: Redis killed and restarted with {held} claims in flight"
            );
            // Make sure this process's two idle connections answer before the next sends, so
            // every send of the test succeeds and its key is known to be queued exactly once.
            // An engine hears that its connection dropped from its async runtime, and this
            // test's runtime (one thread) was blocked in `kill` and `restart` all along: a
            // connection may find out only at its next call, which then fails. (With a runtime
            // free to run, the engine confirms a dropped connection with PING before its next
            // request, and such a call succeeds: `signalqueue/tests/engine_redis.rs`.)
            let sender = runtime.queue("default").expect("the default queue").clone();
            let mut failed = 0;
            for handle in [&sender, &engine] {
                let start = Instant::now();
                while let Err(e) = handle.ping().await {
                    failed += 1;
                    assert!(start.elapsed() < DEADLINE, "no reconnection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            eprintln!("chaos round {round}: this process's two idle connections failed {failed} calls before answering again");
        }
    }

    // Every good signal is handled; every toxic one ends in dead letters; nothing else is left.
    bench
        .sb
        .wait_journal("every good signal to be handled", |j| {
            Tally::of(j).unfinished(&good).is_empty()
        });
    let toxic_total = (raw_toxic.len() + failing.len()) as u64;
    let start = Instant::now();
    loop {
        let c = engine.counts().await.expect("counts");
        if c.pending + c.scheduled + c.in_flight == 0 && c.dead >= toxic_total {
            assert_eq!(c.dead, toxic_total, "{c:?}");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the queue never settled: {c:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = engine.dead(ALL).await.expect("dead letters");
    for raw in &raw_toxic {
        let n = dead.iter().filter(|d| d.payload == raw.as_bytes()).count();
        assert_eq!(n, 1, "{raw} is in dead letters {n} times: {dead:#?}");
    }
    for key in &failing {
        let why = format!("flaky {key} failed as asked");
        let n = dead.iter().filter(|d| d.reason.contains(&why)).count();
        assert_eq!(n, 1, "{key} is in dead letters {n} times: {dead:#?}");
    }
    let list = bench.run(&["dead", "list"]).ok().stdout;
    assert_eq!(list.lines().count() as u64, toxic_total, "{list}");
    for (what, n) in [
        ("\t<malformed>\t", 3),
        ("\tchaos.no_such_signal\t", 3),
        ("\tshop.flaky\t", 6),
    ] {
        assert_eq!(list.matches(what).count(), n, "{what}: {list}");
    }

    for w in workers {
        w.signal("TERM");
        let out = w.wait();
        assert_eq!(out.code(), 0, "{out:?}");
        ended.push(out);
    }
    let tally = Tally::of(&bench.sb.journal());
    let (duplicates, twice) = tally.duplicates(&good);
    let lost: usize = ended.iter().map(|o| lease_losses(&o.stderr).0).sum();
    eprintln!(
        "chaos: {} good signals all handled, {} toxic all dead-lettered; {duplicates} ran twice \
         (bound: {allowance} in flight at the kills, plus {lost} leases lost)",
        good.len(),
        toxic_total
    );
    assert!(
        duplicates as u64 <= allowance + lost as u64,
        "{duplicates} duplicate runs ({twice:?}), but only {allowance} claims were in flight at the kills"
    );
}
