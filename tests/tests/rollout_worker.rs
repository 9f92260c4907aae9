//! Issue 11, sections 1 and 2, with real worker processes on every engine.
//!
//! 1. Each receiver's retry limit is its own: `rollout.split` has `fails_soon` (`retries = 1`)
//!    and `fails_late` (`retries = 4`), which always fail, and `succeeds`. Per signal,
//!    `fails_soon` runs exactly 2 times, `fails_late` exactly 5 and `succeeds` once; the two
//!    failing receivers end as two dead letters, each naming its receiver and owing only it, and
//!    `dead replay` of one of them runs only that receiver.
//! 2. A rolling deploy does not fill the dead letters: `shop-worker` (the older release) does not
//!    know `rollout.new_signal` nor link `rollout::late_flaky`; `rollout-worker` (the newer)
//!    does. Sharing a queue, every such signal is handled by the newer worker and nothing is
//!    dead-lettered; with only the older worker and a short `unknown_grace`, they are
//!    dead-lettered once the grace has passed, not before.
//!
//! Nothing here waits a fixed time for something to happen: the workers run with
//! `--halt-when-exhausted`, or the test polls the journal. Redis tests run a private
//! `redis-server` (skipped, loudly, without one); PostgreSQL tests use a schema of their own
//! (skipped, loudly, without a server, unless `SIGNALQUEUE_REQUIRE_POSTGRES=1`).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use rollout::{NEW_SIGNAL, SPLIT};
use shop_signals::FlakyArgs;
use signalqueue::engine::{DeadEntry, EngineOptions, Outgoing, SharedEngine};
use signalqueue::{Config, Envelope, EnvelopeId, Runtime};
use support::postgres::Schema;
use support::redis::{RedisCluster, RedisServer};
use support::Sandbox;

// The crates `rollout-worker` links, linked here too, so this process's registry is the
// newer worker's (it sends and decodes their signals).
use audit_receivers as _;
use rollout as _;
use shop_receivers as _;

const NEW: &str = env!("CARGO_BIN_EXE_rollout-worker");
const OLD: &str = env!("CARGO_BIN_EXE_shop-worker");

const FAILS_SOON: &str = "rollout::fails_soon";
const FAILS_LATE: &str = "rollout::fails_late";

/// One test at a time: each runs one or two worker processes (and maybe servers) on a 2-core
/// machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A sandbox whose default queue is at `url` (a SQLite file in the sandbox when `None`), with
/// quick retries and `queue_extra` added to the queue's table.
struct Setup {
    sb: Sandbox,
    url: String,
}

impl Setup {
    fn new(url: Option<String>, queue_extra: &str) -> Setup {
        let sb = Sandbox::new(None);
        let url =
            url.unwrap_or_else(|| format!("sqlite://{}", sb.file("signalqueue.db").display()));
        let config = format!(
            "[queues.default]\nurl = \"{url}\"\nlease_ms = 10000\ninterval_ms = 50\n{queue_extra}\n\
             [worker]\nretry_base_ms = 10\nretry_max_ms = 80\nshutdown_grace_ms = 30000\n"
        );
        std::fs::write(sb.file("signalqueue.toml"), config).expect("write config");
        Setup { sb, url }
    }

    async fn runtime(&self) -> Runtime {
        let config = Config::from_file(&self.sb.file("signalqueue.toml")).expect("config");
        Runtime::from_config(&config).await.expect("open queues")
    }

    async fn engine(&self) -> SharedEngine {
        signalqueue::engine::open(&self.url, EngineOptions::new("default"))
            .await
            .expect("open the queue")
    }

    /// Runs `bin` until its queue is exhausted.
    fn drain(&self, bin: &str) -> support::Out {
        self.sb
            .run(bin, &["run", "127.0.0.1:0", "--halt-when-exhausted"])
            .ok()
    }
}

