//! Group commit of enqueues: the batches of every `enqueue` that waits while an insert runs go
//! into the next `INSERT` together, so concurrent senders share one commit (one WAL flush, one
//! trigger run, one `NOTIFY`) instead of queueing for one each.
//!
//! Queueing is what they would do otherwise: a transaction that notifies takes a database-wide
//! lock at commit and holds it until its commit record is flushed (PostgreSQL orders the
//! notification queue by commit that way), so concurrent notifying inserts commit one flush
//! after another, whatever the pool size. The same design as the SQLite engine's
//! (`engine/sqlite/group_commit.rs`), on a task instead of a blocking thread.
//!
//! An `enqueue` hands its batch to [`GroupCommit::enqueue`] and waits for the answer of the
//! statement that held it. While there is work, one committer task runs: it takes a connection
//! from the pool, *then* everything queued by then, inserts it all with one statement (one
//! implicit transaction, committed at `synchronous_commit` of the server, `on` by default),
//! answers every caller of that group with the statement's result, and looks again. It ends
//! when nothing is queued. Nothing waits on purpose to fill a group: a lone send on an idle
//! engine is inserted at once, alone.
//!
//! What this keeps:
//! - **Durable on return.** A caller is answered only after the statement holding its rows
//!   committed, so `Ok` still means "committed" (at the server's `synchronous_commit=on`:
//!   flushed to the WAL).
//! - **Whole or nothing, for every caller of a group.** A group is one statement: a failure
//!   writes none of it and every caller of that group gets the error. The next group is a
//!   statement of its own, unaffected.
//! - **Cancellation touches nobody else.** The committer is not part of any caller's future. A
//!   caller whose future is dropped after handing its batch over has its rows written (whole)
//!   with the others, just unanswered; one dropped before that wrote nothing.
//! - **Order.** Batches are inserted in the order they were handed over, each one contiguous
//!   (`WITH ORDINALITY` keeps the order in the ids).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use deadpool_postgres::Pool;
use tokio::sync::{oneshot, Notify};

use super::error::{engine_error, pool_error};
use crate::engine::EngineError;

/// The enqueues of one engine, grouped into shared statements.
pub(super) struct GroupCommit {
    pool: Pool,
    /// The engine's enqueue statements: `$1` the queue, `$2` the payloads in order, `$3` their
    /// due times (NULL: ready now); the first for groups of ready entries only, the second for
    /// groups with delayed ones.
    sql: [String; 2],
    queue: String,
    /// The engine's URL, redacted, for errors.
    shown: String,
    /// Told after every successful insert, so this process's waiting claims look at once.
    arrived: Arc<Notify>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Batches handed over and not yet taken by the committer, oldest first.
    waiting: Vec<Request>,
    /// A committer runs and will look at `waiting` again before it ends. Changed only with
    /// `waiting` under the same lock, so a batch is never left without a committer.
    committing: bool,
}

/// One caller's batch and where its answer goes.
struct Request {
    payloads: Vec<Vec<u8>>,
    /// One per payload: when a delayed entry falls due, `None` for a ready one.
    due: Vec<Option<SystemTime>>,
    answer: oneshot::Sender<Result<(), EngineError>>,
}

impl GroupCommit {
    pub(super) fn new(
        pool: Pool,
        sql: [String; 2],
        queue: String,
        shown: String,
        arrived: Arc<Notify>,
    ) -> GroupCommit {
        GroupCommit {
            pool,
            sql,
            queue,
            shown,
            arrived,
            state: Mutex::new(State::default()),
        }
    }

    /// Writes `payloads` as new entries (each due at its `due` time, or now), in one statement
    /// possibly shared with other callers' batches; returns once that statement is committed.
    pub(super) async fn enqueue(
        self: &Arc<Self>,
        payloads: Vec<Vec<u8>>,
        due: Vec<Option<SystemTime>>,
    ) -> Result<(), EngineError> {
        let (answer, answered) = oneshot::channel();
        // No await before this hand-over: from here on the batch belongs to the committer.
        let start = {
            let mut state = lock(&self.state);
            state.waiting.push(Request {
                payloads,
                due,
                answer,
            });
            !std::mem::replace(&mut state.committing, true)
        };
        if start {
            let committer = Committer {
                group: self.clone(),
                running: true,
            };
            tokio::spawn(committer.run());
        }
        answered.await.unwrap_or_else(|_| {
            Err(self.failed(
                "the insert ended without an answer; the signals may or may not be queued".into(),
            ))
        })
    }

    fn failed(&self, message: String) -> EngineError {
        EngineError::Failed {
            engine: self.shown.clone(),
            message,
        }
    }

    /// The batches waiting, taken; `None` (and no committer any more) when there are none.
    fn take(&self) -> Option<Vec<Request>> {
        let mut state = lock(&self.state);
        if state.waiting.is_empty() {
            state.committing = false;
            return None;
        }
        Some(std::mem::take(&mut state.waiting))
    }

    /// One group's statement: every batch in order.
    async fn insert(
        &self,
        client: &deadpool_postgres::Object,
        batches: &[Request],
    ) -> Result<(), EngineError> {
        let payloads: Vec<&[u8]> = batches
            .iter()
            .flat_map(|b| b.payloads.iter().map(Vec::as_slice))
            .collect();
        let due: Vec<Option<SystemTime>> =
            batches.iter().flat_map(|b| b.due.iter().copied()).collect();
        let sql = &self.sql[usize::from(due.iter().any(Option::is_some))];
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| engine_error(&self.shown, &e))?;
        client
            .execute(&statement, &[&self.queue, &payloads, &due])
            .await
            .map_err(|e| engine_error(&self.shown, &e))?;
        Ok(())
    }
}

/// The committer of one engine, a task. Dropped before its end (the runtime shut down, or it
/// panicked), it fails the batches waiting and lets the next `enqueue` start a new committer,
/// so no caller waits for an answer that cannot come.
struct Committer {
    group: Arc<GroupCommit>,
    /// Cleared once `run` ended normally, having cleared `committing` itself.
    running: bool,
}

impl Committer {
    async fn run(mut self) {
        let group = self.group.clone();
        loop {
            // The connection first, then the batches: everything handed over while the previous
            // group ran (or the pool was busy) goes into this statement.
            let client = group.pool.get().await;
            let Some(batches) = group.take() else {
                self.running = false;
                return;
            };
            let result = match client {
                Ok(client) => group.insert(&client, &batches).await,
                Err(e) => Err(pool_error(&group.shown, e)),
            };
            if result.is_ok() {
                // Other processes hear of it through the trigger's NOTIFY.
                group.arrived.notify_waiters();
            }
            for batch in batches {
                // A caller that went away has nobody to tell; its rows share the group's fate.
                let _ = batch.answer.send(result.clone());
            }
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let mut state = lock(&self.group.state);
        let error = self.group.failed(
            "the engine's committer stopped before writing these signals (is the runtime shutting down?); nothing of them was written".into(),
        );
        for batch in state.waiting.drain(..) {
            let _ = batch.answer.send(Err(error.clone()));
        }
        state.committing = false;
    }
}

/// Locks a mutex whose holder may have panicked: the state behind it is only changed by whole
/// assignments, so it stays sound.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
