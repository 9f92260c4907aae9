//! Browsing a PostgreSQL queue ([`Browse`]).
//!
//! An entry's section follows from its row as `counts` reads it, on the server's clock. In
//! `entries`: due and unleased, or with a lease that ended (a claim whose worker is gone), is
//! pending; unleased and due later (a retry with a delay as a build of schema step 4 left it,
//! still flagged `delayed`) is scheduled; a claim whose lease runs is in flight, held by
//! `claimed_by` since `claimed_at` (schema step 7). In `delayed` (schema step 5: delayed sends
//! and retries, out of the claim's table): scheduled until its due time, then pending until a
//! claim moves it into `entries`.
//!
//! Pages are keyset pages. Pending: the ready entries by id (`entries_queue`, stepping over the
//! claims in flight as the claim does), then the delayed entries come due but not yet moved, by
//! (due time, id), from `delayed_due` and, for rows a step-4 build left flagged, from
//! `entries_delayed` (ranges, so those not due are never read). They are listed after the ready
//! ones although, once moved, they are claimed in id order among them: where a due one goes in
//! the claim's order depends on when a claim moves it, and two keyset orders in one page would
//! not survive entries moving meanwhile. Scheduled: by (due time, id) from `delayed_due` and
//! `entries_delayed`, merged. In flight by (lease deadline, id) has no index of its own (one on
//! `lease_until` would make every claim move an index entry, where it is now a HOT update): that
//! page reads the queue's entries of `entries_queue` and sorts the claims, as `counts` reads them
//! all. Dead letters by id (`dead_by_queue`); they have ids of their own, so their keys are
//! `dead-ID`, apart from the entries' plain ids (`entries` and `delayed` share one sequence, so
//! an entry keeps its key when it moves between them).

use std::time::SystemTime;

use async_trait::async_trait;
use tokio_postgres::Row;

use super::schema::quoted;
use super::PostgresEngine;
use crate::engine::browse::{dead_id, Cursor, DEAD_PREFIX};
use crate::engine::{Browse, Death, EngineError, Holder, Listed, Page, Section};

/// The columns every entry query below selects, in this order, for [`entry`], from rows of
/// `entries` or `delayed` read through [`FROM_ENTRIES`] and [`FROM_DELAYED`].
const ENTRY_COLUMNS: &str = "id, payload, deliveries, available_at, lease_until, fence, \
     claimed_by, claimed_at, now(), delayed";

/// A row of `entries` as the outer select of [`ENTRY_COLUMNS`] reads it.
const FROM_ENTRIES: &str = "id, payload, deliveries, available_at, lease_until, fence, \
     claimed_by, claimed_at, delayed";

/// A row of `delayed` in the same shape: never leased, never claimed (a claim moves it into
/// `entries` first), and `delayed`, so that a due one is ordered by its due time in the pending
/// page, as an entry still flagged `delayed` is.
const FROM_DELAYED: &str = "id, payload, deliveries, available_at, \
     NULL::timestamptz AS lease_until, fence, NULL::text AS claimed_by, \
     NULL::timestamptz AS claimed_at, true AS delayed";