/// How many times each `(receiver, key)` ran, with the attempts it saw, in order.
fn runs(journal: &[String]) -> BTreeMap<(String, String), Vec<u32>> {
    let mut m: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for line in journal {
        let words: Vec<&str> = line.split(' ').collect();
        if let ["fails_soon" | "fails_late" | "succeeds", key, "attempt", n, ..] = words[..] {
            m.entry((words[0].to_string(), key.to_string()))
                .or_default()
                .push(n.parse().expect("an attempt"));
        }
    }
    m
}

/// The dead letters owing `receiver`, by key of their signal.
fn dead_owing<'a>(dead: &'a [DeadEntry], receiver: &str) -> Vec<(&'a DeadEntry, Envelope)> {
    dead.iter()
        .map(|d| {
            (
                d,
                Envelope::decode(&d.payload).expect("a dead letter's envelope"),
            )
        })
        .filter(|(_, e)| e.owed.as_deref() == Some(&[receiver.to_string()][..]))
        .collect()
}

/// Section 1 on one engine: see the module docs.
async fn each_receiver_keeps_its_own_limit(setup: Setup) {
    let keys = ["k0", "k1", "k2"];
    let ids: Vec<EnvelopeId> = setup
        .runtime()
        .await
        .scope(async {
            let mut ids = Vec::new();
            for key in keys {
                ids.push(SPLIT.send(key.to_string()).await.expect("send").id());
            }
            ids
        })
        .await;
    let out = setup.drain(NEW);

    let ran = runs(&setup.sb.journal());
    for key in keys {
        let of = |r: &str| ran.get(&(r.to_string(), key.to_string())).cloned();
        assert_eq!(of("fails_soon"), Some(vec![1, 2]), "{key}: {ran:?}");
        assert_eq!(
            of("fails_late"),
            Some(vec![1, 2, 3, 4, 5]),
            "{key}: {ran:?}"
        );
        assert_eq!(of("succeeds"), Some(vec![1]), "{key}: {ran:?}");
    }
    // Every receiver saw its signal's id on every attempt.
    for (key, id) in keys.iter().zip(&ids) {
        assert!(
            setup
                .sb
                .journal()
                .contains(&format!("succeeds {key} attempt 1 id {id}")),
            "{key}"
        );
    }

    let engine = setup.engine().await;
    let dead = engine.dead(100).await.expect("dead");
    assert_eq!(dead.len(), 2 * keys.len(), "{dead:#?}\n{}", out.stderr);
    for (receiver, attempts) in [(FAILS_SOON, 2), (FAILS_LATE, 5)] {
        let owing = dead_owing(&dead, receiver);
        assert_eq!(owing.len(), keys.len(), "{receiver}: {dead:#?}");
        for (d, envelope) in &owing {
            assert!(ids.contains(&envelope.id), "the signal's own id: {d:?}");
            assert_eq!(envelope.attempt, 1, "replayed from attempt 1");
            assert!(
                d.reason
                    .starts_with(&format!("gave up after {attempts} attempts: `{receiver}` ")),
                "{}",
                d.reason
            );
            let other = if receiver == FAILS_SOON {
                FAILS_LATE
            } else {
                FAILS_SOON
            };
            assert!(!d.reason.contains(other), "{}", d.reason);
        }
    }
    assert_eq!(engine.counts().await.expect("counts").pending, 0);

    // Replaying `fails_soon`'s dead letter of k0 runs `fails_soon` for k0, with its full
    // retries, and nothing else.
    let (k0_soon, _) = dead_owing(&dead, FAILS_SOON)
        .into_iter()
        .find(|(_, e)| e.id == ids[0])
        .expect("k0's fails_soon dead letter");
    let replay = setup.sb.run(NEW, &["dead", "replay", &k0_soon.key]).ok();
    assert!(
        replay.stdout.contains("replayed 1 dead letter(s)"),
        "{}",
        replay.stdout
    );
    let before = setup.sb.journal().len();
    setup.drain(NEW);
    let after: Vec<String> = setup.sb.journal()[before..].to_vec();
    assert_eq!(
        after,
        ["fails_soon k0 attempt 1", "fails_soon k0 attempt 2"],
        "only the replayed receiver ran"
    );
    let dead = engine.dead(100).await.expect("dead");
    assert_eq!(dead.len(), 2 * keys.len(), "{dead:#?}");
    assert_eq!(dead_owing(&dead, FAILS_SOON).len(), keys.len());
}

