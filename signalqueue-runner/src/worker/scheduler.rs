//! Periodic signals: every worker that serves a periodic signal's queue enqueues its ticks, and
//! the engine keeps each tick once (`signalqueue::engine::Ticks`: the tick's time is the key,
//! checked in the same atomic step as the enqueue). No worker is the scheduler, so none can be
//! lost: any number may run, start, stop or be killed, and each tick is still enqueued once.
//!
//! When a worker starts it looks at the latest tick any worker enqueued and applies the
//! signal's `catch_up` to the ticks missed since (while no worker ran): `last` enqueues the
//! most recent of them, `all` every one (oldest first, at most `MAX_CATCH_UP`), `none` none.
//! Then it waits for each next tick and offers it. A worker whose clock is a little behind
//! offers a tick another already enqueued, and the engine refuses it.

use std::time::{Duration, SystemTime};

use signalqueue::engine::{Outgoing, SharedEngine};
use signalqueue::{CatchUp, Envelope, Registry, Runtime, ScheduleDef, SignalDef};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::worker::backoff::engine_backoff;
use crate::worker::shutdown::Stop;

/// At most this many missed ticks are enqueued by `catch_up = "all"` (the engines remember
/// more, `signalqueue::engine::ticks::TICKS_KEPT`, so none of them can come twice).
const MAX_CATCH_UP: usize = 500;

/// How far back `catch_up = "last"` looks for the most recent missed tick.
const LAST_HORIZON: Duration = Duration::from_secs(7 * 24 * 3600);

/// The schedulers of a worker: one task per periodic signal of a served queue.
pub(crate) struct Schedulers {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Schedulers {
    /// Starts a task for every periodic signal of `registry` whose queue is one of `queues`.
    /// They stop offering ticks as soon as the worker begins to stop (`halted`): a worker
    /// that no longer claims leaves the next ticks to the workers that still run.
    pub(crate) fn start(
        runtime: &Runtime,
        registry: &'static Registry,
        queues: &[String],
        halted: Stop,
    ) -> Schedulers {
        // Cancelled when the worker begins to stop, or by `stop`.
        let stop = halted.child();
        let tasks = TaskTracker::new();
        for (def, schedule) in registry.periodic() {
            if !queues.iter().any(|q| q == def.queue) {
                continue;
            }
            let Some(engine) = runtime.queue(def.queue).cloned() else {
                continue;
            };
            if engine.ticks().is_none() {
                tracing::warn!(signal = def.name, queue = def.queue, engine = %engine.describe(), "this engine cannot enqueue each tick once; the periodic signal is not scheduled by this worker");
                continue;
            }
            let codec = runtime.codec();
            let stopped = stop.clone();
            tasks.spawn(async move {
                tokio::select! {
                    _ = stopped.cancelled() => {}
                    _ = schedule_one(def, schedule, engine, codec) => {}
                }
            });
        }
        tasks.close();
        Schedulers { stop, tasks }
    }

    /// Stops every scheduler and waits for them.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }
}

/// Catches up, then offers every next tick of one signal, until stopped.
async fn schedule_one(
    def: &'static SignalDef,
    schedule: &'static ScheduleDef,
    engine: SharedEngine,
    codec: signalqueue::Codec,
) {
    let now = SystemTime::now();
    let last = loop {
        let Some(ticks) = engine.ticks() else { return };
        match ticks.last_tick(def.name).await {
            Ok(last) => break last,
            Err(e) => {
                tracing::warn!(signal = def.name, error = %e, "cannot read the latest tick; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut after = now;
    if let Some(last) = last {
        let missed = match schedule.catch_up {
            CatchUp::None => Vec::new(),
            CatchUp::All => schedule.ticks_between(last, now, MAX_CATCH_UP),
            CatchUp::Last => {
                let from = last.max(now - LAST_HORIZON);
                let mut latest = None;
                let mut t = from;
                while let Some(next) = schedule.next_after(t).filter(|n| *n <= now) {
                    latest = Some(next);
                    t = next;
                }
                latest.into_iter().collect()
            }
        };
        for tick in missed {
            offer(def, &engine, codec, tick).await;
        }
    }
    loop {
        let Some(tick) = schedule.next_after(after) else {
            tracing::warn!(
                signal = def.name,
                "the schedule has no next tick; stopping its scheduler"
            );
            return;
        };
        if let Ok(wait) = tick.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait).await;
        }
        offer(def, &engine, codec, tick).await;
        after = tick;
    }
}

/// Offers one tick to the engine, retrying while it fails, until the next tick is due.
async fn offer(
    def: &'static SignalDef,
    engine: &SharedEngine,
    codec: signalqueue::Codec,
    tick: SystemTime,
) {
    let Some(ticks) = engine.ticks() else { return };
    let payload = match (def.from_json)(serde_json::json!({}), codec) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(signal = def.name, error = %e, "cannot encode a tick of this periodic signal");
            return;
        }
    };
    let mut envelope = Envelope::new(def.name, None, payload);
    envelope.scheduled_for = Some(tick);
    let entry = Outgoing::new(envelope.id, envelope.encode());
    let mut backoff = engine_backoff();
    let give_up = tick + Duration::from_secs(60);
    loop {
        match ticks.enqueue_tick(def.name, tick, &entry).await {
            Ok(enqueued) => {
                tracing::debug!(signal = def.name, tick = %humantime::format_rfc3339_millis(tick), enqueued, "tick offered");
                return;
            }
            Err(e) if SystemTime::now() < give_up => {
                let wait = backoff.fail();
                tracing::warn!(signal = def.name, error = %e, retry_in_ms = wait.as_millis() as u64, "cannot enqueue a tick; trying again");
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                tracing::error!(signal = def.name, tick = %humantime::format_rfc3339_millis(tick), error = %e, "gave up on a tick after a minute of failures; another worker may have enqueued it");
                return;
            }
        }
    }
}