/// Microseconds since the Unix epoch: PostgreSQL's precision, so a cursor is exact.
fn micros(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A cursor's time, as the statements compare it.
const AFTER_TIME: &str = "timestamptz 'epoch' + $2::bigint * interval '1 microsecond'";

/// An entry row, placed in its section as of the server's `now()`; also the value it is
/// ordered by there.
fn entry(row: &Row) -> (i64, Listed) {
    let id: i64 = row.get(0);
    let available_at: SystemTime = row.get(3);
    let lease_until: Option<SystemTime> = row.get(4);
    let fence: i64 = row.get(5);
    let now: SystemTime = row.get(8);
    let (section, at) = match lease_until {
        Some(until) if until > now && fence > 0 => (Section::InFlight, Some(until)),
        // A delayed entry as builds before schema step 4 wrote it: a lease nobody holds.
        Some(until) if until > now => (Section::Scheduled, Some(until)),
        _ if lease_until.is_none() && available_at > now => {
            (Section::Scheduled, Some(available_at))
        }
        _ => (Section::Pending, None),
    };
    let mut listed = Listed::new(id.to_string(), row.get(1), section)
        .deliveries(u32::try_from(row.get::<_, i32>(2)).unwrap_or(0));
    let at = at.unwrap_or(SystemTime::UNIX_EPOCH);
    match section {
        Section::Scheduled => listed = listed.due(at),
        Section::InFlight => {
            let mut holder = Holder::new(at);
            // Claims made before step 7 (or by a build before it) recorded no holder.
            if let (Some(worker), Some(since)) = (
                row.get::<_, Option<String>>(6),
                row.get::<_, Option<SystemTime>>(7),
            ) {
                holder = holder.by(worker, since);
            }
            listed = listed.held(holder);
        }
        Section::Pending | Section::Dead => {}
    }
    // Pending: entries that are not delayed by id (0 here), then delayed ones come due by
    // their due time (see `page`).
    let order = match section {
        Section::Pending if row.get::<_, bool>(9) => micros(available_at),
        Section::Pending => 0,
        _ => micros(at),
    };
    (order, listed)
}

/// A dead-letter row (`id, payload, reason, died_at`).
fn dead(row: &Row) -> (i64, Listed) {
    let id: i64 = row.get(0);
    let listed = Listed::new(format!("{DEAD_PREFIX}{id}"), row.get(1), Section::Dead)
        .died(Death::new(row.get::<_, String>(2), row.get(3)));
    (id, listed)
}

/// Which rows of `entries` are in `section`, as SQL on the server's clock.
fn section_condition(section: Section) -> &'static str {
    match section {
        Section::Pending => {
            "available_at <= now() AND (lease_until IS NULL OR lease_until <= now())"
        }
        Section::Scheduled => {
            "((lease_until IS NULL AND available_at > now())
              OR (fence = 0 AND lease_until > now()))"
        }
        Section::InFlight => "(fence > 0 AND lease_until > now())",
        Section::Dead => unreachable!("dead letters are not entries"),
    }
}

/// Which rows of `delayed` are in `section` (pending or scheduled), as SQL on the server's
/// clock.
fn delayed_condition(section: Section) -> &'static str {
    match section {
        Section::Pending => "available_at <= now()",
        Section::Scheduled => "available_at > now()",
        Section::InFlight | Section::Dead => unreachable!("a delayed row is never claimed"),
    }
}

impl PostgresEngine {
    fn bad_cursor_key(&self, key: &str) -> EngineError {
        EngineError::Failed {
            engine: self.shown.clone(),
            message: format!("`{key}` in a page cursor is not a key of this queue"),
        }
    }
}

