//! Ticks of periodic signals: each one enqueued exactly once, however many workers ask.
//!
//! Every running worker computes the next tick of each periodic signal and asks its engine to
//! enqueue that tick's entry; the engine is what makes that exactly once per (schedule, tick),
//! with the tick's time as the key, checked and recorded in the same atomic step as the
//! enqueue. So workers need no leader and no lock between them: starting, stopping or killing
//! any of them, at any moment, neither loses a tick nor runs one twice.
//!
//! Ticks are compared at millisecond precision (what engines store for times). What each
//! engine keeps, and for how long, is in `docs/engines.md` ("Ticks of periodic signals"): never
//! without bound, and always more than a worker catching up after downtime asks for.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::engine::{EngineError, Outgoing};

/// How many of a schedule's latest ticks the SQL engines (and `memory://`) remember. An older
/// tick is refused once that many newer ones are kept, so a tick is never enqueued twice even
/// after its record was dropped.
pub const TICKS_KEPT: u64 = 1_000;

/// How long Redis remembers one tick (the TTL of its key). A tick older than this before the
/// schedule's latest is refused, for the same reason.
pub const TICK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Enqueues the ticks of periodic signals, each exactly once.
#[async_trait]
pub trait Ticks: Send + Sync {
    /// Enqueues `entry` as tick `tick` of `schedule` (the signal's wire name) unless that tick
    /// was enqueued before (by anyone); atomically with the enqueue. `true` when this call
    /// enqueued it.
    async fn enqueue_tick(
        &self,
        schedule: &str,
        tick: SystemTime,
        entry: &Outgoing,
    ) -> Result<bool, EngineError>;

    /// The latest tick enqueued for `schedule`, if any (for catch-up after downtime, and for
    /// `signalqueue-worker schedule`).
    async fn last_tick(&self, schedule: &str) -> Result<Option<SystemTime>, EngineError>;
}
