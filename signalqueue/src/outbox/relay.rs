//! The relay: moves committed outbox rows into their queues.
//!
//! At least once: a row is deleted only after its queue's engine acknowledged the enqueue, in
//! the same outbox transaction that read it, so a relay killed (or a queue that is down) loses
//! nothing and the rows wait. A relay killed between the enqueue and the delete leaves those
//! rows to be relayed again: duplicates are bounded by one batch. Several relays on one outbox
//! are safe: on PostgreSQL each takes rows the others have not locked (`SKIP LOCKED`).

use std::future::Future;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::engine::Outgoing;
use crate::error::Error;
use crate::outbox::{Outbox, OutboxRow};
use crate::runtime::Runtime;

/// How a relay runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RelayOptions {
    /// Rows moved per outbox transaction.
    pub batch: usize,
    /// How long an idle relay waits for a wake-up before it looks anyway.
    pub idle_wait: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            batch: 500,
            idle_wait: Duration::from_secs(1),
        }
    }
}

/// Moves one batch: returns how many rows left the outbox.
pub async fn relay_once(outbox: &Outbox, runtime: &Runtime, batch: usize) -> Result<usize, Error> {
    let queues: Vec<String> = runtime.queues().map(|(name, _)| name.to_string()).collect();
    let forward = |rows: Vec<OutboxRow>| -> BoxFuture<'_, (Vec<i64>, Option<Error>)> {
        Box::pin(forward(runtime, rows))
    };
    let (read, error) = outbox
        .store
        .relay_batch(batch.max(1), &queues, &forward)
        .await?;
    match error {
        Some(e) => Err(e),
        None => Ok(read),
    }
}

/// Enqueues rows into their queues, consecutive rows of one queue as one batch; returns the ids
/// the queues acknowledged, and stops at the first failure.
async fn forward(runtime: &Runtime, rows: Vec<OutboxRow>) -> (Vec<i64>, Option<Error>) {
    let mut done = Vec::with_capacity(rows.len());
    let mut rest = rows.as_slice();
    while let Some(first) = rest.first() {
        let len = rest.iter().take_while(|r| r.queue == first.queue).count();
        let (group, tail) = rest.split_at(len);
        rest = tail;
        let Some(engine) = runtime.queue(&first.queue) else {
            // Only rows of configured queues are read; a queue can only be missing here if the
            // runtime changed under us. The rows stay for a relay that knows it.
            continue;
        };
        let batch: Vec<Outgoing> = group.iter().map(|r| r.outgoing.clone()).collect();
        if let Err(e) = engine.enqueue(&batch).await {
            return (done, Some(e.into()));
        }
        done.extend(group.iter().map(|r| r.id));
    }
    (done, None)
}

/// Relays until `stop` completes: a batch at a time while rows wait, then waits for the
/// outbox's wake-up. Errors are logged and retried with a growing pause; nothing is dropped.
pub async fn run(
    outbox: Outbox,
    runtime: Runtime,
    options: RelayOptions,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut pause = Duration::from_millis(50);
    tracing::info!(outbox = %outbox.describe(), "outbox relay started");
    loop {
        let step = async {
            match relay_once(&outbox, &runtime, options.batch).await {
                Ok(n) => {
                    pause = Duration::from_millis(50);
                    if n > 0 {
                        tracing::debug!(outbox = %outbox.describe(), rows = n, "relayed");
                    }
                    if n < options.batch {
                        outbox.store.wait(options.idle_wait).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(outbox = %outbox.describe(), error = %e, retry_in_ms = pause.as_millis() as u64, "outbox relay failed; the rows wait in the outbox");
                    tokio::time::sleep(jitter(pause)).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        };
        tokio::select! {
            _ = &mut stop => break,
            _ = step => {}
        }
    }
    tracing::info!(outbox = %outbox.describe(), "outbox relay stopped");
}

/// Up to a quarter more, so relays of many workers do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    d + d.mul_f64(rand::random::<f64>() * 0.25)
}