#[async_trait]
impl Browse for PostgresEngine {
    async fn page(
        &self,
        section: Section,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        let s = quoted(&self.schema);
        let queue = &self.options.queue;
        let (after_at, after_id) = match Cursor::parse_after(after, self.shown.clone())? {
            Some(c) => {
                let id = match section {
                    Section::Dead => dead_id(&c.key),
                    _ => c.key.parse().ok(),
                };
                let id = id.ok_or_else(|| self.bad_cursor_key(&c.key))?;
                (i64::try_from(c.at).unwrap_or(i64::MAX), id)
            }
            // Ids start at 1 and every time is after the epoch.
            None => (0, 0),
        };
        // One more than asked, to know whether a page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        let c = ENTRY_COLUMNS;
        let mut rows: Vec<(i64, Listed)> = match section {
            Section::Pending => {
                // Three arms, each in its index's order: the entries that are not delayed by
                // id (`entries_queue`), then the delayed ones come due by (due time, id), from
                // `delayed` (`delayed_due`) and those still flagged in `entries`
                // (`entries_delayed`), merged. A cursor in the second part (a time, not 0)
                // ends the first. Each delayed arm is a range of its index from the cursor on:
                // PostgreSQL bounds the scan by the row comparison's first column, then sorts
                // ties of one due time by id (EXPLAIN on 200k rows of `delayed`: an index scan
                // of `delayed_due` and an incremental sort, 43 buffers for a page of 10).
                let sql = format!(
                    "SELECT {c} FROM (
                         (SELECT {FROM_ENTRIES}, 0 AS arm, timestamptz 'epoch' AS due
                          FROM {s}.entries
                          WHERE queue = $1 AND NOT delayed AND $2::bigint = 0 AND id > $3
                            AND available_at <= now()
                            AND (lease_until IS NULL OR lease_until <= now())
                          ORDER BY id LIMIT $4)
                         UNION ALL
                         (SELECT {FROM_DELAYED}, 1, available_at FROM {s}.delayed
                          WHERE queue = $1 AND available_at <= now()
                            AND (available_at, id)
                                > ({AFTER_TIME}, CASE WHEN $2::bigint = 0 THEN 0 ELSE $3 END)
                          ORDER BY available_at, id LIMIT $4)
                         UNION ALL
                         (SELECT {FROM_ENTRIES}, 1, available_at FROM {s}.entries
                          WHERE queue = $1 AND delayed AND available_at <= now()
                            AND (available_at, id)
                                > ({AFTER_TIME}, CASE WHEN $2::bigint = 0 THEN 0 ELSE $3 END)
                          ORDER BY available_at, id LIMIT $4)) AS e
                     ORDER BY arm, due, id LIMIT $4"
                );
                let rows = self
                    .query(&sql, &[queue, &after_at, &after_id, &fetch])
                    .await?;
                rows.iter().map(entry).collect()
            }
            Section::Scheduled => {
                // Two arms by (due time, id), merged: `delayed` (`delayed_due`), and the
                // entries a build of step 4 left flagged `delayed` in `entries`
                // (`entries_delayed`). A delayed send as builds before step 4 wrote it (a lease
                // nobody holds) is counted as scheduled but listed only by `find`: no index
                // orders those.
                let sql = format!(
                    "SELECT {c} FROM (
                         (SELECT {FROM_DELAYED} FROM {s}.delayed
                          WHERE queue = $1 AND available_at > now()
                            AND (available_at, id) > ({AFTER_TIME}, $3)
                          ORDER BY available_at, id LIMIT $4)
                         UNION ALL
                         (SELECT {FROM_ENTRIES} FROM {s}.entries
                          WHERE queue = $1 AND delayed AND available_at > now()
                            AND (available_at, id) > ({AFTER_TIME}, $3)
                          ORDER BY available_at, id LIMIT $4)) AS e
                     ORDER BY available_at, id LIMIT $4"
                );
                let rows = self
                    .query(&sql, &[queue, &after_at, &after_id, &fetch])
                    .await?;
                rows.iter().map(entry).collect()
            }
            Section::InFlight => {
                let sql = format!(
                    "SELECT {c} FROM {s}.entries
                     WHERE queue = $1 AND NOT delayed AND fence > 0 AND lease_until > now()
                       AND (lease_until, id) > ({AFTER_TIME}, $3)
                     ORDER BY lease_until, id LIMIT $4"
                );
                let rows = self
                    .query(&sql, &[queue, &after_at, &after_id, &fetch])
                    .await?;
                rows.iter().map(entry).collect()
            }
            Section::Dead => {
                // As `dead` does: expired ones are not shown.
                self.trim_dead().await?;
                let sql = format!(
                    "SELECT id, payload, reason, died_at FROM {s}.dead
                     WHERE queue = $1 AND id > $2 ORDER BY id LIMIT $3"
                );
                let rows = self.query(&sql, &[queue, &after_id, &fetch]).await?;
                rows.iter().map(dead).collect()
            }
        };
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|(at, listed)| {
                let id = listed.key.strip_prefix(DEAD_PREFIX).unwrap_or(&listed.key);
                Cursor::new(u64::try_from(*at).unwrap_or(0), id).text()
            })
        } else {
            None
        };
        Ok(Page::new(rows.into_iter().map(|(_, l)| l).collect(), next))
    }

    async fn find(&self, key: &str) -> Result<Option<Listed>, EngineError> {
        let s = quoted(&self.schema);
        let queue = &self.options.queue;
        if key.starts_with(DEAD_PREFIX) {
            let Some(id) = dead_id(key) else {
                return Ok(None);
            };
            let sql = format!(
                "SELECT id, payload, reason, died_at FROM {s}.dead WHERE queue = $1 AND id = $2"
            );
            let rows = self.query(&sql, &[queue, &id]).await?;
            return Ok(rows.first().map(|row| dead(row).1));
        }
        let Ok(id) = key.parse::<i64>() else {
            return Ok(None);
        };
        // One statement, so one snapshot: an entry a claim moves from `delayed` into
        // `entries` meanwhile is in exactly one of the two.
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM (
                 SELECT {FROM_ENTRIES} FROM {s}.entries WHERE queue = $1 AND id = $2
                 UNION ALL
                 SELECT {FROM_DELAYED} FROM {s}.delayed WHERE queue = $1 AND id = $2) AS e
             LIMIT 1"
        );
        let rows = self.query(&sql, &[queue, &id]).await?;
        Ok(rows.first().map(|row| entry(row).1))
    }

    async fn delete(&self, section: Section, keys: &[String]) -> Result<u64, EngineError> {
        let s = quoted(&self.schema);
        let queue = &self.options.queue;
        match section {
            // Its worker will ack, retry or release it: never removed under it.
            Section::InFlight => Ok(0),
            Section::Dead => {
                let ids: Vec<i64> = keys
                    .iter()
                    .filter(|k| k.starts_with(DEAD_PREFIX))
                    .filter_map(|k| dead_id(k))
                    .collect();
                if ids.is_empty() {
                    return Ok(0);
                }
                let sql = format!("DELETE FROM {s}.dead WHERE queue = $1 AND id = ANY($2)");
                self.execute(&sql, &[queue, &ids]).await
            }
            Section::Pending | Section::Scheduled => {
                let ids: Vec<i64> = keys.iter().filter_map(|k| k.parse().ok()).collect();
                if ids.is_empty() {
                    return Ok(0);
                }
                // From both tables in one statement. A row a claim holds locked is waited
                // for, then looked at again as the claim left it: claimed meanwhile, it is no
                // longer in the section (or no longer in `delayed`, and its new row in
                // `entries` is not in this statement's snapshot), and stays with its worker.
                let sql = format!(
                    "WITH ready AS (
                         DELETE FROM {s}.entries
                         WHERE queue = $1 AND id = ANY($2) AND {}
                         RETURNING 1),
                     later AS (
                         DELETE FROM {s}.delayed
                         WHERE queue = $1 AND id = ANY($2) AND {}
                         RETURNING 1)
                     SELECT (SELECT count(*) FROM ready) + (SELECT count(*) FROM later)",
                    section_condition(section),
                    delayed_condition(section)
                );
                let rows = self.query(&sql, &[queue, &ids]).await?;
                Ok(rows
                    .first()
                    .map_or(0, |row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
            }
        }
    }

    async fn run_now(&self, keys: &[String]) -> Result<u64, EngineError> {
        let ids: Vec<i64> = keys.iter().filter_map(|k| k.parse().ok()).collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let s = quoted(&self.schema);
        // A row of `delayed` moves into `entries` itself, due now, under its id (so in its
        // place in the FIFO): claimable at once by any claim, including a busy engine's that
        // moves nothing (`claim.rs`) and a build's of step 4, rather than at the next claim
        // that moves due rows. Taken by its `DELETE`, so a concurrent claim, delete or
        // `run_now` of it finds it gone, never in both tables. Rows of `entries` still flagged
        // `delayed` (step 4), or leases nobody holds (before step 4), are made due in place:
        // the claim's arm for due delayed entries, or its main arm, takes them. The insert
        // runs the trigger that notifies sleeping workers; the explicit notification does so
        // for the rows made due in place as well, in the same statement.
        let sql = format!(
            "WITH later AS (
                 DELETE FROM {s}.delayed
                 WHERE queue = $1 AND id = ANY($2) AND {}
                 RETURNING id, queue, payload, fence, deliveries, enqueued_at),
             landed AS (
                 INSERT INTO {s}.entries
                     (id, queue, payload, available_at, fence, deliveries, enqueued_at)
                 OVERRIDING SYSTEM VALUE
                 SELECT id, queue, payload, now(), fence, deliveries, enqueued_at FROM later
                 RETURNING id),
             in_place AS (
                 UPDATE {s}.entries SET available_at = now(), lease_until = NULL
                 WHERE queue = $1 AND id = ANY($2) AND {}
                 RETURNING id),
             moved AS (SELECT id FROM landed UNION ALL SELECT id FROM in_place)
             SELECT (SELECT count(*) FROM moved),
                    (SELECT pg_notify($3, $1)::text FROM moved LIMIT 1)",
            delayed_condition(Section::Scheduled),
            section_condition(Section::Scheduled)
        );
        let rows = self
            .query(&sql, &[&self.options.queue, &ids, &self.channel])
            .await?;
        let moved = rows
            .first()
            .map_or(0, |row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0));
        if moved > 0 {
            self.arrived.notify_waiters();
        }
        Ok(moved)
    }
}
