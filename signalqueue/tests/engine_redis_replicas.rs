//! Sends survive failovers of Redis Cluster when the URL asks for replicas: a real 6-node
//! cluster on loopback (three primaries, a replica each), whose primary holding the queues is
//! killed with `-9` several times while senders run. The replica takes over, the killed node is
//! started again and rejoins as a replica, and the next round kills the new primary.
//!
//! Every other round the replica has fallen behind when its primary dies: its link was cut
//! (and the replica frozen, so it cannot reconnect) [`LAG`] before the kill. That is what a
//! replica that is slow, resyncing or briefly disconnected looks like at the moment of a crash,
//! and where asynchronous replication loses acknowledged sends; on loopback a replica that
//! keeps up is a fraction of a millisecond behind, and a plain kill rarely loses anything.
//!
//! With `?replicas=1`, every send that returned `Ok` is claimed afterwards. Without it the same
//! run only measures what was lost (`cargo test --test engine_redis_replicas -- --ignored
//! --nocapture`): asynchronous replication may or may not lose sends in a given run, so no test
//! asserts a loss. `docs/engines.md` gives the figures.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use signalqueue::engine::{EngineOptions, Outgoing, SharedEngine};
use signalqueue::EnvelopeId;

use crate::redis_server::{RedisCluster, RedisServer};

/// `cluster-node-timeout`: small, so a failover takes a few seconds, but not so small that a
/// loaded machine (CI runs every test on 2 cores) fails primaries over that are alive.
const NODE_TIMEOUT_MS: u64 = 1500;

/// How many times the primary is killed.
const KILLS: usize = 4;

/// How long the senders run between a healthy cluster and the next kill.
const SENDING: Duration = Duration::from_millis(1500);

/// How far behind the replica is at the kill, in the rounds where it lags.
const LAG: Duration = Duration::from_millis(300);

/// Concurrent single-signal senders per queue (besides one batch sender and one sender of
/// delayed signals).
const SENDERS: usize = 6;

/// What one run saw.
#[derive(Default)]
struct Run {
    /// Every payload whose write returned `Ok`, with when.
    acked: Mutex<Vec<(String, Instant)>>,
    failed: AtomicU64,
    /// The instants of the kills.
    kills: Mutex<Vec<Instant>>,
}

impl Run {
    fn acked(&self, payloads: impl IntoIterator<Item = String>) {
        let now = Instant::now();
        let mut acked = self.acked.lock().unwrap();
        acked.extend(payloads.into_iter().map(|p| (p, now)));
    }
}

/// A queue name whose slot is served by the same primary as `{sq:QUEUE}` of `first`.
fn queue_on_same_node(cluster: &RedisCluster, first: &str, prefix: &str) -> String {
    let node = cluster.primary_of(&format!("{{sq:{first}}}:pending"));
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|q| cluster.primary_of(&format!("{{sq:{q}}}:pending")) == node)
        .expect("a queue name on that node")
}

async fn open(url: &str, queue: &str) -> SharedEngine {
    signalqueue::engine::open(url, EngineOptions::new(queue))
        .await
        .expect("open the cluster engine")
}

/// Sends until `stop`: `SENDERS` tasks with one signal per call, one with batches of 8 (`SQ_FAILOVER_BATCH`), one
/// with batches that mix delayed and ready signals, and (when `ticks`) one enqueueing ticks of
/// a periodic signal. Payloads are unique; what returned `Ok` goes to `run`.
fn start_senders(
    engine: &SharedEngine,
    name: &str,
    ticks: bool,
    run: &Arc<Run>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let kinds = SENDERS + 2 + usize::from(ticks);
    for sender in 0..kinds {
        let (engine, run, stop) = (engine.clone(), run.clone(), stop.clone());
        let name = format!("{name}-{sender}");
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Outgoing> = match sender {
                    s if s < SENDERS => vec![outgoing(format!("{name}-{n}"), None)],
                    s if s == SENDERS => (0..batch_size())
                        .map(|i| outgoing(format!("{name}-{n}-{i}"), None))
                        .collect(),
                    s if s == SENDERS + 1 => {
                        let due = SystemTime::now() + Duration::from_millis(20);
                        vec![
                            outgoing(format!("{name}-{n}-later"), Some(due)),
                            outgoing(format!("{name}-{n}-now"), None),
                        ]
                    }
                    _ => {
                        let entry = outgoing(format!("{name}-{n}-tick"), None);
                        let tick = SystemTime::UNIX_EPOCH + Duration::from_secs(60 * (n + 1));
                        let ticks = engine.ticks().expect("redis has ticks");
                        match ticks.enqueue_tick(&name, tick, &entry).await {
                            Ok(true) => run.acked([String::from_utf8(entry.payload).unwrap()]),
                            Ok(false) => panic!("tick {n} of {name} was enqueued before"),
                            Err(_) => {
                                run.failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        n += 1;
                        continue;
                    }
                };
                match engine.enqueue(&batch).await {
                    Ok(()) => run.acked(
                        batch
                            .into_iter()
                            .map(|o| String::from_utf8(o.payload).unwrap()),
                    ),
                    Err(_) => {
                        run.failed.fetch_add(1, Ordering::Relaxed);
                        // Failovers fail sends for a few seconds; do not spin through them.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                n += 1;
            }
        }));
    }
    tasks
}

