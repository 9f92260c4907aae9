//! Marking an engine idle, so that inserts notify only while some worker waits.
//!
//! A transaction that sends `NOTIFY` takes a database-wide lock at commit and holds it until its
//! commit record is flushed, so notifying transactions commit one flush after another: every
//! app transaction that used `send_in`, and every group of sends, queued behind the others'
//! flushes. The insert trigger on `entries` therefore notifies only when a row of `sleepers`
//! says a worker of that queue waits. A waiting claim marks its engine there before it sleeps
//! (`mark`), and the first claim that finds work again takes the mark back (`unmark`).
//!
//! No wake-up is lost between a mark and an insert. The trigger takes, per queue, a shared
//! advisory lock held until its transaction ends, before it reads `sleepers`; the mark is made
//! in a statement that first tries the same lock exclusively, and is made only if no inserting
//! transaction holds it. So when the mark is made, every insert either already committed (the
//! claim that follows the mark sees its rows) or has yet to read `sleepers` (and, in the
//! default `READ COMMITTED`, sees the mark: the trigger notifies unconditionally in the
//! stricter isolation levels, whose snapshot may predate the mark). A try that finds the lock
//! held means an insert is about to commit: the claim looks again shortly instead of sleeping.
//! Marks are never waited for by inserts (the try never blocks), and inserts never wait for
//! each other (the lock is shared).
//!
//! The outbox of `send_in` (`outbox/postgres.rs`) uses the same marks for its relays, in its
//! own table `outbox_sleepers` and on its own channel, with the empty string for a queue.
//!
//! A mark lasts [`MARK_FOR`] unless renewed, so the mark of a worker that died stops costing
//! notifications by itself; a claim renews its engine's mark when less than half of it is
//! left. Each mark carries a generation, and an unmark deletes only the generation it saw, so an
//! unmark that runs late never removes a newer mark.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use tokio::sync::Mutex;

use super::error::{engine_error, pool_error};
use super::schema::quoted;
use crate::engine::EngineError;

/// How long a mark lasts on the server.
pub(crate) const MARK_FOR: Duration = Duration::from_secs(10);

/// This engine's (or relay's) mark in `sleepers`, and the statements that write it.
pub(crate) struct Idle {
    /// The lease pool: a lost mark or unmark costs a wake-up at worst, never an entry.
    pool: Pool,
    queue: String,
    /// This engine's row in `sleepers`, random per engine.
    sleeper: String,
    /// The schema's channel, whose hash (with the queue's) is the advisory lock's key.
    channel: String,
    shown: String,
    mark_sql: String,
    unmark_sql: String,
    state: Mutex<State>,
    /// Claims of this engine sleeping on the mark right now.
    sleeping: Arc<AtomicUsize>,
}

#[derive(Default)]
struct State {
    /// The generation of the mark in `sleepers`, and until when (locally, a little early) it
    /// lasts; `None` when not marked.
    mark: Option<(i64, Instant)>,
    /// The last generation written.
    generation: i64,
}

/// A claim sleeping on the mark; the engine keeps its mark while one lives. Dropped when the
/// claim wakes, or when its future is dropped mid-sleep.
pub(crate) struct Sleeping(Arc<AtomicUsize>);

impl Drop for Sleeping {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What [`Idle::before_sleep`] found.
pub(crate) enum Mark {
    /// Marked before: sleep.
    Held(Sleeping),
    /// Marked just now: look once more for entries committed before the mark, then sleep.
    Made,
    /// An insert of the queue is between its trigger and its commit: look again soon rather
    /// than sleep.
    InsertPending,
}

impl Idle {
    /// The mark of a queue's engine, in `SCHEMA.sleepers`.
    pub(super) fn new(pool: Pool, schema: &str, queue: String, shown: String) -> Idle {
        let table = format!("{}.sleepers", quoted(schema));
        Idle::in_table(pool, &table, super::schema::channel(schema), queue, shown)
    }

