//! Periodic signals with real worker processes: three `clock-worker`s share one queue for 30
//! seconds while one of them is killed with `-9` and restarted every few seconds, and every
//! second's tick is enqueued exactly once (one envelope per tick) with no gap; a tick delivered
//! twice (a worker killed after running it, before its ack) is the same envelope, and is
//! counted apart. On SQLite (a file in the sandbox), a private Redis and PostgreSQL (a private
//! schema).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use signalqueue::engine::unix_ms;
use support::postgres::Schema;
use support::redis::{available, RedisServer};
use support::{Running, Sandbox};

const WORKER: &str = env!("CARGO_BIN_EXE_clock-worker");

/// How long the three workers run.
const RUN: Duration = Duration::from_secs(30);

fn worker(sb: &Sandbox, url: &str) -> Running {
    let mut cmd = sb.command(WORKER, &["run", "127.0.0.1:0"]);
    cmd.env("SIGNALQUEUE_URL", url);
    Running::spawn(cmd)
}

/// Each journaled tick of `signal` with the envelopes it came in (`tick <signal> <ms> <id>`).
fn ticks(journal: &[String], signal: &str) -> BTreeMap<u64, Vec<String>> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for line in journal {
        let mut words = line.split(' ');
        if words.next() != Some("tick") || words.next() != Some(signal) {
            continue;
        }
        let tick = words.next().and_then(|t| t.parse().ok()).expect("a tick");
        let id = words.next().expect("an id").to_string();
        out.entry(tick).or_default().push(id);
    }
    out
}

/// The workers' lease: a tick claimed by a worker killed before it ran comes back this soon.
const LEASE: Duration = Duration::from_secs(2);