#[tokio::test]
async fn each_receiver_keeps_its_own_retry_limit_on_sqlite() {
    let _serial = SERIAL.lock().await;
    each_receiver_keeps_its_own_limit(Setup::new(None, "")).await;
}

#[tokio::test]
async fn each_receiver_keeps_its_own_retry_limit_on_redis() {
    let _serial = SERIAL.lock().await;
    if !support::redis::available("each_receiver_keeps_its_own_retry_limit_on_redis") {
        return;
    }
    for scheme in ["redis", "redis-set"] {
        let redis = RedisServer::start();
        each_receiver_keeps_its_own_limit(Setup::new(Some(redis.url(scheme)), "")).await;
    }
}

#[tokio::test]
async fn each_receiver_keeps_its_own_retry_limit_on_a_redis_cluster() {
    let _serial = SERIAL.lock().await;
    if !support::redis::available("each_receiver_keeps_its_own_retry_limit_on_a_redis_cluster") {
        return;
    }
    let cluster = RedisCluster::start();
    for scheme in ["redis-cluster", "redis-set-cluster"] {
        // A queue of its own per scheme: the cluster is shared.
        let url = cluster.url(scheme);
        let setup = Setup::new(Some(url), "");
        each_receiver_keeps_its_own_limit(setup).await;
        setup_purge(&cluster.url(scheme)).await;
    }
}

/// Empties the default queue at `url` (dead letters too), for the next run on the same server.
async fn setup_purge(url: &str) {
    let engine = signalqueue::engine::open(url, EngineOptions::new("default"))
        .await
        .expect("open");
    engine.purge_pending().await.expect("purge");
    engine.purge_dead().await.expect("purge dead");
}

#[tokio::test]
async fn each_receiver_keeps_its_own_retry_limit_on_postgres() {
    let _serial = SERIAL.lock().await;
    if !support::postgres::available("each_receiver_keeps_its_own_retry_limit_on_postgres").await {
        return;
    }
    let schema = Schema::new();
    each_receiver_keeps_its_own_limit(Setup::new(Some(schema.url()), "")).await;
}

