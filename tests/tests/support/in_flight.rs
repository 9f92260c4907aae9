//! Duplicates only from work really in flight, the same scenarios on every engine: a live
//! worker never holds more leases than its slots, a `kill -9` re-runs at most what the dead
//! worker held (counted per kill), and a SIGTERM under senders that never pause re-runs
//! nothing. Each drives real `shop-worker` processes on `bench`'s queue, and prints its
//! figures (`-- --nocapture`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shop_signals::FLAKY;

use super::flaky::{flaky, Tally};
use super::worker_bench::Bench;
use super::{Out, DEADLINE};

/// The slots of every worker here: the default, and what the issue measured.
pub const SLOTS: usize = 64;

/// How many times a worker's log says a lease was lost or an outcome refused for that.
pub fn lease_losses(stderr: &str) -> usize {
    stderr.matches("lost the lease of a signal").count()
        + stderr.matches("acknowledgement refused").count()
        + stderr.matches("this claim's lease was lost").count()
}

/// Tasks of this process sending `flaky` signals one by one until told to stop, each as soon
/// as the previous one was queued (no pacing), or at most `rate` a second in all.
pub struct Senders {
    stop: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Senders {
    /// Starts `tasks` senders of signals whose receiver does `mode`, keys `PREFIX-TASK-N`.
    pub async fn start(
        bench: &Bench,
        prefix: &str,
        tasks: usize,
        mode: &str,
        rate: Option<u64>,
    ) -> Senders {
        let runtime = bench.runtime().await;
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let total = Arc::new(AtomicU64::new(0));
        let tasks = (0..tasks)
            .map(|t| {
                let (runtime, stop, sent, total) =
                    (runtime.clone(), stop.clone(), sent.clone(), total.clone());
                let (prefix, mode) = (prefix.to_string(), mode.to_string());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        if let Some(rate) = rate {
                            // Paced: the n-th send of all tasks is not before n / rate s.
                            let due = Duration::from_secs_f64(
                                total.load(Ordering::SeqCst) as f64 / rate as f64,
                            );
                            if let Some(wait) = due.checked_sub(started.elapsed()) {
                                tokio::time::sleep(wait).await;
                            }
                        }
                        let key = format!("{prefix}-{t}-{n}");
                        n += 1;
                        total.fetch_add(1, Ordering::SeqCst);
                        // A send that failed is not counted: only what the engine took must run.
                        if runtime
                            .scope(FLAKY.send(key.clone(), mode.clone()))
                            .await
                            .is_ok()
                        {
                            sent.lock().unwrap().push(key);
                        }
                    }
                })
            })
            .collect();
        Senders { stop, sent, tasks }
    }

    /// How many were sent so far.
    pub fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// Stops the senders; returns every key the engine took.
    pub async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.expect("a sender panicked");
        }
        let sent = self.sent.lock().unwrap().clone();
        sent
    }
}

/// Waits until the journal shows `n` more `flaky` runs finished than `since`.
fn wait_finished(bench: &Bench, what: &str, since: usize, n: usize) {
    bench.sb.wait_journal(what, |j| {
        Tally::of(j).finished.values().sum::<usize>() >= since + n
    });
}

