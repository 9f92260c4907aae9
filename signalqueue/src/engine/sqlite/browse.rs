//! Browsing a SQLite queue ([`Browse`]).
//!
//! An entry's section follows from its row as `counts` reads it: no lease and due (or a lease
//! that ended: a delayed entry come due, or a claim whose worker is gone) is pending; no lease
//! and a future `available_at` (a retry), or a lease nobody holds (fence 0) ending in the
//! future (a delayed send), is scheduled; a claim (fence > 0) whose lease runs is in flight,
//! held by `claimed_by` since `claimed_at` (`MIGRATIONS`, step 5).
//!
//! Pages are keyset pages on indexes, each arm read in its order with a limit: pending by id
//! (`entries_ready`; ended leases from `entries_leased`), scheduled by due time (retries from
//! `entries_retrying`, delayed sends from `entries_leased`), in flight by lease deadline
//! (`entries_leased`, which also holds the delayed entries, so that page walks past them as
//! `counts` does), dead letters by id (`dead_by_queue`). Dead letters have ids of their own,
//! so their keys are `dead-ID`, apart from the entries' plain ids.

use std::time::SystemTime;

use async_trait::async_trait;
use rusqlite::{params, Row};

use super::{begin, now_ms, Commit, SqliteEngine};
use crate::engine::browse::{dead_id, Cursor, DEAD_PREFIX};
use crate::engine::{from_unix_ms, Browse, Death, EngineError, Holder, Listed, Page, Section};

/// The entry's id in a key (dead letters' keys name no entry).
fn entry_id(key: &str) -> Option<i64> {
    key.parse().ok()
}

fn time(ms: i64) -> SystemTime {
    from_unix_ms(ms.max(0) as u64)
}

/// The columns every entry query below selects, in this order, for [`entry`].
const ENTRY_COLUMNS: &str =
    "id, payload, deliveries, available_at, lease_until, fence, claimed_by, claimed_at";

/// An entry row, placed in its section as of `now`; also the value it is ordered by there.
fn entry(row: &Row<'_>, now: i64) -> rusqlite::Result<(u64, Listed)> {
    let id: i64 = row.get(0)?;
    let available_at: i64 = row.get(3)?;
    let lease_until: Option<i64> = row.get(4)?;
    let fence: i64 = row.get(5)?;
    let (section, at) = match lease_until {
        None if available_at <= now => (Section::Pending, id),
        None => (Section::Scheduled, available_at),
        Some(until) if until <= now => (Section::Pending, id),
        Some(until) if fence == 0 => (Section::Scheduled, until),
        Some(until) => (Section::InFlight, until),
    };
    let mut listed = Listed::new(id.to_string(), row.get(1)?, section)
        .deliveries(u32::try_from(row.get::<_, i64>(2)?).unwrap_or(u32::MAX));
    match section {
        Section::Scheduled => listed = listed.due(time(at)),
        Section::InFlight => {
            let mut holder = Holder::new(time(at));
            // Claims made before step 5 recorded no holder.
            if let (Some(worker), Some(since)) = (
                row.get::<_, Option<String>>(6)?,
                row.get::<_, Option<i64>>(7)?,
            ) {
                holder = holder.by(worker, time(since));
            }
            listed = listed.held(holder);
        }
        Section::Pending | Section::Dead => {}
    }
    Ok((at.max(0) as u64, listed))
}

/// A dead-letter row (`id, payload, reason, died_at`).
fn dead(row: &Row<'_>) -> rusqlite::Result<(u64, Listed)> {
    let id: i64 = row.get(0)?;
    let listed = Listed::new(format!("{DEAD_PREFIX}{id}"), row.get(1)?, Section::Dead)
        .died(Death::new(row.get::<_, String>(2)?, time(row.get(3)?)));
    Ok((id.max(0) as u64, listed))
}

