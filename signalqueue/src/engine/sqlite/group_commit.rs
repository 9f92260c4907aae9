//! Group commit of enqueues: the batches of every `enqueue` that waits while a commit runs go
//! into the next transaction together, so concurrent senders share one fsync instead of queueing
//! for one each.
//!
//! An `enqueue` hands its batch to [`GroupCommit::enqueue`] and waits for the answer of the
//! commit that held it. While there is work, one committer runs on a blocking thread: it takes
//! the connection, *then* everything queued by then (so whatever arrived while it waited for the
//! lock goes in), inserts it all in one `BEGIN IMMEDIATE` transaction, commits (the WAL is
//! fsync'ed: `synchronous=FULL`), answers every caller of that group with the commit's result,
//! and looks again. It ends when nothing is queued. Nothing waits on purpose to fill a group: a
//! lone send on an idle engine is committed at once, alone.
//!
//! What this keeps:
//! - **Durable on return.** A caller is answered only after the commit holding its rows
//!   returned, so `Ok` still means "fsync'ed".
//! - **Whole or nothing, for every caller of a group.** A group is one transaction: a failure
//!   rolls all of it back and every caller of that group gets the error; nothing of theirs was
//!   written, so retrying is safe. The next group starts a fresh transaction, unaffected.
//! - **Cancellation touches nobody else.** The committer is not part of any caller's future. A
//!   caller whose future is dropped after handing its batch over has its rows written (whole)
//!   with the others, just unanswered; one dropped before that wrote nothing.
//! - **Order.** Batches are inserted in the order they were handed over, each one contiguous.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection};
use tokio::sync::{oneshot, Notify};

use crate::engine::EngineError;

/// The enqueues of one engine (one connection), grouped into shared commits.
pub(super) struct GroupCommit {
    /// The engine's connection: the committer holds it for the whole of a group's transaction.
    conn: Arc<Mutex<Connection>>,
    /// The queue every row is inserted into.
    queue: String,
    /// For errors: the engine's description and its file.
    describe: String,
    path: PathBuf,
    /// Told after every successful commit, so this process's waiting claims look at once.
    arrived: Arc<Notify>,
    state: Mutex<State>,
    /// How many transactions the committer ran, for the tests to see the grouping.
    #[cfg(test)]
    commits: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct State {
    /// Batches handed over and not yet taken by the committer, oldest first.
    waiting: Vec<Request>,
    /// A committer runs and will look at `waiting` again before it ends. Changed only with
    /// `waiting` under the same lock, so a batch is never left without a committer.
    committing: bool,
}

/// One new row: the payload, and for a delayed send its due time (Unix ms).
pub(super) struct NewEntry {
    pub(super) payload: Vec<u8>,
    pub(super) due_ms: Option<i64>,
}

/// One caller's batch and where its answer goes.
struct Request {
    payloads: Vec<NewEntry>,
    answer: oneshot::Sender<Result<(), EngineError>>,
}

impl GroupCommit {
    pub(super) fn new(
        conn: Arc<Mutex<Connection>>,
        queue: String,
        describe: String,
        path: PathBuf,
        arrived: Arc<Notify>,
    ) -> GroupCommit {
        GroupCommit {
            conn,
            queue,
            describe,
            path,
            arrived,
            state: Mutex::new(State::default()),
            #[cfg(test)]
            commits: Default::default(),
        }
    }

    /// Writes `payloads` as new entries, in one transaction possibly shared with other callers'
    /// batches; returns once that transaction is committed.
    pub(super) async fn enqueue(
        self: &Arc<Self>,
        payloads: Vec<NewEntry>,
    ) -> Result<(), EngineError> {
        let (answer, answered) = oneshot::channel();
        // No await before this hand-over: from here on the batch belongs to the committer.
        let start = {
            let mut state = lock(&self.state);
            state.waiting.push(Request { payloads, answer });
            !std::mem::replace(&mut state.committing, true)
        };
        if start {
            let committer = Committer {
                group: self.clone(),
                running: true,
            };
            tokio::task::spawn_blocking(move || committer.run());
        }
        answered
            .await
            .unwrap_or_else(|_| Err(self.failed("the commit ended without an answer".to_string())))
    }

    fn failed(&self, message: String) -> EngineError {
        EngineError::Failed {
            engine: self.describe.clone(),
            message,
        }
    }

