//! The bench's own signals and receivers. They are linked into `sq-bench`, so the worker
//! process it re-executes (see `worker_process.rs`) runs exactly these receivers and nothing
//! else.
//!
//! The no-op receivers do nothing on purpose: the drain measures what signalqueue costs per
//! signal, not what a receiver does. The stamp receiver records how long ago its signal was
//! sent, into the file named by [`SAMPLES_ENV`].

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use signalqueue::{async_signal, receiver};

/// The queue name the bench's signals are declared with. Each run maps it to an engine with a
/// private key name (see `target.rs`), so concurrent runs never share entries.
pub(crate) const QUEUE: &str = "bench";

/// Names the file the stamp receiver appends its samples to (one line per signal: nanoseconds
/// from `send` to the receiver's start).
pub(crate) const SAMPLES_ENV: &str = "SQ_BENCH_SAMPLES";

/// The Redis URL the `INCR` receiver counts on, in the worker process's environment.
pub(crate) const INCR_URL_ENV: &str = "SQ_BENCH_INCR_URL";

/// The key the `INCR` receiver increments (one of the run's private queue keys, so the
/// queue's cleanup deletes it).
pub(crate) const INCR_KEY_ENV: &str = "SQ_BENCH_INCR_KEY";

/// The drain's signal: one no-op receiver.
#[async_signal(providing_args = [n: u64], name = "bench.noop", queue = "bench")]
pub static NOOP: Noop;

/// The drain with fan-out: four no-op receivers.
#[async_signal(providing_args = [n: u64], name = "bench.fanout", queue = "bench")]
pub static FANOUT: Fanout;

/// The drain with a 1 KiB argument: one no-op receiver.
#[async_signal(providing_args = [n: u64, blob: String], name = "bench.kib", queue = "bench")]
pub static KIB: Kib;

/// The drain with real work: one receiver that `INCR`s a counter on Redis, through a
/// connection the worker process keeps (as an app keeps its pool).
#[async_signal(providing_args = [n: u64], name = "bench.incr", queue = "bench")]
pub static INCR: Incr;

/// Latency: carries its send time (Unix nanoseconds); the receiver records its age.
#[async_signal(providing_args = [sent_ns: u64], name = "bench.stamp", queue = "bench")]
pub static STAMP: Stamp;

#[receiver(NOOP)]
async fn noop(n: u64) {
    let _ = n;
}

#[receiver(FANOUT)]
async fn fanout_a(n: u64) {
    let _ = n;
}

#[receiver(FANOUT)]
async fn fanout_b(n: u64) {
    let _ = n;
}

#[receiver(FANOUT)]
async fn fanout_c(n: u64) {
    let _ = n;
}

#[receiver(FANOUT)]
async fn fanout_d(n: u64) {
    let _ = n;
}

#[receiver(KIB)]
async fn kib(n: u64, blob: String) {
    let _ = (n, blob);
}

#[receiver(INCR)]
async fn incr(n: u64) -> Result<(), redis::RedisError> {
    let _ = n;
    let (conn, key) = counter().await?;
    let mut conn = conn.clone();
    redis::cmd("INCR")
        .arg(key)
        .query_async::<i64>(&mut conn)
        .await?;
    Ok(())
}

/// The worker process's one connection for the `INCR` receiver, opened at its first run and
/// shared (multiplexed) by every run after it.
async fn counter() -> Result<&'static (redis::aio::MultiplexedConnection, String), redis::RedisError>
{
    static COUNTER: tokio::sync::OnceCell<(redis::aio::MultiplexedConnection, String)> =
        tokio::sync::OnceCell::const_new();
    COUNTER
        .get_or_try_init(|| async {
            let unset = |what: &str| {
                redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "the INCR receiver runs only under sq-bench",
                    format!("{what} is not set"),
                ))
            };
            let url = std::env::var(INCR_URL_ENV).map_err(|_| unset(INCR_URL_ENV))?;
            let key = std::env::var(INCR_KEY_ENV).map_err(|_| unset(INCR_KEY_ENV))?;
            let conn = redis::Client::open(url)?
                .get_multiplexed_async_connection()
                .await?;
            Ok((conn, key))
        })
        .await
}

#[receiver(STAMP)]
async fn stamp(sent_ns: u64) {
    // Read first: everything after this is not part of the latency.
    let age = unix_ns().saturating_sub(sent_ns);
    record(age);
}

/// Nanoseconds since the Unix epoch. Sender and worker run on one machine, so their wall
/// clocks agree; a monotonic clock cannot be compared across processes.
pub(crate) fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Appends one sample to the samples file. One `write` per line on an `O_APPEND` file, so the
/// bench, which reads the file as it grows, only ever sees whole lines once it sees a newline.
fn record(age_ns: u64) {
    static FILE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    let file = FILE.get_or_init(|| {
        let path = std::env::var_os(SAMPLES_ENV)?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new)
    });
    if let Some(file) = file {
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = f.write_all(format!("{age_ns}\n").as_bytes());
    }
}
