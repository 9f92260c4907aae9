//! Duplicates only from work really in flight, on SQLite, Redis (list, set and cluster forms)
//! and PostgreSQL, with real
//! `shop-worker` processes (`support/in_flight.rs` has the scenarios):
//! - a live worker at `--concurrency 64` never holds more than 64 leases, counted in the engine
//!   from outside while it drains a backlog (acknowledgements waiting to be written included);
//! - `kill -9`, four times under a steady stream: what runs twice is at most what the dead
//!   workers held, never more than 64 a kill, and no live worker loses a lease;
//! - SIGTERM, three times under senders that never pause, with a 2 s lease: every stop exits 0
//!   and nothing runs twice.
//!
//! SQLite uses a file of the test's own, Redis a private `redis-server` on a free port, and
//! PostgreSQL a private schema of the shared server (127.0.0.1:5432, database `test`). A
//! missing Redis or PostgreSQL is said loudly and the test passes (CI has both).

mod support;

use std::time::Duration;

use support::in_flight;
use support::redis::{Persistence, RedisCluster, RedisServer};
use support::worker_bench::Bench;

// The crates `shop-worker` links, linked here too, so this process's registry is the worker's.
use audit_receivers as _;
use shop_receivers as _;

/// One test at a time: each runs a worker with 64 slots beside senders, as much as a 2-core
/// machine should carry.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The lease of the kill test: short, so the restarts do not wait long for the dead claims.
const KILL_LEASE: Duration = Duration::from_millis(2_000);
/// The lease of the SIGTERM test: short, so that renewals waiting too long lose it.
const STOP_LEASE_MS: u64 = 2_000;

/// What keeps a test's queue alive while the test runs: its file's directory, its Redis, its
/// PostgreSQL schema (removed when dropped).
type Queue = Box<dyn std::any::Any + Send>;

/// The queue of `engine` (`sqlite`, `redis`, `redis-set`, `redis-cluster`, `postgres`) for `test`, with `lease_ms`; `None`
/// when that engine's server is not there (said on stderr).
async fn bench(engine: &str, test: &str, lease_ms: u64) -> Option<(Bench, Queue)> {
    let (url, queue) = match engine {
        "sqlite" => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("queue.db").display());
            (url, Box::new(dir) as Queue)
        }
        "redis" | "redis-set" => {
            if !support::redis::available(test) {
                return None;
            }
            let redis = RedisServer::start_with(Persistence::None);
            (redis.url(engine), Box::new(redis) as Queue)
        }
        "redis-cluster" => {
            if !support::redis::available(test) {
                return None;
            }
            let cluster = RedisCluster::start();
            (cluster.url(engine), Box::new(cluster) as Queue)
        }
        _ => {
            if !support::postgres::available(test).await {
                return None;
            }
            let schema = support::postgres::Schema::new();
            (schema.url(), Box::new(schema) as Queue)
        }
    };
    Some((Bench::new(url, lease_ms), queue))
}

async fn leases(engine: &str) {
    let _serial = SERIAL.lock().await;
    let Some((bench, _queue)) = bench(engine, "leases", 30_000).await else {
        return;
    };
    in_flight::never_more_leases_than_slots(&bench, engine, 20_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_live_worker_holds_at_most_its_slots_in_leases() {
    leases("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_live_worker_holds_at_most_its_slots_in_leases() {
    leases("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_live_worker_holds_at_most_its_slots_in_leases() {
    leases("postgres").await;
}

async fn kills(engine: &str) {
    let _serial = SERIAL.lock().await;
    let Some((bench, _queue)) = bench(engine, "kills", KILL_LEASE.as_millis() as u64).await else {
        return;
    };
    in_flight::kill_9_duplicates_per_kill(&bench, engine, 4, 1_000, "sleep-20", KILL_LEASE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_reruns_only_what_the_dead_worker_held() {
    kills("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_kill_9_reruns_only_what_the_dead_worker_held() {
    kills("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill_9_reruns_only_what_the_dead_worker_held() {
    kills("postgres").await;
}

async fn stops(engine: &str) {
    let _serial = SERIAL.lock().await;
    let Some((bench, _queue)) = bench(engine, "sigterm", STOP_LEASE_MS).await else {
        return;
    };
    let lease = Duration::from_millis(STOP_LEASE_MS);
    in_flight::sigterm_under_unpaced_senders(&bench, engine, 8, 3, lease).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigterm_under_unpaced_senders_runs_nothing_twice() {
    stops("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sigterm_under_unpaced_senders_runs_nothing_twice() {
    stops("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigterm_under_unpaced_senders_runs_nothing_twice() {
    stops("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_set_live_worker_holds_at_most_its_slots_in_leases() {
    leases("redis-set").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_live_worker_holds_at_most_its_slots_in_leases() {
    leases("redis-cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_set_kill_9_reruns_only_what_the_dead_worker_held() {
    kills("redis-set").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_kill_9_reruns_only_what_the_dead_worker_held() {
    kills("redis-cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_set_sigterm_under_unpaced_senders_runs_nothing_twice() {
    stops("redis-set").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_sigterm_under_unpaced_senders_runs_nothing_twice() {
    stops("redis-cluster").await;
}