    /// How many transactions the committer ran so far.
    #[cfg(test)]
    pub(super) fn commits(&self) -> usize {
        self.commits.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many batches wait for the committer to take them.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        lock(&self.state).waiting.len()
    }
}

/// The committer of one engine, on a blocking thread. Dropped without having run to its end
/// (the runtime shut down before the blocking task started), it fails the batches waiting and
/// lets the next `enqueue` start a new committer, so no caller waits for an answer that cannot
/// come.
struct Committer {
    group: Arc<GroupCommit>,
    /// Cleared once `run` ended normally, having cleared `committing` itself.
    running: bool,
}

impl Committer {
    fn run(mut self) {
        let group = self.group.clone();
        loop {
            // The connection first, then the batches: everything handed over while the previous
            // group (or a claim, an ack...) held the connection goes into this transaction.
            let mut conn = lock(&group.conn);
            let batches = {
                let mut state = lock(&group.state);
                if state.waiting.is_empty() {
                    state.committing = false;
                    self.running = false;
                    return;
                }
                std::mem::take(&mut state.waiting)
            };
            // A panic rolled the transaction back (rusqlite rolls back on drop); it is answered
            // as this group's error, and the committer goes on with the next group.
            let written = std::panic::catch_unwind(AssertUnwindSafe(|| {
                insert_and_commit(&mut conn, &group.queue, &batches)
            }));
            drop(conn);
            #[cfg(test)]
            group
                .commits
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let result = match written {
                Ok(Ok(())) => {
                    group.arrived.notify_waiters();
                    Ok(())
                }
                Ok(Err(e)) => Err(super::engine_error(&group.describe, &group.path, e)),
                Err(panic) => Err(group.failed(format!(
                    "writing the batch panicked: {}",
                    crate::dispatch::panic_message(panic.as_ref())
                ))),
            };
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
        let error = self
            .group
            .failed("the engine's committer did not run (is the runtime shutting down?)".into());
        for batch in state.waiting.drain(..) {
            let _ = batch.answer.send(Err(error.clone()));
        }
        state.committing = false;
    }
}

/// One group's transaction: every batch in order, then the commit (which returns after the
/// fsync of the write-ahead log).
fn insert_and_commit(
    conn: &mut Connection,
    queue: &str,
    batches: &[Request],
) -> rusqlite::Result<()> {
    let tx = super::begin(conn, super::Commit::Fsync)?;
    let now = super::now_ms();
    for entry in batches.iter().flat_map(|b| &b.payloads) {
        insert_entry(&tx, queue, entry, now)?;
    }
    tx.commit()
}

/// Inserts one entry into the transaction `tx` (at `now`, Unix ms): ready, or delayed.
pub(super) fn insert_entry(
    tx: &rusqlite::Transaction<'_>,
    queue: &str,
    entry: &NewEntry,
    now: i64,
) -> rusqlite::Result<()> {
    match entry.due_ms {
        None => tx
            .prepare_cached(
                "INSERT INTO entries (queue, payload, available_at, enqueued_at)
                 VALUES (?1, ?2, 0, ?3)",
            )?
            .execute(params![queue, entry.payload, now])?,
        // A delayed entry is a lease nobody holds (fence 0) ending at its due time: it sits in
        // `entries_leased` by time, out of the way of the claim's walk of ready ids, and the
        // claim's arm for ended leases takes it when due. See `MIGRATIONS`, step 2.
        Some(due) => tx
            .prepare_cached(
                "INSERT INTO entries (queue, payload, available_at, lease_until, enqueued_at)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
            )?
            .execute(params![queue, entry.payload, due, now])?,
    };
    Ok(())
}

/// Locks a mutex whose holder may have panicked: the data behind these stays sound (a panicking
/// transaction was rolled back; the state is only changed by whole assignments).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::engine::sqlite::SqliteEngine;
    use crate::engine::{Engine, EngineOptions, EngineUrl, Outgoing};
    use crate::EnvelopeId;

    async fn engine(dir: &tempfile::TempDir) -> SqliteEngine {
        let url = EngineUrl::parse(&format!(
            "sqlite://{}",
            dir.path().join("group.db").display()
        ))
        .expect("url");
        SqliteEngine::open(&url, EngineOptions::new("default"))
            .await
            .expect("open")
    }

    fn batch(prefix: &str, n: usize) -> Vec<Outgoing> {
        (0..n)
            .map(|i| Outgoing::new(EnvelopeId::new(), format!("{prefix}-{i}").into_bytes()))
            .collect()
    }