/// Which rows of a section a key may be in, as SQL over `entries` with `?2` = now.
fn section_condition(section: Section) -> &'static str {
    match section {
        Section::Pending => "((lease_until IS NULL AND available_at <= ?2) OR lease_until <= ?2)",
        Section::Scheduled => {
            "((lease_until IS NULL AND available_at > ?2) OR (fence = 0 AND lease_until > ?2))"
        }
        Section::InFlight => "(fence > 0 AND lease_until > ?2)",
        Section::Dead => unreachable!("dead letters are not entries"),
    }
}

impl SqliteEngine {
    fn bad_key(&self, key: &str) -> EngineError {
        EngineError::Failed {
            engine: self.describe.clone(),
            message: format!("`{key}` in a page cursor is not a key of this queue"),
        }
    }
}

#[async_trait]
impl Browse for SqliteEngine {
    async fn page(
        &self,
        section: Section,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        let (after_at, after_id) = match Cursor::parse_after(after, self.describe.clone())? {
            Some(c) => {
                let id = match section {
                    Section::Dead => dead_id(&c.key),
                    _ => entry_id(&c.key),
                };
                let id = id.ok_or_else(|| self.bad_key(&c.key))?;
                (i64::try_from(c.at).unwrap_or(i64::MAX), id)
            }
            None => (i64::MIN, i64::MIN),
        };
        let queue = self.options.queue.clone();
        let options = self.options.clone();
        // One more than asked, to know whether a page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        let mut rows: Vec<(u64, Listed)> = self
            .run(move |conn| {
                let now = now_ms();
                let c = ENTRY_COLUMNS;
                let sql = match section {
                    Section::Pending => format!(
                        "SELECT {c} FROM (
                             SELECT {c} FROM entries
                             WHERE queue = ?1 AND lease_until IS NULL AND available_at <= ?2
                               AND id > ?4
                             ORDER BY id LIMIT ?5)
                         UNION ALL
                         SELECT {c} FROM (
                             SELECT {c} FROM entries
                             WHERE queue = ?1 AND lease_until IS NOT NULL AND lease_until <= ?2
                               AND id > ?4
                             ORDER BY id LIMIT ?5)
                         ORDER BY id LIMIT ?5"
                    ),
                    Section::Scheduled => format!(
                        "SELECT {c}, due FROM (
                             SELECT {c}, available_at AS due FROM entries
                             WHERE queue = ?1 AND lease_until IS NULL AND fence > 0
                               AND available_at > ?2 AND (available_at, id) > (?3, ?4)
                             ORDER BY available_at, id LIMIT ?5)
                         UNION ALL
                         SELECT {c}, due FROM (
                             SELECT {c}, lease_until AS due FROM entries
                             WHERE queue = ?1 AND lease_until > ?2 AND fence = 0
                               AND (lease_until, id) > (?3, ?4)
                             ORDER BY lease_until, id LIMIT ?5)
                         ORDER BY due, id LIMIT ?5"
                    ),
                    Section::InFlight => format!(
                        "SELECT {c} FROM entries
                         WHERE queue = ?1 AND lease_until > ?2 AND fence > 0
                           AND (lease_until, id) > (?3, ?4)
                         ORDER BY lease_until, id LIMIT ?5"
                    ),
                    Section::Dead => {
                        // As `dead` does: expired ones are not shown.
                        let tx = begin(conn, Commit::Deferred)?;
                        SqliteEngine::trim_dead(&tx, &queue, &options)?;
                        tx.commit()?;
                        "SELECT id, payload, reason, died_at FROM dead
                         WHERE queue = ?1 AND id > ?4
                         ORDER BY id LIMIT ?5"
                            .to_string()
                    }
                };
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows =
                    stmt.query_map(params![queue, now, after_at, after_id, fetch], |row| {
                        match section {
                            Section::Dead => dead(row),
                            _ => entry(row, now),
                        }
                    })?;
                rows.collect()
            })
            .await?;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last()
                .map(|(at, listed)| Cursor::new(*at, listed.key.clone()).text())
        } else {
            None
        };
        Ok(Page::new(rows.into_iter().map(|(_, l)| l).collect(), next))
    }

    async fn find(&self, key: &str) -> Result<Option<Listed>, EngineError> {
        let queue = self.options.queue.clone();
        if key.starts_with(DEAD_PREFIX) {
            let Some(id) = dead_id(key) else {
                return Ok(None);
            };
            return self
                .run(move |conn| {
                    let mut stmt = conn.prepare_cached(
                        "SELECT id, payload, reason, died_at FROM dead
                         WHERE queue = ?1 AND id = ?2",
                    )?;
                    let mut rows = stmt.query_map(params![queue, id], dead)?;
                    rows.next().transpose().map(|r| r.map(|(_, l)| l))
                })
                .await;
        }
        let Some(id) = entry_id(key) else {
            return Ok(None);
        };
        self.run(move |conn| {
            let now = now_ms();
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE queue = ?1 AND id = ?2"
            ))?;
            let mut rows = stmt.query_map(params![queue, id], |row| entry(row, now))?;
            rows.next().transpose().map(|r| r.map(|(_, l)| l))
        })
        .await
    }

    async fn delete(&self, section: Section, keys: &[String]) -> Result<u64, EngineError> {
        let ids: Vec<i64> = match section {
            Section::Dead => keys
                .iter()
                .filter(|k| k.starts_with(DEAD_PREFIX))
                .filter_map(|k| dead_id(k))
                .collect(),
            // Its worker will ack, retry or release it: never removed under it.
            Section::InFlight => return Ok(0),
            Section::Pending | Section::Scheduled => {
                keys.iter().filter_map(|k| entry_id(k)).collect()
            }
        };
        if ids.is_empty() {
            return Ok(0);
        }
        let queue = self.options.queue.clone();
        self.run(move |conn| {
            let tx = begin(conn, Commit::Fsync)?;
            let now = now_ms();
            let mut removed = 0;
            {
                // Each row is deleted only if it is still in the section, inside the write
                // transaction a claim would need too: one claimed meanwhile is skipped.
                let mut delete = match section {
                    Section::Dead => {
                        tx.prepare_cached("DELETE FROM dead WHERE queue = ?1 AND id = ?3")?
                    }
                    _ => tx.prepare_cached(&format!(
                        "DELETE FROM entries WHERE queue = ?1 AND id = ?3 AND {}",
                        section_condition(section)
                    ))?,
                };
                for id in &ids {
                    removed += delete.execute(params![queue, now, id])? as u64;
                }
            }
            tx.commit()?;
            Ok(removed)
        })
        .await
    }

    async fn run_now(&self, keys: &[String]) -> Result<u64, EngineError> {
        let ids: Vec<i64> = keys.iter().filter_map(|k| entry_id(k)).collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let queue = self.options.queue.clone();
        let moved = self
            .run(move |conn| {
                let tx = begin(conn, Commit::Fsync)?;
                let now = now_ms();
                let mut moved = 0;
                {
                    // Unleased and due now: the claim's walk of ready ids takes it, in its
                    // place by id.
                    let mut run = tx.prepare_cached(&format!(
                        "UPDATE entries SET available_at = ?2, lease_until = NULL
                         WHERE queue = ?1 AND id = ?3 AND {}",
                        section_condition(Section::Scheduled)
                    ))?;
                    for id in &ids {
                        moved += run.execute(params![queue, now, id])? as u64;
                    }
                }
                tx.commit()?;
                Ok(moved)
            })
            .await?;
        if moved > 0 {
            self.arrived.notify_waiters();
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::Connection;

    use super::super::{open_connection, MIGRATIONS};
    use super::*;
    use crate::engine::{consumer_id, unix_ms, Engine, EngineOptions, EngineUrl};

    /// A file written by a build before step 5 (claims without a holder) opens, keeps its
    /// entries in their sections, and records holders from then on.
    #[tokio::test]
    async fn a_version_4_file_is_upgraded_and_browsed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v4.db");
        let now = unix_ms(SystemTime::now()) as i64;
        let hour = 3_600_000;
        {
            let conn = Connection::open(&path).expect("open");
            for step in &MIGRATIONS[..4] {
                conn.execute_batch(step).expect("steps 1 to 4");
            }
            conn.pragma_update(None, "user_version", 4)
                .expect("user_version");
            let insert = "INSERT INTO entries
                 (queue, payload, available_at, lease_until, fence, deliveries, enqueued_at)
                 VALUES ('default', ?1, ?2, ?3, ?4, ?5, 0)";
            let old = |params: &[&dyn rusqlite::ToSql]| {
                conn.execute(insert, params).expect("an old entry");
            };
            old(params![b"old-ready".as_slice(), 0, None::<i64>, 0, 0]);
            old(params![b"old-held".as_slice(), 0, now + hour, 1, 1]);
            old(params![
                b"old-retry".as_slice(),
                now + hour,
                None::<i64>,
                1,
                1
            ]);
        }
        let url = EngineUrl::parse(&format!("sqlite://{}", path.display())).expect("url");
        let engine = SqliteEngine::open(&url, EngineOptions::new("default"))
            .await
            .expect("upgrade");
        let section = |section: Section| {
            let engine = &engine;
            async move { engine.page(section, None, 10).await.expect("page").entries }
        };
        let held = section(Section::InFlight).await;
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].payload, b"old-held");
        let holder = held[0].holder.clone().expect("holder");
        assert_eq!(
            (holder.worker, holder.since),
            (None, None),
            "not recorded then"
        );
        assert_eq!(unix_ms(holder.lease_until) as i64, now + hour);
        let retry = section(Section::Scheduled).await;
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].payload, b"old-retry");
        assert_eq!(unix_ms(retry[0].due.expect("due")) as i64, now + hour);

        let claimed = engine
            .claim(10, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].payload, b"old-ready");
        let found = engine
            .find(&claimed[0].token.key)
            .await
            .expect("find")
            .expect("found");
        assert_eq!(found.section, Section::InFlight);
        let holder = found.holder.expect("holder");
        assert_eq!(holder.worker.as_deref(), Some(consumer_id()));
        assert!(holder.since.is_some());
        assert_eq!(engine.counts().await.expect("counts").in_flight, 2);
    }

    /// The pages' arms read their indexes in order: a scheduled page reads waiting retries
    /// from `entries_retrying` and delayed sends from `entries_leased`, the in-flight page
    /// reads `entries_leased`, and the dead page `dead_by_queue`; none sorts a whole section.
    #[test]
    fn the_pages_use_their_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_connection(&dir.path().join("plan.db")).expect("open");
        let plan = |sql: &str| -> String {
            let rows: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("prepare")
                .query_map(params!["q", 0, 0, 0, 10], |row| row.get::<_, String>(3))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows");
            rows.join("; ")
        };
        let retries = plan(
            "SELECT id FROM entries
             WHERE queue = ?1 AND lease_until IS NULL AND fence > 0
               AND available_at > ?2 AND (available_at, id) > (?3, ?4)
             ORDER BY available_at, id LIMIT ?5",
        );
        assert!(retries.contains("INDEX entries_retrying"), "{retries}");
        assert!(!retries.contains("TEMP B-TREE"), "no sort: {retries}");
        let delayed = plan(
            "SELECT id FROM entries
             WHERE queue = ?1 AND lease_until > ?2 AND fence = 0
               AND (lease_until, id) > (?3, ?4)
             ORDER BY lease_until, id LIMIT ?5",
        );
        assert!(delayed.contains("INDEX entries_leased"), "{delayed}");
        let ready = plan(
            "SELECT id FROM entries
             WHERE queue = ?1 AND lease_until IS NULL AND available_at <= ?2 AND id > ?4
             ORDER BY id LIMIT ?5",
        );
        assert!(ready.contains("INDEX entries_ready"), "{ready}");
        assert!(!ready.contains("TEMP B-TREE"), "no sort: {ready}");
    }
}
