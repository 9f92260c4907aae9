//! End-to-end drain: a backlog is loaded, then one worker process with the default
//! concurrency handles it on the reliable path (claims under lease, receivers, fenced
//! acknowledgements). The rate counts from the worker's banner until the engine holds nothing
//! pending, scheduled or in flight: every signal acknowledged, not merely started.

use std::time::Duration;

use crate::send::load;
use crate::signals::{FanoutArgs, IncrArgs, KibArgs, NoopArgs, FANOUT, INCR, KIB, NOOP};
use crate::target::{Kind, Servers, Target};
use crate::worker_process::{Memory, WorkerProcess, WorkerSettings};

/// Which signal the backlog is made of.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Variant {
    /// `bench.noop`: one no-op receiver.
    Noop,
    /// `bench.fanout`: four no-op receivers.
    Fanout,
    /// `bench.kib`: one no-op receiver, a 1 KiB argument.
    Kib,
    /// `bench.incr`: one receiver doing one real round trip, an `INCR` on the queue's Redis
    /// (Redis only).
    Incr,
}

impl Variant {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Variant::Noop => "drain_noop",
            Variant::Fanout => "drain_fanout4",
            Variant::Kib => "drain_1kib",
            Variant::Incr => "drain_incr",
        }
    }
}

/// One drain's figures.
pub(crate) struct Drained {
    pub(crate) rate: f64,
    /// The worker's peak memory over the run.
    pub(crate) memory: Option<Memory>,
    /// CPU time per signal, in µs, of the worker process (start-up included, a few ms).
    pub(crate) worker_cpu_us: Option<f64>,
    /// CPU time per signal, in µs, of the Redis or PostgreSQL server over the drain (the
    /// bench's own count polls included; other clients of a shared server would be counted too).
    pub(crate) server_cpu_us: Option<f64>,
}

/// Loads `n` signals of `variant` into a fresh queue and times one worker draining them.
pub(crate) async fn drain(
    kind: Kind,
    servers: &Servers,
    variant: Variant,
    n: u64,
    settings: &WorkerSettings,
) -> Result<Drained, String> {
    let target = Target::fresh(kind, servers).await?;
    let result = drain_on(&target, variant, n, settings).await;
    target.cleanup().await?;
    result
}

async fn drain_on(
    target: &Target,
    variant: Variant,
    n: u64,
    settings: &WorkerSettings,
) -> Result<Drained, String> {
    let blob = "x".repeat(1024);
    target
        .runtime
        .scope(load(n, |batch| {
            let blob = &blob;
            async move {
                match variant {
                    Variant::Noop => NOOP.send_many(batch.map(|n| NoopArgs { n })).await,
                    Variant::Fanout => FANOUT.send_many(batch.map(|n| FanoutArgs { n })).await,
                    Variant::Incr => INCR.send_many(batch.map(|n| IncrArgs { n })).await,
                    Variant::Kib => {
                        KIB.send_many(batch.map(|n| KibArgs {
                            n,
                            blob: blob.clone(),
                        }))
                        .await
                    }
                }
                .map(|_| ())
            }
        }))
        .await?;
    let counts = target.engine.counts().await.map_err(|e| e.to_string())?;
    if counts.pending != n {
        return Err(format!(
            "loaded {n} signals but the queue holds {}",
            counts.pending
        ));
    }

    let server_cpu_before = target.server_cpu_secs().await;
    let worker = WorkerProcess::start(target, settings)?;
    let started = worker.ready_at;
    // Generous: a drain slower than 500 signals/s is broken, not slow.
    let limit = Duration::from_secs(30) + Duration::from_millis(n * 2);
    let mut peak: Option<Memory> = None;
    let elapsed = loop {
        tokio::time::sleep(target.poll_every()).await;
        // Sampled while it runs too: the worker may have stopped before the end is noticed.
        if let Some(m) = worker.memory() {
            peak = Some(m);
        }
        if started.elapsed() <= limit && target.kind == Kind::Postgres {
            // Counting there scans the whole table (tens of ms of the server's CPU with a large
            // backlog, which the drain then lacks); the head of the ready index says cheaply
            // whether anything still waits, and only then is the rest counted.
            let waiting = target.engine.pending(1).await.map_err(|e| e.to_string())?;
            if !waiting.is_empty() {
                continue;
            }
        }
        let c = target.engine.counts().await.map_err(|e| e.to_string())?;
        if c.pending + c.scheduled + c.in_flight == 0 {
            let elapsed = started.elapsed();
            if c.dead > 0 {
                return Err(format!(
                    "{} signals were dead-lettered; the worker's log ends:\n{}",
                    c.dead,
                    worker.log_tail()
                ));
            }
            break elapsed;
        }
        if started.elapsed() > limit {
            return Err(format!(
                "the worker did not drain {n} signals within {} s ({c:?} left); its log ends:\n{}",
                limit.as_secs(),
                worker.log_tail()
            ));
        }
    };
    if let Variant::Incr = variant {
        // The receivers' work, checked: every signal incremented the counter once.
        let counted = target.incr_count().await?;
        if counted < n {
            return Err(format!(
                "drained {n} signals but the INCR receiver counted {counted}; the worker's log ends:\n{}",
                worker.log_tail()
            ));
        }
    }
    let memory = worker.memory().or(peak);
    let per_signal_us = |secs: f64| secs * 1e6 / n as f64;
    let worker_cpu_us = worker.cpu_secs().map(per_signal_us);
    let server_cpu_us = match (server_cpu_before, target.server_cpu_secs().await) {
        (Some(before), Some(after)) => Some(per_signal_us(after - before)),
        _ => None,
    };
    worker.stop()?;
    Ok(Drained {
        rate: n as f64 / elapsed.as_secs_f64(),
        memory,
        worker_cpu_us,
        server_cpu_us,
    })
}