/// The batch sender's batch size: 8, or `SQ_FAILOVER_BATCH` (a heavier load for the
/// measurement: a bigger replication stream, so more of it is in flight at a kill).
fn batch_size() -> usize {
    std::env::var("SQ_FAILOVER_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(8)
}

fn outgoing(payload: String, not_before: Option<SystemTime>) -> Outgoing {
    Outgoing::new(EnvelopeId::new(), payload.into_bytes()).not_before(not_before)
}

/// Everything a queue holds, claimed (and acknowledged) until it is empty.
async fn drain(engine: &SharedEngine) -> HashSet<String> {
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the queue did not drain");
        let claimed = match engine
            .claim(1000, Duration::from_secs(120), Duration::from_millis(100))
            .await
        {
            Ok(claimed) => claimed,
            // The cluster may still settle after the last restart.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            match engine.counts().await {
                Ok(c) if c.pending == 0 && c.scheduled == 0 => return seen,
                _ => continue,
            }
        }
        let tokens: Vec<_> = claimed.iter().map(|c| c.token.clone()).collect();
        for c in claimed {
            seen.insert(String::from_utf8(c.payload).unwrap());
        }
        while engine.ack(&tokens).await.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Kills the primary of the queues `KILLS` times under running senders, each time after the
/// cluster healed from the last; returns what was sent and what was lost (acknowledged but
/// never claimed), with when each lost send was acknowledged.
async fn failovers(replicas: &str) -> (Arc<Run>, Vec<(String, Instant)>) {
    let mut cluster = RedisCluster::start_with_replicas(NODE_TIMEOUT_MS);
    let run_id = EnvelopeId::new();
    let plain = format!("failover-{run_id}");
    let set = queue_on_same_node(&cluster, &plain, &format!("failover-set-{run_id}"));
    let pending_key = format!("{{sq:{plain}}}:pending");
    let url = |scheme| format!("{}{replicas}", cluster.url(scheme));
    let plain_engine = open(&url("redis-cluster"), &plain).await;
    let set_engine = open(&url("redis-set-cluster"), &set).await;

    let run = Arc::new(Run::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = start_senders(&plain_engine, "plain", true, &run, &stop);
    senders.extend(start_senders(&set_engine, "set", false, &run, &stop));

    for round in 0..KILLS {
        tokio::time::sleep(SENDING).await;
        let primary = tokio::task::block_in_place(|| cluster.primary_of(&pending_key))
            .expect("a primary serves the queue");
        let lagging = round % 2 == 1;
        if lagging {
            let replica = tokio::task::block_in_place(|| cluster.replica_of(primary))
                .expect("the primary has a replica");
            cluster.nodes()[replica].freeze(true);
            cluster.nodes()[primary].command(&["CLIENT", "KILL", "TYPE", "replica"]);
            tokio::time::sleep(LAG).await;
            cluster.node_mut(primary).kill();
            cluster.nodes()[replica].freeze(false);
        }
        let started = Instant::now();
        if !lagging {
            cluster.node_mut(primary).kill();
        }
        run.kills.lock().unwrap().push(started);
        // The replica takes over once the others agree the primary failed.
        let deadline = Instant::now() + Duration::from_secs(60);
        let successor = loop {
            let now_primary = tokio::task::block_in_place(|| cluster.primary_of(&pending_key));
            if let Some(node) = now_primary {
                break node;
            }
            assert!(Instant::now() < deadline, "no replica took over");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let failover = started.elapsed();
        tokio::task::block_in_place(|| {
            cluster.node_mut(primary).restart();
            cluster.wait_until_healthy(1);
        });
        println!(
            "round {round}: killed node {primary}{}, node {successor} took over after {} ms; healthy again after {} ms",
            if lagging { " (its replica cut off before)" } else { "" },
            failover.as_millis(),
            started.elapsed().as_millis()
        );
    }
    tokio::time::sleep(SENDING).await;
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.expect("a sender panicked");
    }

    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut claimed = drain(&plain_engine).await;
    claimed.extend(drain(&set_engine).await);
    let lost: Vec<(String, Instant)> = run
        .acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(payload, _)| !claimed.contains(payload))
        .cloned()
        .collect();
    println!(
        "{} sends acknowledged, {} failed, {} kills; {} acknowledged sends lost",
        run.acked.lock().unwrap().len(),
        run.failed.load(Ordering::Relaxed),
        KILLS,
        lost.len()
    );
    (run, lost)
}

/// With `?replicas=1`, no send that returned `Ok` is lost to the failovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replicas_no_acknowledged_send_is_lost_to_failovers() {
    let (run, lost) = failovers("?replicas=1&replica_timeout_ms=500").await;
    let acked = run.acked.lock().unwrap().len();
    assert!(acked > 1000, "too few sends to tell anything: {acked}");
    assert!(
        lost.is_empty(),
        "{} of {acked} acknowledged sends were lost, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).map(|(p, _)| p).collect::<Vec<_>>()
    );
}

