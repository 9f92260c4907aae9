//! The ticks of periodic signals on PostgreSQL: the table `SCHEMA.ticks` (`queue` step 2) holds
//! about the latest [`TICKS_KEPT`] ticks of each (queue, schedule).
//!
//! One statement records the tick (`ON CONFLICT DO NOTHING` on its primary key) and, only when
//! that inserted a row, inserts the entry and drops the schedule's ticks older than the latest
//! [`TICKS_KEPT`]: one transaction, so the entry exists if and only if its tick does. Two
//! workers inserting one tick at once collide on the primary key, and the second one's insert
//! waits for the first to commit, then does nothing.

use std::time::SystemTime;

use async_trait::async_trait;

use super::PostgresEngine;
use crate::engine::ticks::TICKS_KEPT;
use crate::engine::{from_unix_ms, unix_ms, EngineError, Outgoing, Ticks};

/// `$1` queue, `$2` schedule, `$3` the offset of the oldest tick kept when the record is full,
/// `$4` the tick, `$5` the payload, `$6` its due time (NULL: now). Returns one row when it
/// enqueued. A tick older than every tick kept, with the record full, may be one that was
/// dropped: refused, rather than risk enqueueing it twice. The trim reads the record as it was
/// before this insert, so a schedule keeps at most one tick more than `TICKS_KEPT`.
pub(super) fn enqueue_tick_sql(s: &str) -> String {
    // The entry is inserted into `entries`, so that `RETURNING` says it was; a delayed one
    // (due in the future) is moved into `delayed` by the trigger on `entries` (schema step 5),
    // claimable from its due time.
    format!(
        "WITH oldest AS (
             SELECT tick FROM {s}.ticks WHERE queue = $1 AND schedule = $2
             ORDER BY tick DESC LIMIT 1 OFFSET $3),
         recorded AS (
             INSERT INTO {s}.ticks (queue, schedule, tick)
             SELECT $1, $2, $4::timestamptz
             WHERE NOT EXISTS (SELECT 1 FROM oldest WHERE $4::timestamptz < oldest.tick)
             ON CONFLICT DO NOTHING
             RETURNING tick),
         entry AS (
             INSERT INTO {s}.entries (queue, payload, available_at, delayed)
             SELECT $1, $5::bytea, coalesce($6::timestamptz, now()), $6::timestamptz IS NOT NULL
             FROM recorded
             RETURNING id),
         trimmed AS (
             DELETE FROM {s}.ticks
             WHERE queue = $1 AND schedule = $2 AND tick < (SELECT tick FROM oldest)
               AND EXISTS (SELECT 1 FROM recorded))
         SELECT id FROM entry"
    )
}

/// `$1` queue, `$2` schedule.
pub(super) fn last_tick_sql(s: &str) -> String {
    format!("SELECT max(tick) FROM {s}.ticks WHERE queue = $1 AND schedule = $2")
}

#[async_trait]
impl Ticks for PostgresEngine {
    async fn enqueue_tick(
        &self,
        schedule: &str,
        tick: SystemTime,
        entry: &Outgoing,
    ) -> Result<bool, EngineError> {
        // Milliseconds, as every engine compares ticks.
        let tick = from_unix_ms(unix_ms(tick));
        let oldest = i64::try_from(TICKS_KEPT.saturating_sub(1)).unwrap_or(i64::MAX);
        let due = entry.delayed_until(SystemTime::now());
        let rows = self
            .query(
                &self.sql.enqueue_tick,
                &[
                    &self.options.queue,
                    &schedule,
                    &oldest,
                    &tick,
                    &entry.payload,
                    &due,
                ],
            )
            .await?;
        let enqueued = !rows.is_empty();
        if enqueued {
            // Other processes hear of it through the insert trigger's NOTIFY.
            self.arrived.notify_waiters();
        }
        Ok(enqueued)
    }

    async fn last_tick(&self, schedule: &str) -> Result<Option<SystemTime>, EngineError> {
        let rows = self
            .query(&self.sql.last_tick, &[&self.options.queue, &schedule])
            .await?;
        Ok(rows
            .first()
            .and_then(|row| row.get::<_, Option<SystemTime>>(0)))
    }
}
