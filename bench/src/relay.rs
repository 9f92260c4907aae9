//! The outbox relay's rate: rows committed to a PostgreSQL outbox by `send_many_in` (the queue
//! lives elsewhere, in a temporary SQLite file, so `send_in` writes to the outbox), then one
//! worker process, configured with that `[outbox]`, relays them into the queue (and drains the
//! queue meanwhile, as a worker does). The rate counts from the worker's banner until the
//! outbox is empty: every row enqueued into the queue and deleted from the outbox.

use std::time::{Duration, Instant};

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

/// The server's URL without our `schema` parameter: what an app's own connection uses.
fn target_server(url: &str) -> String {
    match url.rsplit_once("schema=") {
        Some((head, _)) => head.trim_end_matches(['?', '&']).to_string(),
        None => url.to_string(),
    }
}