/// Without the option: measures how many acknowledged sends the failovers lose, and how long
/// before its kill each lost one was acknowledged. A measurement, not a check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for docs/engines.md; run with --ignored --nocapture"]
async fn without_replicas_measure_the_loss_window() {
    let (run, lost) = failovers("").await;
    let kills = run.kills.lock().unwrap().clone();
    for (i, kill) in kills.iter().enumerate() {
        // The sends acknowledged since the kill before, and lost at this one.
        let since = kills.get(i.wrapping_sub(1));
        let before: Vec<Duration> = lost
            .iter()
            .filter(|(_, at)| at <= kill && since.is_none_or(|k| at > k))
            .map(|(_, at)| *kill - *at)
            .collect();
        println!(
            "kill {i}{}: {} acknowledged sends lost, the earliest acknowledged {} ms before the kill",
            if i % 2 == 1 { " (replica cut off before)" } else { "" },
            before.len(),
            before.iter().max().map_or(0, Duration::as_millis)
        );
    }
}

/// On one primary with a replica: concurrent sends return `Ok` once the replica holds them; with
/// the replica frozen, a send (and a tick) fails within about the timeout, with an error that
/// says what happened, that the signal may still be queued, and what to do; once the replica
/// is back, sends succeed again and the replica holds every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_the_replicas_do_not_confirm_fails_and_says_so() {
    let primary = RedisServer::start();
    let replica = RedisServer::start_replica_of(&primary);
    let queue = format!("replicas-{}", EnvelopeId::new());
    let url = format!("{}?replicas=1&replica_timeout_ms=300", primary.url("redis"));
    let engine = open(&url, &queue).await;
    let pending = format!("{{sq:{queue}}}:pending");

    let mut group = tokio::task::JoinSet::new();
    for i in 0..64 {
        let engine = engine.clone();
        group.spawn(async move { engine.enqueue(&[outgoing(format!("a-{i}"), None)]).await });
    }
    while let Some(sent) = group.join_next().await {
        sent.expect("a sender panicked").expect("a replicated send");
    }
    assert_eq!(replica.command(&["LLEN", &pending]).trim(), ":64");

    replica.freeze(true);
    let err = engine
        .enqueue(&[outgoing("b".into(), None)])
        .await
        .expect_err("no replica confirms while it is frozen");
    let message = err.to_string();
    assert!(err.is_unavailable(), "{message}");
    for says in [
        "only 0 of the 1 replicas",
        "within 300 ms",
        "may still be queued",
        "INFO replication",
    ] {
        assert!(message.contains(says), "{says:?} not in: {message}");
    }
    let ticks = engine.ticks().expect("redis has ticks");
    let tick = SystemTime::UNIX_EPOCH + Duration::from_secs(60);
    let err = ticks
        .enqueue_tick("every-minute", tick, &outgoing("t".into(), None))
        .await
        .expect_err("a tick waits for the replicas too");
    assert!(
        err.to_string().contains("only 0 of the 1 replicas"),
        "{err}"
    );
    // The primary took both: the error said it may.
    assert_eq!(primary.command(&["LLEN", &pending]).trim(), ":66");

    replica.freeze(false);
    engine
        .enqueue(&[outgoing("c".into(), None)])
        .await
        .expect("a send once the replica is back");
    assert_eq!(replica.command(&["LLEN", &pending]).trim(), ":67");
}