/// Section 1 in memory, in this process: the worker library on a memory queue, with the
/// receivers this test binary links.
#[tokio::test]
async fn each_receiver_keeps_its_own_retry_limit_in_memory() {
    let _serial = SERIAL.lock().await;
    let config = Config::from_toml(
        "[queues.default]\nurl = \"memory://rollout-split\"\n[worker]\nretry_base_ms = 10\nretry_max_ms = 80\n",
        "test",
    )
    .expect("config");
    let runtime = Runtime::from_config(&config).await.expect("runtime");
    let engine = runtime.queue("default").expect("default").clone();
    let key = format!("mem-{}", EnvelopeId::new());
    let id = runtime
        .scope(SPLIT.send(key.clone()))
        .await
        .expect("send")
        .id();
    let drain = |runtime: Runtime| {
        signalqueue_runner::Worker::builder()
            .runtime(runtime)
            .config(&config)
            .halt(signalqueue_runner::Halt::WhenExhausted)
            .claim_wait(Duration::from_millis(50))
            .build()
            .run()
    };
    let summary = drain(runtime.clone()).await.expect("worker");
    // Retries: 1 of fails_soon, 4 of fails_late; a dead letter each.
    assert_eq!((summary.retried, summary.dead), (5, 2), "{summary:?}");
    let ran = runs(&shop_receivers::journal());
    let of = |r: &str| ran.get(&(r.to_string(), key.clone())).cloned();
    assert_eq!(of("fails_soon"), Some(vec![1, 2]));
    assert_eq!(of("fails_late"), Some(vec![1, 2, 3, 4, 5]));
    assert_eq!(of("succeeds"), Some(vec![1]));
    let dead = engine.dead(10).await.expect("dead");
    let (soon, envelope) = dead_owing(&dead, FAILS_SOON).pop().expect("fails_soon's");
    assert_eq!(envelope.id, id);
    assert_eq!(dead_owing(&dead, FAILS_LATE).len(), 1);

    let before = shop_receivers::journal().len();
    engine
        .replay_dead(Some(std::slice::from_ref(&soon.key)))
        .await
        .expect("replay");
    drain(runtime).await.expect("worker");
    assert_eq!(
        shop_receivers::journal()[before..],
        [
            format!("fails_soon {key} attempt 1"),
            format!("fails_soon {key} attempt 2")
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Rolling deploys

/// A `shop.flaky` entry owing only `rollout::late_flaky`, the receiver the older worker lacks
/// (as a retry written by the newer one would be).
fn owing_late_flaky(key: &str) -> Outgoing {
    let args = FlakyArgs {
        key: key.into(),
        mode: "ok".into(),
    };
    let payload = signalqueue::Codec::Bincode.encode(&args).expect("encode");
    let mut envelope = Envelope::new("shop.flaky", None, payload);
    envelope.owed = Some(vec!["rollout::late_flaky".into()]);
    Outgoing::new(envelope.id, envelope.encode())
}

/// Sends `n` new signals and `n` entries owing the new receiver.
async fn send_what_only_the_new_release_knows(setup: &Setup, n: u64) {
    setup
        .runtime()
        .await
        .scope(async {
            for i in 0..n {
                let _ = NEW_SIGNAL.send(i).await.expect("send");
            }
        })
        .await;
    let engine = setup.engine().await;
    let owing: Vec<Outgoing> = (0..n)
        .map(|i| owing_late_flaky(&format!("late-{i}")))
        .collect();
    engine.enqueue(&owing).await.expect("enqueue");
}

/// Both releases on one queue: the older gives back what it does not know, the newer runs it,
/// nothing is dead-lettered, and the older warns once per name, not once per entry.
async fn a_rolling_deploy_fills_no_dead_letters(setup: Setup) {
    const N: u64 = 40;
    send_what_only_the_new_release_knows(&setup, N).await;
    // The older release meets them first, and gives them back.
    let old = setup.sb.start(OLD, &["run", "127.0.0.1:0"]);
    let old_started = std::time::Instant::now();
    old.wait_stderr("is not linked into this worker");
    let new = setup.sb.start(NEW, &["run", "127.0.0.1:0"]);
    setup
        .sb
        .wait_journal("every new signal and receiver run", |j| {
            let count = |p: &str| j.iter().filter(|l| l.starts_with(p)).count() as u64;
            count("new_signal ") >= N && count("late_flaky ") >= N
        });
    for running in [&old, &new] {
        running.signal("TERM");
    }
    let old = old.wait();
    let old_ran = old_started.elapsed();
    let new = new.wait();

    let journal = setup.sb.journal();
    for i in 0..N {
        let ran = |p: String| journal.iter().filter(|l| l.starts_with(&p)).count();
        assert_eq!(ran(format!("new_signal {i} ")), 1, "new_signal {i}");
        let line = format!("late_flaky late-{i}");
        assert_eq!(journal.iter().filter(|l| **l == line).count(), 1, "{line}");
    }
    let engine = setup.engine().await;
    assert!(engine.dead(10).await.expect("dead").is_empty());
    assert_eq!(engine.counts().await.expect("counts"), Default::default());
    assert!(!new.stderr.contains("given back"), "{}", new.stderr);
    // Each name given back many times (every entry at least once), warned about once a
    // minute at most (a few seconds here, unless the machine is very slow).
    let allowed = 1 + old_ran.as_secs() as usize / 60;
    let warnings = |what: &str| old.stderr.lines().filter(|l| l.contains(what)).count();
    for what in [
        "signal `rollout.new_signal` is not linked into this worker",
        "receivers rollout::late_flaky are owed but not linked into this worker",
    ] {
        let n = warnings(what);
        assert!(
            (1..=allowed).contains(&n),
            "{n} warnings {what:?}:\n{}",
            old.stderr
        );
    }
}

/// Only the older release: what it does not know is given back until `unknown_grace` (2 s
/// here) has passed since the send, then dead-lettered, bytes kept, naming what is missing.
async fn without_the_new_release_they_die_after_the_grace(setup: Setup) {
    const N: u64 = 3;
    send_what_only_the_new_release_knows(&setup, N).await;
    let engine = setup.engine().await;
    let pending = engine.pending(100).await.expect("pending");
    let out = setup.drain(OLD);
    assert!(out.stderr.contains("given back"), "{}", out.stderr);

    let dead = engine.dead(100).await.expect("dead");
    assert_eq!(dead.len() as u64, 2 * N, "{dead:#?}");
    for d in &dead {
        let envelope = Envelope::decode(&d.payload).expect("envelope");
        // Not before the grace, measured from the send (the send time is in the envelope).
        assert!(
            d.died_at
                .duration_since(envelope.enqueued_at)
                .unwrap_or_default()
                >= Duration::from_secs(2),
            "{d:?}"
        );
        if envelope.signal == "rollout.new_signal" {
            // The bytes as sent.
            assert!(pending.iter().any(|p| p.payload == d.payload), "{d:?}");
            assert!(
                d.reason.contains(
                    "no signal named `rollout.new_signal` is linked into the workers that claimed it within `unknown_grace` (2s) of its send"
                ),
                "{}",
                d.reason
            );
        } else {
            assert_eq!(envelope.owed, Some(vec!["rollout::late_flaky".to_string()]));
            assert_eq!(envelope.attempt, 1);
            assert!(
                d.reason
                    .contains("`rollout::late_flaky` is owed this signal but is not linked"),
                "{}",
                d.reason
            );
        }
    }
    // The older release ran none of its own `shop.flaky` receivers for them: they were not owed.
    assert!(
        !setup
            .sb
            .journal()
            .iter()
            .any(|l| l.starts_with("flaky late-")),
        "{:?}",
        setup.sb.journal()
    );
}

#[tokio::test]
async fn a_rolling_deploy_fills_no_dead_letters_on_sqlite() {
    let _serial = SERIAL.lock().await;
    a_rolling_deploy_fills_no_dead_letters(Setup::new(None, "")).await;
}

#[tokio::test]
async fn a_rolling_deploy_fills_no_dead_letters_on_redis() {
    let _serial = SERIAL.lock().await;
    if !support::redis::available("a_rolling_deploy_fills_no_dead_letters_on_redis") {
        return;
    }
    let redis = RedisServer::start();
    a_rolling_deploy_fills_no_dead_letters(Setup::new(Some(redis.url("redis")), "")).await;
}

#[tokio::test]
async fn a_rolling_deploy_fills_no_dead_letters_on_postgres() {
    let _serial = SERIAL.lock().await;
    if !support::postgres::available("a_rolling_deploy_fills_no_dead_letters_on_postgres").await {
        return;
    }
    let schema = Schema::new();
    a_rolling_deploy_fills_no_dead_letters(Setup::new(Some(schema.url()), "")).await;
}

#[tokio::test]
async fn without_the_new_release_they_die_after_the_grace_on_sqlite() {
    let _serial = SERIAL.lock().await;
    without_the_new_release_they_die_after_the_grace(Setup::new(None, "unknown_grace = \"2s\""))
        .await;
}

#[tokio::test]
async fn without_the_new_release_they_die_after_the_grace_on_redis() {
    let _serial = SERIAL.lock().await;
    if !support::redis::available("without_the_new_release_they_die_after_the_grace_on_redis") {
        return;
    }
    let redis = RedisServer::start();
    let setup = Setup::new(Some(redis.url("redis")), "unknown_grace = \"2s\"");
    without_the_new_release_they_die_after_the_grace(setup).await;
}

#[tokio::test]
async fn without_the_new_release_they_die_after_the_grace_on_postgres() {
    let _serial = SERIAL.lock().await;
    if !support::postgres::available("without_the_new_release_they_die_after_the_grace_on_postgres")
        .await
    {
        return;
    }
    let schema = Schema::new();
    let setup = Setup::new(Some(schema.url()), "unknown_grace = \"2s\"");
    without_the_new_release_they_die_after_the_grace(setup).await;
}
