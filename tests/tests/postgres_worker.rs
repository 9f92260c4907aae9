//! The two-line `shop-worker` binary against PostgreSQL, through the failures the Redis and
//! SQLite worker tests go through: kill -9 of a worker with hundreds of signals in flight then
//! a restart.
//!
//! The kill test uses a schema of its own on the shared PostgreSQL (127.0.0.1:5432, database
//! `test`; `SQ_PG_QUEUE_URL` overrides), dropped at the end. Every process gets the queue as
//! `SIGNALQUEUE_URL`. Nothing waits a fixed time for something to happen: every "eventually"
//! polls the journal or the engine's counts with a generous deadline, and the figures are
//! printed (`cargo test --test postgres_worker -- --nocapture`). Without PostgreSQL the tests
//! say so and pass, unless `SIGNALQUEUE_REQUIRE_POSTGRES=1`.

mod support;

use support::postgres::Schema;
use support::worker_bench::Bench;

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
