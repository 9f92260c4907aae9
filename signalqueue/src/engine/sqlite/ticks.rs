//! The ticks of periodic signals on SQLite: the table `ticks` (`MIGRATIONS`, step 3) holds the
//! latest [`TICKS_KEPT`] ticks of each (queue, schedule).
//!
//! One `BEGIN IMMEDIATE` transaction, fsync'ed at commit like a send, records the tick
//! (`INSERT OR IGNORE` on its primary key), and only when that inserted a row inserts the entry
//! and drops the schedule's ticks beyond the latest [`TICKS_KEPT`]. The write lock makes the
//! check and the insert one step for every connection to the file, so however many workers
//! (processes or tasks) ask for a tick, one of them inserts it. Not through the group commit:
//! a tick's answer depends on its own insert, and ticks are a few a minute.

use std::time::SystemTime;

use async_trait::async_trait;
use rusqlite::params;

use super::group_commit::{insert_entry, NewEntry};
use super::{begin, now_ms, Commit, SqliteEngine};
use crate::engine::ticks::TICKS_KEPT;
use crate::engine::{from_unix_ms, unix_ms, EngineError, Outgoing, Ticks};

#[async_trait]
impl Ticks for SqliteEngine {
    async fn enqueue_tick(
        &self,
        schedule: &str,
        tick: SystemTime,
        entry: &Outgoing,
    ) -> Result<bool, EngineError> {
        let queue = self.options.queue.clone();
        let schedule = schedule.to_string();
        let tick = i64::try_from(unix_ms(tick)).unwrap_or(i64::MAX);
        let now = SystemTime::now();
        let entry = NewEntry {
            payload: entry.payload.clone(),
            due_ms: entry
                .delayed_until(now)
                .map(|t| i64::try_from(unix_ms(t)).unwrap_or(i64::MAX)),
        };
        // The offset of the oldest tick kept when the record is full.
        let oldest = i64::try_from(TICKS_KEPT.saturating_sub(1)).unwrap_or(i64::MAX);
        let enqueued = self
            .run(move |conn| {
                let tx = begin(conn, Commit::Fsync)?;
                // A tick older than all kept, with the record full, may be one that was
                // dropped: refused, rather than risk enqueueing it twice.
                let inserted = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO ticks (queue, schedule, tick)
                         SELECT ?1, ?2, ?3
                         WHERE ?3 > coalesce((SELECT tick FROM ticks
                                              WHERE queue = ?1 AND schedule = ?2
                                              ORDER BY tick DESC LIMIT 1 OFFSET ?4), -1)",
                    )?
                    .execute(params![queue, schedule, tick, oldest])?
                    == 1;
                if !inserted {
                    // Nothing written: the rollback on drop ends the transaction.
                    return Ok(false);
                }
                insert_entry(&tx, &queue, &entry, now_ms())?;
                tx.prepare_cached(
                    "DELETE FROM ticks
                     WHERE queue = ?1 AND schedule = ?2
                       AND tick < (SELECT tick FROM ticks WHERE queue = ?1 AND schedule = ?2
                                   ORDER BY tick DESC LIMIT 1 OFFSET ?3)",
                )?
                .execute(params![queue, schedule, oldest])?;
                tx.commit()?;
                Ok(true)
            })
            .await?;
        if enqueued {
            self.arrived.notify_waiters();
        }
        Ok(enqueued)
    }

    async fn last_tick(&self, schedule: &str) -> Result<Option<SystemTime>, EngineError> {
        let queue = self.options.queue.clone();
        let schedule = schedule.to_string();
        let last: Option<i64> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT max(tick) FROM ticks WHERE queue = ?1 AND schedule = ?2",
                )?
                .query_row(params![queue, schedule], |row| row.get(0))
            })
            .await?;
        Ok(last.map(|ms| from_unix_ms(u64::try_from(ms).unwrap_or(0))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineOptions, EngineUrl};

    /// The record of a schedule keeps its latest `TICKS_KEPT` ticks, and a tick older than all
    /// of them is refused.
    #[tokio::test]
    async fn the_record_is_bounded_and_refuses_ticks_it_forgot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = EngineUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .expect("url");
        let engine = SqliteEngine::open(&url, EngineOptions::new("default"))
            .await
            .expect("open");
        let entry = Outgoing::new(crate::EnvelopeId::new(), b"tick".to_vec());
        // One past the bound, written at once (a thousand fsyncs would be slow).
        engine
            .run(move |conn| {
                let tx = conn.transaction()?;
                for t in 1..=TICKS_KEPT as i64 {
                    tx.execute(
                        "INSERT INTO ticks (queue, schedule, tick) VALUES ('default', 's', ?1)",
                        [t * 1000],
                    )?;
                }
                tx.commit()
            })
            .await
            .expect("seed");
        let at = |s: u64| from_unix_ms(s * 1000);
        assert!(engine
            .enqueue_tick("s", at(TICKS_KEPT + 1), &entry)
            .await
            .expect("tick"));
        let kept: i64 = engine
            .run(|conn| {
                conn.query_row("SELECT count(*) FROM ticks WHERE schedule = 's'", [], |r| {
                    r.get(0)
                })
            })
            .await
            .expect("count");
        assert_eq!(kept as u64, TICKS_KEPT);
        // Tick 1 was dropped from the record: asking for it again must not enqueue it.
        assert!(!engine.enqueue_tick("s", at(1), &entry).await.expect("tick"));
        assert_eq!(
            engine.last_tick("s").await.expect("last"),
            Some(at(TICKS_KEPT + 1))
        );
        assert_eq!(engine.counts().await.expect("counts").pending, 1);
    }
}