async fn three_workers_one_tick_each(url: &str) {
    // The URL is given both here and in `SIGNALQUEUE_URL` (which wins), for the short lease.
    let sb = Sandbox::new(Some(&format!(
        "[queues.default]\nurl = \"{url}\"\nlease = \"{}s\"\n",
        LEASE.as_secs()
    )));
    let mut workers: Vec<Running> = (0..3).map(|_| worker(&sb, url)).collect();
    let start = Instant::now();
    let mut kills: usize = 0;
    while start.elapsed() < RUN {
        tokio::time::sleep(Duration::from_millis(2_500 + 700 * (kills as u64 % 3))).await;
        let victim = kills % 3;
        workers[victim].signal("KILL");
        let killed = std::mem::replace(&mut workers[victim], worker(&sb, url));
        let _ = killed.wait();
        kills += 1;
    }
    // Stop cleanly; the last ticks are handled by the workers before they go. Ticks after this
    // are the last worker's own (its scheduler catches up only the latest missed one).
    let stopped_at = unix_ms(std::time::SystemTime::now());
    for w in &workers {
        w.signal("TERM");
    }
    let mut stderr = String::new();
    for w in workers {
        stderr.push_str(&w.wait().stderr);
    }
    // What is still queued (a tick enqueued as the workers stopped, or claimed by a worker
    // killed before it ran it, claimable again once that lease is over) runs in a last worker.
    tokio::time::sleep(LEASE + Duration::from_millis(500)).await;
    let mut cmd = sb.command(WORKER, &["run", "127.0.0.1:0", "--halt-when-exhausted"]);
    cmd.env("SIGNALQUEUE_URL", url);
    let last = Running::spawn(cmd);
    tokio::time::sleep(Duration::from_millis(300)).await;
    last.signal("TERM");
    let _ = last.wait();

    let mut ticks = ticks(&sb.journal(), "clock.second");
    ticks.retain(|&tick, _| tick <= stopped_at);
    let enqueued_twice: Vec<(&u64, &Vec<String>)> = ticks
        .iter()
        .filter(|(_, ids)| ids.iter().collect::<BTreeSet<_>>().len() > 1)
        .collect();
    assert!(
        enqueued_twice.is_empty(),
        "{url}: ticks enqueued more than once: {enqueued_twice:?}\n{}",
        &stderr[stderr.len().saturating_sub(4000)..]
    );
    let seconds: Vec<u64> = ticks.keys().copied().collect();
    assert!(
        seconds.len() as u64 >= RUN.as_secs() - 3,
        "{url}: only {} ticks in {RUN:?}",
        seconds.len()
    );
    let gaps: Vec<(u64, u64)> = seconds
        .windows(2)
        .filter(|w| w[1] - w[0] != 1_000)
        .map(|w| (w[0], w[1]))
        .collect();
    assert!(
        gaps.is_empty(),
        "{url}: ticks missing between {gaps:?}\n{}",
        &stderr[stderr.len().saturating_sub(4000)..]
    );
    let redelivered: usize = ticks.values().map(|ids| ids.len() - 1).sum();
    eprintln!(
        "{url}: {} ticks, each enqueued once, across {kills} kills; {redelivered} delivered again after a kill",
        seconds.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tick_once_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("clock.db").display());
    three_workers_one_tick_each(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tick_once_on_redis() {
    if !available("every_tick_once_on_redis") {
        return;
    }
    let redis = RedisServer::start();
    three_workers_one_tick_each(&redis.url("redis")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tick_once_on_postgres() {
    if !support::postgres::available("every_tick_once_on_postgres").await {
        return;
    }
    let schema = Schema::new();
    three_workers_one_tick_each(&schema.url()).await;
    drop(schema);
}

/// Runs one worker for `secs` seconds, then stops it (TERM).
async fn run_for(sb: &Sandbox, url: &str, secs: u64) {
    let w = worker(sb, url);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    w.signal("TERM");
    w.wait().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_ticks_follow_each_catch_up_policy() {
    let sb = Sandbox::new(None);
    let url = format!("sqlite://{}", sb.file("clock.db").display());
    run_for(&sb, &url, 3).await;
    // The latest tick the first run enqueued, as the engine recorded it.
    let engine =
        signalqueue::engine::open(&url, signalqueue::engine::EngineOptions::new("default"))
            .await
            .expect("open the queue");
    let mut enqueued_before = BTreeMap::new();
    for signal in ["clock.second", "clock.second_all", "clock.second_none"] {
        let last = engine
            .ticks()
            .expect("SQLite keeps ticks")
            .last_tick(signal)
            .await
            .expect("last tick")
            .expect("the first run enqueued ticks");
        enqueued_before.insert(signal, unix_ms(last));
    }
    let last_before = |signal: &str| enqueued_before[signal];
    // `schedule` shows the same latest tick, read from the engine.
    let mut cmd = sb.command(WORKER, &["schedule", "--json"]);
    cmd.env("SIGNALQUEUE_URL", &url);
    let listed = Running::spawn(cmd).wait().ok();
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).expect("JSON");
    for signal in listed["signals"].as_array().expect("signals") {
        let name = signal["name"].as_str().expect("a name");
        let shown = humantime::parse_rfc3339(signal["last_tick"].as_str().expect("a last tick"))
            .expect("RFC 3339");
        assert_eq!(unix_ms(shown), enqueued_before[name], "{signal:#}");
    }
    // Down across several ticks.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let restarted = unix_ms(std::time::SystemTime::now());
    run_for(&sb, &url, 3).await;
    let after = sb.journal();
    let missed = |signal: &str| -> Vec<u64> {
        let from = last_before(signal);
        ticks(&after, signal)
            .keys()
            .copied()
            .filter(|t| *t > from && *t <= restarted)
            .collect()
    };
    let all = missed("clock.second_all");
    let last = missed("clock.second");
    let none = missed("clock.second_none");
    eprintln!("missed ticks enqueued on restart: all {all:?}, last {last:?}, none {none:?}");
    assert!(all.len() >= 3, "`all` enqueues every missed tick: {all:?}");
    assert!(
        all.windows(2).all(|w| w[1] - w[0] == 1_000),
        "`all` has no gap: {all:?}"
    );
    assert_eq!(last.len(), 1, "`last` enqueues one missed tick: {last:?}");
    assert_eq!(
        last.first(),
        all.last(),
        "`last` enqueues the most recent missed tick"
    );
    assert!(none.is_empty(), "`none` enqueues no missed tick: {none:?}");
}
