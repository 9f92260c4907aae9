//! What the worker shows of the periodic signals linked into it: expression, time zone,
//! catch-up policy, the last tick each engine recorded and the next ticks. One view for
//! `signalqueue-worker schedule`, `GET /api/schedules` and the status page, so the three say
//! the same thing.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use signalqueue::engine::SharedEngine;
use signalqueue::{Registry, ScheduleDef, SignalDef};

/// How many upcoming ticks each signal shows.
pub(crate) const NEXT: usize = 3;

/// One periodic signal, as shown (the JSON shape is documented in `docs/worker.md`).
#[derive(Debug, Serialize)]
pub(crate) struct PeriodicView {
    pub(crate) name: &'static str,
    pub(crate) queue: &'static str,
    pub(crate) rust_path: &'static str,
    pub(crate) location: &'static str,
    pub(crate) doc: &'static str,
    /// The cron expression, for `schedule = "..."`.
    pub(crate) schedule: Option<&'static str>,
    /// The period as written, for `every = "..."`.
    pub(crate) every: Option<&'static str>,
    pub(crate) every_ms: Option<u64>,
    pub(crate) timezone: &'static str,
    pub(crate) catch_up: &'static str,
    /// The next ticks after now, RFC 3339.
    pub(crate) next: Vec<String>,
    /// The latest tick the signal's engine recorded as enqueued, RFC 3339; `None` before the
    /// first or when it could not be read (then `last_tick_error` says why).
    pub(crate) last_tick: Option<String>,
    pub(crate) last_tick_error: Option<String>,
    /// [`when`] the signal ticks, for text.
    #[serde(skip)]
    pub(crate) when: String,
    #[serde(skip)]
    pub(crate) ticks: Vec<SystemTime>,
    #[serde(skip)]
    pub(crate) last: Result<Option<SystemTime>, String>,
}

impl PeriodicView {
    /// The view of `def` at `now`, with the last tick as read from its engine.
    pub(crate) fn new(
        def: &'static SignalDef,
        schedule: &'static ScheduleDef,
        now: SystemTime,
        last: Result<Option<SystemTime>, String>,
    ) -> PeriodicView {
        let ticks = next_ticks(schedule, now);
        PeriodicView {
            name: def.name,
            queue: def.queue,
            rust_path: def.rust_path,
            location: def.location,
            doc: def.doc,
            schedule: schedule.every.is_none().then_some(schedule.expr),
            every: schedule.every.map(|_| schedule.expr),
            every_ms: schedule.every.map(|d| d.as_millis() as u64),
            timezone: schedule.timezone,
            catch_up: schedule.catch_up.as_str(),
            next: ticks.iter().copied().map(rfc3339).collect(),
            last_tick: last.as_ref().ok().copied().flatten().map(rfc3339),
            last_tick_error: last.as_ref().err().cloned(),
            when: when(schedule),
            ticks,
            last,
        }
    }
}

/// `every 1m`, or `schedule */10 * * * * * (UTC)`.
pub(crate) fn when(schedule: &ScheduleDef) -> String {
    match schedule.every {
        Some(_) => format!("every {}", schedule.expr),
        None => format!("schedule {} ({})", schedule.expr, schedule.timezone),
    }
}

/// Every periodic signal of `registry`, with the last tick read through `engine_of` (which
/// gives the engine of a queue, or why there is none). Engines are asked concurrently.
pub(crate) async fn read<F, Fut>(registry: &'static Registry, engine_of: F) -> Vec<PeriodicView>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = Result<SharedEngine, String>>,
{
    let now = SystemTime::now();
    let periodic: Vec<_> = registry.periodic().collect();
    let lasts = futures_util::future::join_all(periodic.iter().map(|(def, _)| {
        let engine = engine_of(def.queue);
        async move { last_tick(engine.await, def.name).await }
    }))
    .await;
    periodic
        .into_iter()
        .zip(lasts)
        .map(|((def, schedule), last)| PeriodicView::new(def, schedule, now, last))
        .collect()
}

/// The latest tick of `signal` that `engine` recorded.
async fn last_tick(
    engine: Result<SharedEngine, String>,
    signal: &str,
) -> Result<Option<SystemTime>, String> {
    let engine = engine?;
    match engine.ticks() {
        None => Err(format!("{} keeps no ticks", engine.kind())),
        Some(ticks) => ticks.last_tick(signal).await.map_err(|e| e.to_string()),
    }
}

fn next_ticks(schedule: &ScheduleDef, now: SystemTime) -> Vec<SystemTime> {
    let mut ticks = Vec::with_capacity(NEXT);
    let mut t = now;
    while ticks.len() < NEXT {
        match schedule.next_after(t) {
            Some(next) => {
                ticks.push(next);
                t = next;
            }
            None => break,
        }
    }
    ticks
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// How long until `tick`, to the second (`"2m 13s"`).
pub(crate) fn until(now: SystemTime, tick: SystemTime) -> String {
    let wait = tick.duration_since(now).unwrap_or_default();
    let wait = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
    humantime::format_duration(wait).to_string()
}