    /// Holds the engine's connection on a thread of its own until the returned sender is
    /// dropped or sent to, as a long transaction would: enqueues made meanwhile pile up.
    fn hold_connection(engine: &SqliteEngine) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let conn = engine.conn.clone();
        let (locked_tx, locked) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _held = lock(&conn);
            locked_tx.send(()).expect("the test waits");
            let _ = released.recv();
        });
        locked.recv().expect("the holder locked the connection");
        (release, holder)
    }

    /// Waits until `n` batches were handed to the committer.
    async fn until_waiting(engine: &SqliteEngine, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while engine.group.waiting() < n {
            assert!(Instant::now() < deadline, "the enqueues never got queued");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn payloads(engine: &SqliteEngine) -> Vec<String> {
        let mut got: Vec<String> = engine
            .pending(100_000)
            .await
            .expect("pending")
            .into_iter()
            .map(|e| String::from_utf8(e.payload).expect("utf-8"))
            .collect();
        got.sort();
        got
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enqueues_waiting_for_the_connection_share_one_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(engine(&dir).await);
        let (release, holder) = hold_connection(&engine);
        let mut sends = tokio::task::JoinSet::new();
        for t in 0..64 {
            let engine = engine.clone();
            sends.spawn(async move { engine.enqueue(&batch(&format!("t{t:02}"), 3)).await });
        }
        until_waiting(&engine, 64).await;
        assert_eq!(engine.group.commits(), 0);
        drop(release);
        holder.join().expect("holder");
        while let Some(sent) = sends.join_next().await {
            sent.expect("task").expect("enqueue");
        }
        assert_eq!(
            engine.group.commits(),
            1,
            "64 enqueues that waited together are one transaction"
        );
        let mut expected: Vec<String> = (0..64)
            .flat_map(|t| (0..3).map(move |i| format!("t{t:02}-{i}")))
            .collect();
        expected.sort();
        assert_eq!(payloads(&engine).await, expected, "every row once");

        // Each batch stays contiguous and in its own order inside the group.
        let in_order: Vec<String> = engine
            .pending(1000)
            .await
            .expect("pending")
            .into_iter()
            .map(|e| String::from_utf8(e.payload).expect("utf-8"))
            .collect();
        for chunk in in_order.chunks(3) {
            let prefix = chunk[0].split('-').next().expect("prefix");
            let want: Vec<String> = (0..3).map(|i| format!("{prefix}-{i}")).collect();
            assert_eq!(chunk, want, "a batch was split or reordered");
        }

        // Nothing waits to fill a group: a lone send afterwards is a transaction of its own.
        engine.enqueue(&batch("alone", 1)).await.expect("enqueue");
        assert_eq!(engine.group.commits(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_group_fails_each_of_its_callers_and_not_the_next_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(engine(&dir).await);
        // A row the database refuses, as a full disk or a constraint would: its whole
        // transaction rolls back.
        let other = super::super::open_connection(&engine.path).expect("open");
        other
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON entries WHEN CAST(NEW.payload AS TEXT) = 'poison-0'
                 BEGIN SELECT RAISE(ABORT, 'poison refused'); END;",
            )
            .expect("trigger");

        let (release, holder) = hold_connection(&engine);
        let mut sends = tokio::task::JoinSet::new();
        for prefix in ["before", "poison", "after"] {
            let engine = engine.clone();
            sends.spawn(async move { engine.enqueue(&batch(prefix, 2)).await });
        }
        until_waiting(&engine, 3).await;
        drop(release);
        holder.join().expect("holder");
        while let Some(sent) = sends.join_next().await {
            let err = sent.expect("task").expect_err("the group failed");
            assert!(err.to_string().contains("poison refused"), "{err}");
        }
        assert_eq!(engine.group.commits(), 1);
        assert!(
            payloads(&engine).await.is_empty(),
            "a failed group wrote nothing"
        );

        engine.enqueue(&batch("later", 2)).await.expect("enqueue");
        assert_eq!(payloads(&engine).await, ["later-0", "later-1"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_enqueue_leaves_the_others_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Arc::new(engine(&dir).await);

        // Dropped before it ran at all: it handed nothing over.
        drop(engine.enqueue(&batch("never", 2)));

        let (release, holder) = hold_connection(&engine);
        let mut sends = Vec::new();
        for prefix in ["a", "b", "c"] {
            let sender = engine.clone();
            sends.push(tokio::spawn(async move {
                sender.enqueue(&batch(prefix, 2)).await
            }));
            // One at a time, so that the batches are handed over in this order.
            until_waiting(&engine, sends.len()).await;
        }
        // The caller of `b` goes away while its batch waits in the group.
        sends[1].abort();
        let aborted = (&mut sends[1]).await.expect_err("aborted");
        assert!(aborted.is_cancelled());
        drop(release);
        holder.join().expect("holder");
        sends.remove(1);
        for send in sends {
            send.await.expect("task").expect("enqueue");
        }
        assert_eq!(engine.group.commits(), 1);
        // `b` was handed over whole before its caller left, so it is written whole.
        assert_eq!(
            payloads(&engine).await,
            ["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]
        );
    }
}
