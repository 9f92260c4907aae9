//! The outbox relay's rate: rows committed to a PostgreSQL outbox by `send_many_in` (the queue
//! lives elsewhere, in a temporary SQLite file, so `send_in` writes to the outbox), then one
//! worker process, configured with that `[outbox]`, relays them into the queue (and drains the
//! queue meanwhile, as a worker does). The rate counts from the worker's banner until the
//! outbox is empty: every row enqueued into the queue and deleted from the outbox.
//!
//! Its latency (`outbox_relay_latency`): one `send_in` at a time into an idle relay, from the
//! moment the app sends `COMMIT` to the moment the entry is in its queue. The relay runs in this
//! process, as it runs in a worker, and the queue is an in-memory one whose waiting claim
//! returns as soon as the relay's enqueue lands, so the figure is the relay's own: the
//! commit's flush, the trigger's `NOTIFY` reaching the relay's listener, and the relay's read.

use std::time::{Duration, Instant};

use signalqueue::__private::RelayOptions;
use signalqueue::engine::memory::MemoryEngine;
use signalqueue::engine::{EngineOptions, SharedEngine};
use signalqueue::outbox::Outbox;
use signalqueue::Runtime;

use crate::signals::{NoopArgs, NOOP, QUEUE};
use crate::target::{drop_schema, pg_connect, pg_error, with_schema, Kind, Servers, Target};
use crate::worker_process::{WorkerProcess, WorkerSettings};

/// Rows per app transaction while the outbox is loaded.
const LOAD_BATCH: u64 = 1000;

/// Loads `n` rows into a fresh outbox and times one worker relaying them all.
pub(crate) async fn relay(
    servers: &Servers,
    n: u64,
    settings: &WorkerSettings,
) -> Result<f64, String> {
    // The queue keeps the signals' own name: it lives in a file of its own, so it is private.
    let target = Target::fresh_named(Kind::Sqlite, servers, QUEUE).await?;
    let schema = format!(
        "sqbench_{}_{:08x}_outbox",
        std::process::id(),
        rand::random::<u32>()
    );
    let url = with_schema(&servers.postgres, &schema);
    let result = relay_on(&target, &url, n, settings).await;
    let dropped = drop_schema(&servers.postgres, &schema).await;
    target.cleanup().await?;
    let rate = result?;
    dropped?;
    Ok(rate)
}

async fn relay_on(
    target: &Target,
    url: &str,
    n: u64,
    settings: &WorkerSettings,
) -> Result<f64, String> {
    let outbox = Outbox::open(url).await.map_err(|e| e.to_string())?;
    let runtime = Runtime::builder()
        .queue(QUEUE, target.engine.clone())
        .outbox(outbox.clone())
        .build();
    let mut client = pg_connect(&target_server(url)).await?;
    runtime
        .scope(async {
            let mut from = 0;
            while from < n {
                let to = (from + LOAD_BATCH).min(n);
                let tx = client.transaction().await.map_err(pg_error)?;
                NOOP.send_many_in(&tx, (from..to).map(|n| NoopArgs { n }))
                    .await
                    .map_err(|e| e.to_string())?;
                tx.commit().await.map_err(pg_error)?;
                from = to;
            }
            Ok::<(), String>(())
        })
        .await?;
    let depth = outbox.stats().await.map_err(|e| e.to_string())?.depth;
    if depth != n {
        return Err(format!("loaded {n} rows but the outbox holds {depth}"));
    }

    let worker = WorkerProcess::start_with_outbox(target, settings, Some(url))?;
    let started = worker.ready_at;
    let limit = Duration::from_secs(30) + Duration::from_millis(n * 2);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stats = outbox.stats().await.map_err(|e| e.to_string())?;
        if stats.depth == 0 {
            let elapsed = started.elapsed();
            worker.stop()?;
            return Ok(n as f64 / elapsed.as_secs_f64());
        }
        if Instant::now() > started + limit {
            return Err(format!(
                "the worker did not relay {n} rows within {} s ({} left); its log ends:\n{}",
                limit.as_secs(),
                stats.depth,
                worker.log_tail()
            ));
        }
    }
}

/// Times `count` relays of one `send_in` each, `gap` apart, into an idle relay: nanoseconds
/// from `COMMIT` sent to the entry claimable in its queue.
pub(crate) async fn latency(
    servers: &Servers,
    count: usize,
    gap: Duration,
) -> Result<Vec<u64>, String> {
    let schema = format!(
        "sqbench_{}_{:08x}_outbox",
        std::process::id(),
        rand::random::<u32>()
    );
    let url = with_schema(&servers.postgres, &schema);
    let result = latency_on(&url, count, gap).await;
    let dropped = drop_schema(&servers.postgres, &schema).await;
    let samples = result?;
    dropped?;
    Ok(samples)
}

async fn latency_on(url: &str, count: usize, gap: Duration) -> Result<Vec<u64>, String> {
    let outbox = Outbox::open(url).await.map_err(|e| e.to_string())?;
    let queue: SharedEngine = MemoryEngine::new(EngineOptions::new(QUEUE));
    let runtime = Runtime::builder()
        .queue(QUEUE, queue.clone())
        .outbox(outbox.clone())
        .build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(signalqueue::__private::run_relay(
        outbox,
        runtime.clone(),
        RelayOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut client = pg_connect(&target_server(url)).await?;
    let lease = Duration::from_secs(30);
    let result = runtime
        .scope(async {
            let mut samples = Vec::with_capacity(count);
            // The first relay batch after start-up also prepares its statements: not timed.
            for i in 0..count + 1 {
                tokio::time::sleep(gap).await;
                let tx = client.transaction().await.map_err(pg_error)?;
                let _sent = NOOP
                    .send_in(&tx, i as u64)
                    .await
                    .map_err(|e| e.to_string())?;
                let committing = Instant::now();
                tx.commit().await.map_err(pg_error)?;
                let claimed = queue
                    .claim(1, lease, Duration::from_secs(5))
                    .await
                    .map_err(|e| e.to_string())?;
                let took = committing.elapsed();
                let [one] = claimed.as_slice() else {
                    return Err(format!(
                        "the relay did not move a committed send_in within 5 s (got {})",
                        claimed.len()
                    ));
                };
                queue
                    .ack(std::slice::from_ref(&one.token))
                    .await
                    .map_err(|e| e.to_string())?;
                if i > 0 {
                    samples.push(took.as_nanos() as u64);
                }
            }
            Ok::<_, String>(samples)
        })
        .await;
    let _ = stop.send(());
    let _ = relay.await;
    result
}

/// The server's URL without our `schema` parameter: what an app's own connection uses.
fn target_server(url: &str) -> String {
    match url.rsplit_once("schema=") {
        Some((head, _)) => head.trim_end_matches(['?', '&']).to_string(),
        None => url.to_string(),
    }
}
