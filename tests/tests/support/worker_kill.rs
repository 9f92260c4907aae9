//! The kill -9 scenario, the same on every engine: a `shop-worker` holding hundreds of claims
//! is killed mid-stream, another one is started and drains the queue. Every signal is handled,
//! and only what the dead worker held can run twice.

use std::collections::BTreeSet;

use shop_signals::FLAKY;

use super::flaky::{flaky, Tally};
use super::worker_bench::Bench;

/// How many signals are sent, and how many worker slots there are: two thirds of the signals
/// wait until after the kill, so the slots all end up held by them.
const SIGNALS: usize = 400;
const SLOTS: usize = 200;

/// Runs the scenario on `bench`'s queue, which must be empty and should give the default
/// queue a lease short enough for the restart not to wait long for the dead worker's claims
/// (and long enough that a loaded machine renews in time). `label` prefixes the printed
/// figures: the claims in flight at the kill, and the runs beyond the first after the restart.
pub async fn kill_9_with_hundreds_in_flight(bench: &Bench, label: &str) {
    // Distinct keys: distinct payloads, so nothing collapses on `redis-set://` either. Two of
    // every three receivers wait for a file that appears only after the kill, so the worker's
    // 200 slots end up all held by them: 200 in flight at the kill, whatever the machine's
    // speed. The others finish at once (and some may not be acknowledged at the kill).
    let release = bench.sb.file("release");
    let slow = format!("until-{}", release.display());
    let keys: Vec<String> = (0..SIGNALS).map(|i| format!("c{i}")).collect();
    let is_slow = |i: usize| i % 3 != 0;
    let mode = |i: usize| {
        if is_slow(i) {
            slow.clone()
        } else {
            "sleep-0".to_string()
        }
    };
    let slow_keys: Vec<&String> = (0..keys.len())
        .filter(|i| is_slow(*i))
        .map(|i| &keys[i])
        .collect();
    bench
        .runtime()
        .await
        .scope(
            FLAKY.send_many(
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| flaky(k.clone(), mode(i))),
            ),
        )
        .await
        .expect("send");
    assert_eq!(
        bench.counts().await.pending,
        SIGNALS as u64,
        "nothing collapsed"
    );

    let worker = bench.worker(SLOTS, false);
    bench
        .sb
        .wait_journal("200 waiting receivers holding every slot", |j| {
            let t = Tally::of(j);
            slow_keys.iter().filter(|k| t.started(k) > 0).count() == SLOTS
        });
    worker.signal("KILL");
    let killed = worker.wait();
    assert!(!killed.status.success(), "{killed:?}");
    bench.assert_served(&killed);
    std::fs::write(&release, b"").expect("release the waiting receivers");

    // Nothing has claimed since the kill, so the leases the engine holds are exactly the dead
    // worker's claims: the most that can run twice.
    let at_kill = bench.counts().await;
    let before = Tally::of(&bench.sb.journal());
    let started_before: BTreeSet<String> = before.started.keys().cloned().collect();
    eprintln!(
        "[{label}] kill -9: {} claims in flight ({} receivers started, {} of them cut off mid-run), {} pending",
        at_kill.in_flight,
        started_before.len(),
        before.cut_off(),
        at_kill.pending
    );
    assert!(at_kill.in_flight >= SLOTS as u64, "{at_kill:?}");
    // Every signal is pending, held by the dead worker, or acknowledged (so it finished).
    assert!(
        at_kill.pending + at_kill.in_flight + before.finished.len() as u64 >= SIGNALS as u64,
        "{at_kill:?}, {} finished",
        before.finished.len()
    );

    // The restart: the same binary takes the dead worker's claims back once their leases end.
    let out = bench.worker(SLOTS, true).wait().ok();
    bench.assert_served(&out);
    let after = Tally::of(&bench.sb.journal());
    let unfinished = after.unfinished(&keys);
    assert!(unfinished.is_empty(), "never handled: {unfinished:?}");
    let (duplicates, twice) = after.duplicates(&keys);
    eprintln!(
        "[{label}] after the restart: all {} handled; {duplicates} ran twice (bound: {} in flight at the kill)",
        keys.len(),
        at_kill.in_flight
    );
    assert!(
        duplicates as u64 <= at_kill.in_flight,
        "{duplicates} duplicate runs, but only {} claims were in flight at the kill",
        at_kill.in_flight
    );
    // Only what the dead worker had started can have run twice.
    let strays: Vec<&String> = twice
        .iter()
        .filter(|k| !started_before.contains(*k))
        .collect();
    assert!(
        strays.is_empty(),
        "ran twice without being started before the kill: {strays:?}"
    );
    let counts = bench.wait_settled().await;
    assert_eq!(counts.dead, 0, "{counts:?}");
}