    /// A mark in `table` (quoted, with its schema) for `queue`, the inserts of which notify
    /// `channel`, whose hash with the queue's is the advisory lock's key.
    pub(crate) fn in_table(
        pool: Pool,
        table: &str,
        channel: String,
        queue: String,
        shown: String,
    ) -> Idle {
        Idle {
            pool,
            queue,
            sleeper: ulid::Ulid::new().to_string(),
            channel,
            shown,
            // One statement, so the lock is held until the mark is committed. Marks of others
            // that ended a minute ago go at the same time (their workers died).
            mark_sql: format!(
                "WITH free AS (SELECT pg_try_advisory_xact_lock(hashtext($3), hashtext($1)) AS ok),
                 stale AS (DELETE FROM {table}
                           WHERE queue = $1 AND sleeper <> $2 AND until < now() - interval '1 minute')
                 INSERT INTO {table} (queue, sleeper, generation, until)
                 SELECT $1, $2, $4, now() + $5::float8 * interval '1 millisecond' FROM free WHERE ok
                 ON CONFLICT (queue, sleeper)
                 DO UPDATE SET generation = excluded.generation, until = excluded.until
                 RETURNING 1"
            ),
            unmark_sql: format!(
                "DELETE FROM {table} WHERE queue = $1 AND sleeper = $2 AND generation = $3"
            ),
            state: Mutex::new(State::default()),
            sleeping: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Called by a claim that found nothing, before it sleeps: makes sure the engine is marked.
    /// On `Held` the caller sleeps while it keeps the [`Sleeping`].
    pub(crate) async fn before_sleep(&self) -> Result<Mark, EngineError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some((_, until)) = state.mark {
            if until > now + MARK_FOR / 2 {
                // Counted under the lock, so `busy` cannot take this mark back meanwhile.
                self.sleeping.fetch_add(1, Ordering::SeqCst);
                return Ok(Mark::Held(Sleeping(self.sleeping.clone())));
            }
        }
        let generation = state.generation + 1;
        state.generation = generation;
        // Timed before the statement: the server's mark, timed after, outlasts this estimate.
        let until = now + MARK_FOR;
        let millis = MARK_FOR.as_secs_f64() * 1000.0;
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| pool_error(&self.shown, e))?;
        let statement = client
            .prepare_cached(&self.mark_sql)
            .await
            .map_err(|e| engine_error(&self.shown, &e))?;
        let rows = client
            .query(
                &statement,
                &[
                    &self.queue,
                    &self.sleeper,
                    &self.channel,
                    &generation,
                    &millis,
                ],
            )
            .await
            .map_err(|e| engine_error(&self.shown, &e))?;
        if rows.is_empty() {
            return Ok(Mark::InsertPending);
        }
        state.mark = Some((generation, until));
        Ok(Mark::Made)
    }

    /// Called by a claim that found entries: takes the mark back when no other claim of this
    /// engine sleeps on it, so that sends stop notifying while the worker is busy. The delete
    /// runs in the background; it is harmless if it fails (the mark expires).
    pub(crate) fn busy(self: &Arc<Self>) {
        // Cheap when not marked, which is the case on the hot path of a busy worker; a claim
        // marking right now is about to sleep, so its mark stays.
        let Ok(mut state) = self.state.try_lock() else {
            return;
        };
        if self.sleeping.load(Ordering::SeqCst) > 0 {
            return;
        }
        let Some((generation, _)) = state.mark.take() else {
            return;
        };
        drop(state);
        let idle = self.clone();
        tokio::spawn(async move {
            if let Err(e) = idle.unmark(generation).await {
                tracing::debug!(engine = %idle.shown, error = %e, "cannot take back the idle mark; it expires by itself");
            }
        });
    }

    async fn unmark(&self, generation: i64) -> Result<(), EngineError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| pool_error(&self.shown, e))?;
        let statement = client
            .prepare_cached(&self.unmark_sql)
            .await
            .map_err(|e| engine_error(&self.shown, &e))?;
        client
            .execute(&statement, &[&self.queue, &self.sleeper, &generation])
            .await
            .map_err(|e| engine_error(&self.shown, &e))?;
        Ok(())
    }
}