/// A worker at [`SLOTS`] drains a backlog of no-op signals while this process counts the
/// leases the engine holds, from outside, as often as it can: never more than [`SLOTS`].
pub async fn never_more_leases_than_slots(bench: &Bench, label: &str, backlog: usize) {
    let keys: Vec<String> = (0..backlog).map(|i| format!("b{i}")).collect();
    let runtime = bench.runtime().await;
    for chunk in keys.chunks(1000) {
        runtime
            .scope(FLAKY.send_many(chunk.iter().map(|k| flaky(k.clone(), "sleep-0"))))
            .await
            .expect("send");
    }
    let engine = bench.engine().await;
    let worker = bench.worker(SLOTS, true);
    let (mut most, mut busy_looks) = (0, 0);
    let start = Instant::now();
    loop {
        let c = engine.counts().await.expect("counts");
        most = most.max(c.in_flight);
        if c.in_flight > 0 {
            busy_looks += 1;
        }
        if c.pending + c.in_flight == 0 {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the backlog never drained: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let out = worker.wait().ok();
    bench.assert_served(&out);
    eprintln!(
        "[{label}] {backlog} drained at --concurrency {SLOTS}: at most {most} leases held, in {busy_looks} looks while busy"
    );
    // Looks that found work in flight, so the bound below was put to the test.
    assert!(busy_looks >= 10, "only {busy_looks} looks found leases");
    assert!(
        most <= SLOTS as u64,
        "the worker held {most} leases with {SLOTS} slots"
    );
    let tally = Tally::of(&bench.sb.journal());
    assert!(tally.unfinished(&keys).is_empty());
    assert_eq!(tally.duplicates(&keys).0, 0, "nothing was killed");
}

/// What one `kill -9` left behind.
#[derive(Debug)]
pub struct Kill {
    /// Leases the engine held right after the kill: the dead worker's claims.
    pub leased: u64,
    /// Receivers the journal shows started and not finished at the kill.
    pub cut_off: usize,
}

/// A worker at [`SLOTS`] handles a steady stream (`rate` a second, receivers of `mode`) and is
/// killed with `-9` `kills` times, restarted each time. Returns the duplicates per kill, and
/// checks that they come only from the dead workers' claims, never more than [`SLOTS`] a kill.
pub async fn kill_9_duplicates_per_kill(
    bench: &Bench,
    label: &str,
    kills: usize,
    rate: u64,
    mode: &str,
    lease: Duration,
) -> f64 {
    let engine = bench.engine().await;
    let senders = Senders::start(bench, "k", 4, mode, Some(rate)).await;
    let mut at_kills = Vec::new();
    let mut ended: Vec<Out> = Vec::new();
    let mut worker = bench.worker(SLOTS, false);
    let mut cut_before = 0;
    for round in 0..kills {
        // Past the previous dead worker's leases, so each kill's leases are its own, and some
        // work since.
        let restarted = Instant::now();
        let done = Tally::of(&bench.sb.journal()).finished.values().sum();
        wait_finished(bench, "the restarted worker to handle signals", done, 200);
        while restarted.elapsed() < lease * 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let before = engine.counts().await.expect("counts").in_flight;
        worker.signal("KILL");
        let killed = worker.wait();
        assert!(!killed.status.success(), "{killed:?}");
        let leased = engine.counts().await.expect("counts").in_flight.max(before);
        // Keys cut off at an earlier kill stay counted (started twice, finished once).
        let cut_off = Tally::of(&bench.sb.journal()).cut_off() - cut_before;
        cut_before += cut_off;
        eprintln!("[{label}] kill {round}: {leased} leases held, {cut_off} receivers cut off");
        at_kills.push(Kill { leased, cut_off });
        ended.push(killed);
        worker = bench.worker(SLOTS, false);
    }
    // Up and handling, so that it has its SIGTERM handler.
    let done = Tally::of(&bench.sb.journal()).finished.values().sum();
    wait_finished(bench, "the last worker to handle signals", done, 100);
    let sent = senders.stop().await;
    worker.signal("TERM");
    let out = worker.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    ended.push(out);
    // What the last worker gave back or left, and the dead workers' claims once expired.
    let last = bench.worker(SLOTS, true).wait().ok();
    bench.assert_served(&last);
    ended.push(last);

    let tally = Tally::of(&bench.sb.journal());
    let unfinished = tally.unfinished(&sent);
    assert!(unfinished.is_empty(), "never handled: {unfinished:?}");
    let (duplicates, _) = tally.duplicates(&sent);
    let leased: u64 = at_kills.iter().map(|k| k.leased).sum();
    let cut_off: usize = at_kills.iter().map(|k| k.cut_off).sum();
    let lost: usize = ended.iter().map(|o| lease_losses(&o.stderr)).sum();
    let per_kill = duplicates as f64 / kills as f64;
    eprintln!(
        "[{label}] {} sent at {rate}/s, {kills} kills: {duplicates} ran twice, {per_kill:.1} per kill \
         (leases held at the kills {leased}, receivers cut off {cut_off}; leases lost by live workers {lost})",
        sent.len()
    );
    for k in &at_kills {
        assert!(k.leased <= SLOTS as u64, "{k:?}: more leases than slots");
    }
    assert_eq!(lost, 0, "a live worker lost leases");
    assert!(
        duplicates as u64 <= leased,
        "{duplicates} ran twice, but the dead workers held only {leased} claims"
    );
    let counts = bench.wait_settled().await;
    assert_eq!(counts.dead, 0, "{counts:?}");
    per_kill
}

/// Tasks of this process enqueueing raw entries one by one into queue `noise` of `bench`'s
/// engine, each as soon as the previous one was taken, until told to stop: on SQLite they hold
/// the file's write lock nearly all the time, as a busy web process does, without adding work
/// for the worker. Returns how many they enqueued.
async fn noise(bench: &Bench, tasks: usize, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let engine =
        signalqueue::engine::open(&bench.url, signalqueue::engine::EngineOptions::new("noise"))
            .await
            .expect("open the noise queue");
    tokio::spawn(async move {
        let all: Vec<_> = (0..tasks)
            .map(|_| {
                let (engine, stop) = (engine.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let entry = signalqueue::engine::Outgoing::new(
                            signalqueue::EnvelopeId::new(),
                            b"noise".to_vec(),
                        );
                        if engine.enqueue(&[entry]).await.is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        let mut n = 0;
        for t in all {
            n += t.await.expect("a noise sender panicked");
        }
        n
    })
}

/// A worker at [`SLOTS`] is stopped with SIGTERM `stops` times (restarted each time) while
/// senders that never pause write to the engine: `tasks` of them into another queue, and two
/// of them signals for the worker. Receivers longer than a third of the lease (`lease`, short)
/// need their renewals to land under that load. Every stop exits 0 and nothing runs twice.
pub async fn sigterm_under_unpaced_senders(
    bench: &Bench,
    label: &str,
    tasks: usize,
    stops: usize,
    lease: Duration,
) {
    let stop_noise = Arc::new(AtomicBool::new(false));
    let noise = noise(bench, tasks, stop_noise.clone()).await;
    let senders = Senders::start(bench, "t", 2, "sleep-1", None).await;
    let mut ended: Vec<Out> = Vec::new();
    let mut worker = bench.worker(SLOTS, false);
    let runtime = bench.runtime().await;
    let mut long = Vec::new();
    for round in 0..=stops {
        // Receivers that outlive a renewal period, in flight at the stop.
        let keys: Vec<String> = (0..SLOTS / 2).map(|i| format!("long{round}-{i}")).collect();
        let ms = lease.as_millis() * 3 / 4;
        runtime
            .scope(FLAKY.send_many(keys.iter().map(|k| flaky(k.clone(), format!("sleep-{ms}")))))
            .await
            .expect("send the long ones");
        long.extend(keys);
        let done = Tally::of(&bench.sb.journal()).finished.values().sum();
        wait_finished(bench, "the worker to handle signals", done, 300);
        if round == stops {
            break;
        }
        worker.signal("TERM");
        let out = worker.wait();
        assert_eq!(out.code(), 0, "{out:?}");
        eprintln!(
            "[{label}] SIGTERM {round}: exit 0, {} sent so far, {} leases lost or refused",
            senders.count(),
            lease_losses(&out.stderr)
        );
        ended.push(out);
        worker = bench.worker(SLOTS, false);
    }
    let mut sent = senders.stop().await;
    stop_noise.store(true, Ordering::SeqCst);
    let noise = noise.await.expect("noise");
    sent.extend(long);
    worker.signal("TERM");
    let out = worker.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    ended.push(out);
    let last = bench.worker(SLOTS, true).wait().ok();
    bench.assert_served(&last);
    ended.push(last);

    let tally = Tally::of(&bench.sb.journal());
    let unfinished = tally.unfinished(&sent);
    assert!(unfinished.is_empty(), "never handled: {unfinished:?}");
    let (duplicates, twice) = tally.duplicates(&sent);
    let lost: usize = ended.iter().map(|o| lease_losses(&o.stderr)).sum();
    eprintln!(
        "[{label}] {} signals sent by 2 unpaced senders beside {noise} entries by {tasks} others, \
         {stops} SIGTERMs: {duplicates} ran twice, {lost} leases lost or refused",
        sent.len()
    );
    let first: BTreeSet<&String> = twice.iter().take(10).collect();
    assert_eq!(duplicates, 0, "ran twice after clean stops: {first:?}");
    assert_eq!(lost, 0, "leases lost under the senders");
    let counts = bench.wait_settled().await;
    assert_eq!(counts.dead, 0, "{counts:?}");
}
