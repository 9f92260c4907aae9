//! `sqlite://PATH`: the embedded default engine, one file on one machine, no server.
//!
//! `sqlite://q.db` is the relative path `q.db` (relative to the working directory), and
//! `sqlite:///var/lib/app/q.db` the absolute path `/var/lib/app/q.db` (the third slash starts
//! the path). The file and its schema are created on first open; the directory must exist.
//!
//! Durability: the database runs in WAL mode, and once [`Engine::enqueue`] returns the signals
//! are in the write-ahead log and fsync'ed (`synchronous=FULL` for that commit): they survive a
//! crash of the process and a power loss (as far as the disk honours fsync). Retries, dead
//! letters, purges and replays are fsync'ed the same way. Claims, renewals, acks and releases
//! are written to the log without waiting for the disk (`synchronous=NORMAL`): they survive a
//! crash of any process at once, and a power loss once anything later is fsync'ed; a power loss
//! just after them can only make those signals claimable again (at least once, as always).
//!
//! Group commit: enqueues made at the same time through one engine share a transaction, so 64
//! tasks sending at once cost a few fsyncs rather than 64. A batch is never split, nothing waits
//! to fill a group, and every caller is answered after the commit holding its rows, with that
//! commit's result (see `group_commit.rs`).
//!
//! Sharing: a web process and a worker process on one machine open the same file. SQLite
//! serialises writers; every write is one short `BEGIN IMMEDIATE` transaction and connections
//! wait up to [`BUSY_TIMEOUT`] for the lock, so processes sharing a file do not see "database is
//! locked" errors in normal use. A waiting connection tries the lock again every 200 µs
//! (`busy.rs`), so it finds the gaps between the commits of senders that never pause.
//!
//! Connections: an engine has three, each behind its own mutex. Lease renewals have one of
//! their own, and acknowledgements (and releases) another: a renewal never queues behind a
//! claim, an acknowledgement batch or a group of sends that waits for the file's lock, so it
//! waits for that lock only, and a lease does not run out while its worker is alive. The third
//! takes everything else (sends, claims, retries, dead letters, the admin reads and writes).
//!
//! Waiting: a claim that finds nothing waits for one of three things, then looks again. An
//! enqueue (or release, retry, replay) made by this process wakes it at once. A commit by any
//! other connection to the file, another process's enqueue for one, is noticed within
//! `WATCH_INTERVAL` (5 ms): the claim asks `PRAGMA data_version`, which changes when another
//! connection commits and is read from SQLite's shared-memory index, without disk I/O and
//! without waiting for writers. And a retry falling due or a lease running out changes nothing
//! in the file, so a look that finds nothing also reads when the queue's next entry is due, and
//! the claim looks again then; and at least every `EngineOptions::poll_interval` regardless
//! (drawn between half of it and all of it, so workers on one file do not look in step). A
//! commit that brought nothing for this queue (another queue's entries, another worker's acks)
//! costs one look that finds nothing and writes nothing.
//!
//! Layout (see `docs/engines.md`): the table `entries` holds the entries of every queue in the
//! file (column `queue`), in insertion order (`id`); `dead` holds dead letters. Ids come from
//! `AUTOINCREMENT`, so an id is never reused, and a claim token (id, fence) can never match a
//! later entry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, TransactionBehavior};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use crate::engine::{
    consumer_id, unix_ms, ClaimToken, Claimed, Colocation, Counts, DeadEntry, DeadLetter, Engine,
    EngineError, EngineOptions, EngineUrl, Entry, Outgoing, SharedEngine,
};
use crate::error::Error;

use self::group_commit::GroupCommit;

mod browse;
mod busy;
mod group_commit;
mod heartbeats;
mod ticks;

/// How long a connection waits for another connection's write lock before giving up. Writes are
/// short (a batch of inserts, a claim), so waiting this long means something is wrong: a process
/// holding a transaction open, or a disk that stopped answering.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// How often a claim waiting on an empty queue asks whether another connection committed to the
/// file (`PRAGMA data_version`). Short, so that a signal sent by another process is picked up
/// within a few milliseconds; each look is a read of SQLite's shared-memory index, no disk I/O,
/// so an idle worker spends well under 1% of one core on it (about 0.7% measured on a 2-core VM,
/// nearly all of it the wake-ups themselves; a longer interval costs proportionally less).
const WATCH_INTERVAL: Duration = Duration::from_millis(5);

/// The schema, one step per version; `PRAGMA user_version` records how many were applied. A
/// new version appends a step (never edits one), so old files upgrade on open.
const MIGRATIONS: &[&str] = &[
    // Version 1.
    "
    CREATE TABLE entries (
        -- AUTOINCREMENT: ids are never reused, so a stale claim token never matches a new entry.
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        queue        TEXT    NOT NULL,
        payload      BLOB    NOT NULL,
        -- Unix ms from which the entry may be claimed (a retry's `not_before`), when not leased.
        available_at INTEGER NOT NULL,
        -- Unix ms at which the current lease ends; NULL when nobody holds the entry.
        lease_until  INTEGER,
        -- Bumped at every claim; a token must present the current one.
        fence        INTEGER NOT NULL DEFAULT 0,
        deliveries   INTEGER NOT NULL DEFAULT 0,
        enqueued_at  INTEGER NOT NULL
    );
    -- The claim query walks one queue in insertion order and filters on the lease and time
    -- columns: covering them means it never touches the table for rows it skips. `counts` and
    -- `pending` use the same index.
    CREATE INDEX entries_claim ON entries (queue, id, lease_until, available_at);
    CREATE TABLE dead (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        queue   TEXT    NOT NULL,
        payload BLOB    NOT NULL,
        reason  TEXT    NOT NULL,
        died_at INTEGER NOT NULL
    );
    CREATE INDEX dead_by_queue ON dead (queue, id);
    CREATE INDEX dead_by_age ON dead (queue, died_at);
    ",
    // Version 2: delayed sends. A delayed entry is stored as a lease nobody holds (fence 0)
    // ending at its due time. `entries_claim` walks every row of a queue in id order, so a
    // million delayed entries in front of the ready ones would be walked past at every claim;
    // these two partial indexes split the rows the claim looks at: unleased ones by id (only
    // retries wait among them, and there are as many as failures), leased ones by lease end
    // (the claim reads only those that ended; delayed entries not yet due are never read).
    "
    -- `lease_until` is always NULL in `entries_ready`, but SQLite reads the table for a column
    -- of the WHERE clause that the index does not hold, even one its condition fixes.
    CREATE INDEX entries_ready ON entries (queue, id, available_at, lease_until)
        WHERE lease_until IS NULL;
    CREATE INDEX entries_leased ON entries (queue, lease_until, fence)
        WHERE lease_until IS NOT NULL;
    DROP INDEX entries_claim;
    ",
    // Version 3: the ticks of periodic signals enqueued (`ticks.rs`), so that each is enqueued
    // once. Bounded: the latest `TICKS_KEPT` of each schedule.
    "
    CREATE TABLE ticks (
        queue    TEXT    NOT NULL,
        schedule TEXT    NOT NULL,
        -- Unix ms.
        tick     INTEGER NOT NULL,
        PRIMARY KEY (queue, schedule, tick)
    ) WITHOUT ROWID;
    ",
    // Version 4: the heartbeats of the workers serving each queue (`heartbeats.rs`), for the
    // console's workers view. A row per live worker, dropped once expired.
    "
    CREATE TABLE workers (
        queue      TEXT    NOT NULL,
        worker     TEXT    NOT NULL,
        info       BLOB    NOT NULL,
        -- Unix ms.
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (queue, worker)
    ) WITHOUT ROWID;
    ",
    // Version 5: browsing (`browse.rs`). A claim records who made it and when, next to its
    // lease; both stay as they were once the lease ends (they mean something only while the
    // lease runs). `entries_retrying` lists retries waiting for their time by due time, for
    // the console's scheduled page: only entries that were claimed and put back (a retry or a
    // release) are in it, so a send, a claim and an ack never touch it.
    "
    ALTER TABLE entries ADD COLUMN claimed_by TEXT;
    ALTER TABLE entries ADD COLUMN claimed_at INTEGER;
    CREATE INDEX entries_retrying ON entries (queue, available_at)
        WHERE lease_until IS NULL AND fence > 0;
    ",
];

/// The schema version this build writes.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The SQLite engine. Open one with [`open`](crate::engine::open) and a `sqlite://PATH` URL.
pub struct SqliteEngine {
    /// `sqlite://PATH` as configured.
    describe: String,
    /// The file, absolute, for error messages.
    path: PathBuf,
    options: EngineOptions,
    /// Sends, claims, retries, dead letters and the admin calls. SQLite has one writer at a
    /// time anyway, and reads are short. A std mutex, because it is only ever locked on a
    /// blocking thread (as the two below).
    conn: Arc<Mutex<Connection>>,
    /// Lease renewals only: a renewal waits for the file's lock and for nothing else, not for
    /// another call of this engine that waits for it too (see the module docs).
    renewals: Arc<Mutex<Connection>>,
    /// Wakes this process's waiting claims when this process adds claimable entries.
    arrived: Arc<Notify>,
    /// Concurrent enqueues share one transaction (one fsync) per group.
    group: Arc<GroupCommit>,
}

/// The file path a `sqlite://` URL names: everything after `sqlite://`, as written.
pub(crate) fn url_path(url: &EngineUrl) -> PathBuf {
    PathBuf::from(&url.rest)
}

/// Opens (creating if needed) the SQLite engine at the URL's path.
pub(crate) async fn open(url: &EngineUrl, options: EngineOptions) -> Result<SharedEngine, Error> {
    Ok(Arc::new(SqliteEngine::open(url, options).await?))
}

impl SqliteEngine {
    /// Opens the file at the URL's path, creating the file and its schema if needed.
    pub(crate) async fn open(url: &EngineUrl, options: EngineOptions) -> Result<Self, Error> {
        let written = url_path(url);
        let describe = format!("sqlite://{}", written.display());
        let path = std::path::absolute(&written).unwrap_or_else(|_| written.clone());
        let config_error = |message: String| Error::Config {
            origin: format!("queue `{}` (`{describe}`)", options.queue),
            message,
        };

        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if dir.exists() && !dir.is_dir() {
                return Err(config_error(format!(
                    "`{}` is a file, not a directory, so the queue's file cannot be inside it; point the URL at a path in a directory",
                    dir.display()
                )));
            }
            if !dir.is_dir() {
                return Err(config_error(format!(
                    "the directory `{}` does not exist; create it, or point the URL at a file in an existing directory",
                    dir.display()
                )));
            }
        }
        if path.is_dir() {
            return Err(config_error(format!(
                "`{}` is a directory; the URL names the queue's file, e.g. `sqlite://{}/signalqueue.db`",
                path.display(),
                written.display()
            )));
        }

        let (conn, renewals, path) = {
            let describe = describe.clone();
            tokio::task::spawn_blocking(move || {
                let failed = |e| engine_error(&describe, &path, e);
                let conn = open_connection(&path).map_err(failed)?;
                // The schema is there now: the others only connect.
                let renewals = connect(&path).map_err(failed)?;
                // The same file reached by two spellings must share one wake-up.
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                Ok::<_, EngineError>((conn, renewals, path))
            })
            .await
            .map_err(|e| config_error(format!("opening the file panicked: {e}")))?
            .map_err(|e| match e {
                EngineError::Unavailable { .. } => Error::Engine(e),
                EngineError::Failed { message, .. } => config_error(message),
            })?
        };

        let arrived = notifier(&path, &options.queue);
        let conn = Arc::new(Mutex::new(conn));
        let group = Arc::new(GroupCommit::new(
            conn.clone(),
            options.queue.clone(),
            describe.clone(),
            path.clone(),
            arrived.clone(),
        ));
        Ok(SqliteEngine {
            describe,
            path,
            options,
            conn,
            renewals: Arc::new(Mutex::new(renewals)),
            arrived,
            group,
        })
    }

    /// Runs `work` on a blocking thread with the main connection, mapping SQLite's errors to
    /// ones that say what to do.
    async fn run<T, F>(&self, work: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.run_on(&self.conn, work).await
    }

    /// [`run`](Self::run) on connection `conn` (one of the engine's three).
    async fn run_on<T, F>(&self, conn: &Arc<Mutex<Connection>>, work: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = conn.clone();
        let result = tokio::task::spawn_blocking(move || {
            // A panic inside `work` rolled its transaction back (rusqlite rolls back on drop),
            // so the connection is still sound.
            let mut conn: MutexGuard<'_, Connection> =
                conn.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut conn)
        })
        .await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(engine_error(&self.describe, &self.path, e)),
            Err(e) => Err(EngineError::Failed {
                engine: self.describe.clone(),
                message: format!("a blocking SQLite call failed: {e}"),
            }),
        }
    }

    /// One attempt to claim up to `max` ready entries. Also returns the file's data version as it
    /// was just before the attempt (a later one that differs means another connection committed
    /// since, maybe adding entries this attempt did not see) and, when it found nothing, when
    /// the queue's next entry falls due (a retry, a delayed send, a lease), in Unix ms.
    async fn claim_now(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<Claimed>, i64, Option<i64>), EngineError> {
        let queue = self.options.queue.clone();
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let lease = duration_ms(lease);
        self.run(move |conn| {
            // Before the transaction, not after: a commit between the two is then seen both by
            // this attempt and as a change (one needless look), never by neither.
            let version = data_version(conn)?;
            let tx = begin(conn, Commit::Deferred)?;
            // Taken after BEGIN IMMEDIATE: the lock may have taken a while to get.
            let now = now_ms();
            let mut claimed = {
                let mut stmt = tx.prepare_cached(
                    "UPDATE entries
                     SET lease_until = ?3 + ?4, fence = fence + 1, deliveries = deliveries + 1,
                         claimed_by = ?5, claimed_at = ?3
                     WHERE id IN (
                         SELECT id FROM (
                             SELECT id FROM entries
                             WHERE queue = ?1 AND lease_until IS NULL AND available_at <= ?3
                             ORDER BY id LIMIT ?2)
                         UNION ALL
                         SELECT id FROM (
                             SELECT id FROM entries
                             WHERE queue = ?1 AND lease_until IS NOT NULL AND lease_until <= ?3
                             ORDER BY lease_until LIMIT ?2)
                         ORDER BY id
                         LIMIT ?2)
                     RETURNING id, fence, deliveries, payload",
                )?;
                let rows =
                    stmt.query_map(params![queue, max, now, lease, consumer_id()], |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            Claimed {
                                token: ClaimToken {
                                    key: row.get::<_, i64>(0)?.to_string(),
                                    fence: row.get::<_, i64>(1)? as u64,
                                },
                                deliveries: u32::try_from(row.get::<_, i64>(2)?)
                                    .unwrap_or(u32::MAX),
                                payload: row.get(3)?,
                            },
                        ))
                    })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            // Nothing ready: when something will be, so the claim sleeps until then rather
            // than finding it at a later look. Both arms are the first row of an index.
            let next_due = if claimed.is_empty() {
                tx.prepare_cached(
                    "SELECT MIN(due) FROM (
                         SELECT MIN(lease_until) AS due FROM entries
                         WHERE queue = ?1 AND lease_until IS NOT NULL
                         UNION ALL
                         SELECT MIN(available_at) FROM entries
                         WHERE queue = ?1 AND lease_until IS NULL AND fence > 0
                             AND available_at > ?2)",
                )?
                .query_row(params![queue, now], |row| row.get::<_, Option<i64>>(0))?
            } else {
                None
            };
            tx.commit()?;
            // RETURNING gives no order; the contract says oldest first.
            claimed.sort_by_key(|(id, _)| *id);
            Ok((
                claimed.into_iter().map(|(_, c)| c).collect(),
                version,
                next_due,
            ))
        })
        .await
    }

    /// Waits until this process says entries arrived (`arrived`), another connection committed
    /// to the file since it was at `version`, or `until`, whichever comes first.
    async fn wait_for_change(
        &self,
        version: i64,
        until: Instant,
        arrived: Notified<'_>,
    ) -> Result<(), EngineError> {
        tokio::pin!(arrived);
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            let nap = (until - now).min(WATCH_INTERVAL);
            if tokio::time::timeout(nap, arrived.as_mut()).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= until || self.changed_since(version).await? {
                return Ok(());
            }
        }
    }

    /// Whether another connection committed to the file since it was at `version`.
    ///
    /// Asked every [`WATCH_INTERVAL`] while a claim waits, so when the connection is free it is
    /// asked right here rather than on a blocking thread: handing each look to the blocking pool
    /// and back (two more thread wake-ups) about doubled what an idle worker spent on watching,
    /// measured. With the busy handler off the look cannot wait (in WAL mode a reader only reads the
    /// shared-memory index); should SQLite answer "busy" (another process recovering the file),
    /// the answer is "changed", and the claim that follows waits on a blocking thread as every
    /// call does. When another call of this engine holds the connection, the look waits its turn
    /// on a blocking thread too.
    async fn changed_since(&self, version: i64) -> Result<bool, EngineError> {
        let looked = match self.conn.try_lock() {
            Ok(mut conn) => Some(data_version_without_waiting(&mut conn)),
            Err(TryLockError::Poisoned(e)) => {
                Some(data_version_without_waiting(&mut e.into_inner()))
            }
            Err(TryLockError::WouldBlock) => None,
        };
        let now = match looked {
            Some(Err(rusqlite::Error::SqliteFailure(failure, _)))
                if failure.code == ErrorCode::DatabaseBusy =>
            {
                return Ok(true);
            }
            Some(now) => now.map_err(|e| engine_error(&self.describe, &self.path, e))?,
            None => self.run(data_version).await?,
        };
        Ok(now != version)
    }

    /// How long a waiting claim goes without looking, at most: the poll interval, drawn at
    /// random between half of it and all of it each time. Workers sharing a file would otherwise
    /// look in step, and one that just gave an entry back (an older release, in a rolling deploy)
    /// claims again a moment before the others: in step, it would be first to look at every due
    /// time, and win the entry back each time while the worker that can run it never saw it.
    fn poll_nap(&self) -> Duration {
        // A zero interval would spin on the file.
        let poll = self.options.poll_interval.max(Duration::from_millis(1));
        let whole = u64::try_from(poll.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::random_range(whole / 2..=whole))
    }

    /// Deletes dead letters beyond `dead_max` and older than `dead_ttl`.
    fn trim_dead(
        tx: &rusqlite::Transaction<'_>,
        queue: &str,
        options: &EngineOptions,
    ) -> rusqlite::Result<()> {
        let cutoff = now_ms().saturating_sub(duration_ms(options.dead_ttl));
        tx.prepare_cached("DELETE FROM dead WHERE queue = ?1 AND died_at < ?2")?
            .execute(params![queue, cutoff])?;
        let keep = i64::try_from(options.dead_max).unwrap_or(i64::MAX);
        tx.prepare_cached(
            "DELETE FROM dead WHERE queue = ?1 AND id <= (
                 SELECT id FROM dead WHERE queue = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )?
        .execute(params![queue, keep])?;
        Ok(())
    }
}

/// `PRAGMA data_version`: changes whenever another connection, of this process or another,
/// commits to the file; this connection's own commits leave it as it is. In WAL mode it reads
/// the shared-memory index (readers never wait for a writer), so it is cheap to ask often.
fn data_version(conn: &mut Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |row| row.get(0))
}

/// [`data_version`] with the busy handler off, so that it returns "busy" rather than waiting.
fn data_version_without_waiting(conn: &mut Connection) -> rusqlite::Result<i64> {
    busy::do_not_wait(conn)?;
    let version = data_version(conn);
    busy::wait_for_locks(conn)?;
    version
}

/// Opens a connection, sets it up and brings the schema to [`SCHEMA_VERSION`].
fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = connect(path)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens a connection to a file whose schema is up to date, and sets it up.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    // No URI interpretation: the path is a path, whatever characters it has.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    busy::wait_for_locks(&conn)?;
    // WAL: readers never block the writer, and a commit is one append + fsync to the log.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            path = %path.display(),
            journal_mode = %mode,
            "SQLite could not switch to WAL mode (is the file on a network filesystem?); \
             processes sharing it will block each other more"
        );
    }
    // FULL until a transaction says otherwise (see `Commit`): fsync the log at every commit.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Acked entries leave free pages and a WAL that grew under load; cap what it keeps after a
    // checkpoint so the files do not hold on to a burst forever.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(conn)
}

/// How a transaction's commit reaches the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Commit {
    /// Fsync the write-ahead log at commit (`synchronous=FULL`): the change survives a power
    /// loss once the call returns. For what a caller was promised: sends, retries (their new
    /// payload and due time), dead letters, purges, replays, the schema.
    Fsync,
    /// Append to the write-ahead log without waiting for the disk (`synchronous=NORMAL`): the
    /// change survives a crash of any process at once, and a power loss once anything later is
    /// fsync'ed (the log is one file, synced whole, in order) or checkpointed. For claims,
    /// renewals, acks and releases: a power loss that undoes the last of them only makes those
    /// signals claimable again, which is the at-least-once delivery every engine has anyway.
    /// They are most of a drain's commits; not waiting for the disk made `sq-bench`'s SQLite
    /// drain about 40% faster at the default concurrency (56k to 79k signals/s).
    Deferred,
}

/// Begins a write transaction (`BEGIN IMMEDIATE`: the write lock now, so it never fails
/// half-way for want of it) whose commit is `commit`. The setting is per connection, so every
/// transaction sets its own: one left over from the previous never decides.
pub(super) fn begin(
    conn: &mut Connection,
    commit: Commit,
) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    let level = match commit {
        Commit::Fsync => "FULL",
        Commit::Deferred => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", level)?;
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

/// Applies the schema steps the file lacks, in one transaction, so two processes opening a new
/// file at once do not both create it.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = begin(conn, Commit::Fsync)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!(
                "the file has signalqueue schema version {version}, newer than this build understands ({SCHEMA_VERSION}); upgrade signalqueue in this program"
            )),
        ));
    }
    let applied = usize::try_from(version).unwrap_or(0);
    for step in &MIGRATIONS[applied..] {
        tx.execute_batch(step)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()
}

/// The process-wide wake-up for one queue of one file, so that two engines opened on the same
/// file in one process (a sender and an embedded worker) wake each other.
fn notifier(path: &Path, queue: &str) -> Arc<Notify> {
    /// By (canonical file path, queue name). Entries are never removed: one small `Notify` per
    /// queue a process ever opened.
    type Notifiers = HashMap<(PathBuf, String), Arc<Notify>>;
    static ALL: OnceLock<Mutex<Notifiers>> = OnceLock::new();
    let mut all = ALL
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    all.entry((path.to_path_buf(), queue.to_string()))
        .or_default()
        .clone()
}

/// Milliseconds since the Unix epoch, as SQLite stores them.
fn now_ms() -> i64 {
    i64::try_from(unix_ms(SystemTime::now())).unwrap_or(i64::MAX)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Tokens as (row id, fence); a key that is not a row id cannot match any row.
fn parse_token(token: &ClaimToken) -> Option<(i64, i64)> {
    // Fence 0 is never a claim's (the first claim makes it 1): it marks a delayed entry's
    // lease that nobody holds, which no token may finish.
    if token.fence == 0 {
        return None;
    }
    Some((token.key.parse().ok()?, i64::try_from(token.fence).ok()?))
}

/// Says what went wrong with the file and what to do about it.
fn engine_error(describe: &str, path: &Path, e: rusqlite::Error) -> EngineError {
    let path = path.display();
    let failed = |message: String| EngineError::Failed {
        engine: describe.to_string(),
        message,
    };
    let rusqlite::Error::SqliteFailure(failure, detail) = &e else {
        return failed(e.to_string());
    };
    let detail = detail.clone().unwrap_or_else(|| failure.to_string());
    match failure.code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => EngineError::Unavailable {
            engine: describe.to_string(),
            message: format!(
                "`{path}` stayed locked by another connection for more than {}s ({detail}); retry, and look for a process holding a long transaction on it",
                BUSY_TIMEOUT.as_secs()
            ),
        },
        ErrorCode::CannotOpen => failed(format!(
            "cannot open `{path}` ({detail}); check that the directory exists and that this process may create and write files in it"
        )),
        ErrorCode::ReadOnly | ErrorCode::PermissionDenied => failed(format!(
            "`{path}` is not writable by this process ({detail}); give this user write access to the file and its directory (SQLite creates `-wal` and `-shm` files beside it)"
        )),
        ErrorCode::DiskFull => failed(format!(
            "the disk holding `{path}` is full ({detail}); free space, then retry"
        )),
        ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => failed(format!(
            "`{path}` is not a usable SQLite database ({detail}); point the queue URL at a new file, or restore this one from a backup"
        )),
        ErrorCode::SystemIoFailure => EngineError::Unavailable {
            engine: describe.to_string(),
            message: format!(
                "reading or writing `{path}` failed ({detail}); check the disk and the file system"
            ),
        },
        _ => failed(format!("`{path}`: {detail}")),
    }
}

#[async_trait]
impl Engine for SqliteEngine {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn colocation(&self) -> Option<Colocation> {
        Some(Colocation::Sqlite {
            path: self.path.clone(),
        })
    }

    fn ticks(&self) -> Option<&dyn crate::engine::Ticks> {
        Some(self)
    }

    fn heartbeats(&self) -> Option<&dyn crate::engine::Heartbeats> {
        Some(self)
    }

    fn browse(&self) -> Option<&dyn crate::engine::Browse> {
        Some(self)
    }

    async fn ping(&self) -> Result<(), EngineError> {
        // Reads the schema: fails if the file went away under us or became unreadable. A file
        // this process may read but not write opens read-only without complaint (and even
        // `BEGIN IMMEDIATE` succeeds on it): the first claim would fail, so `check` and a
        // worker's start must say so now.
        self.run(|conn| {
            conn.query_row("PRAGMA user_version", [], |_| Ok(()))?;
            if conn.is_readonly(rusqlite::MAIN_DB)? {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
                    Some("SQLite opened it read-only".into()),
                ));
            }
            Ok(())
        })
        .await
    }

    async fn enqueue(&self, batch: &[Outgoing]) -> Result<(), EngineError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Committed with whatever other enqueues of this engine wait at the same time; the
        // group commit wakes this process's waiting claims.
        let now = SystemTime::now();
        let entries = batch
            .iter()
            .map(|o| group_commit::NewEntry {
                payload: o.payload.clone(),
                due_ms: o
                    .delayed_until(now)
                    .map(|t| i64::try_from(crate::engine::unix_ms(t)).unwrap_or(i64::MAX)),
            })
            .collect();
        self.group.enqueue(entries).await
    }

    async fn claim(
        &self,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Claimed>, EngineError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait;
        loop {
            // Created before looking, so an enqueue between the look and the sleep still wakes
            // us (`notify_waiters` reaches every `Notified` created before it).
            let arrived = self.arrived.notified();
            let (claimed, version, next_due) = self.claim_now(max, lease).await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            // Other processes' enqueues (and releases, replays...) are commits to the file and
            // are noticed within WATCH_INTERVAL. A retry falling due or a lease running out
            // changes nothing in the file: the claim looks again when the next one is due, and
            // after a poll interval at the latest.
            let mut nap = (deadline - now).min(self.poll_nap());
            if let Some(due) = next_due {
                let until_due = Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0));
                nap = nap.min(until_due.max(WATCH_INTERVAL));
            }
            self.wait_for_change(version, now + nap, arrived).await?;
        }
    }

    async fn renew(
        &self,
        tokens: &[ClaimToken],
        lease: Duration,
    ) -> Result<Vec<bool>, EngineError> {
        let queue = self.options.queue.clone();
        let tokens: Vec<Option<(i64, i64)>> = tokens.iter().map(parse_token).collect();
        let lease = duration_ms(lease);
        self.run_on(&self.renewals, move |conn| {
            let tx = begin(conn, Commit::Deferred)?;
            let now = now_ms();
            let mut answers = Vec::with_capacity(tokens.len());
            {
                let mut renew = tx.prepare_cached(
                    "UPDATE entries SET lease_until = ?4 + ?5
                     WHERE id = ?1 AND queue = ?2 AND fence = ?3 AND lease_until > ?4",
                )?;
                for token in &tokens {
                    answers.push(match token {
                        Some((id, fence)) => {
                            renew.execute(params![id, queue, fence, now, lease])? == 1
                        }
                        None => false,
                    });
                }
            }
            tx.commit()?;
            Ok(answers)
        })
        .await
    }

    async fn ack(&self, tokens: &[ClaimToken]) -> Result<Vec<bool>, EngineError> {
        let queue = self.options.queue.clone();
        let tokens: Vec<Option<(i64, i64)>> = tokens.iter().map(parse_token).collect();
        self.run(move |conn| {
            let tx = begin(conn, Commit::Deferred)?;
            let now = now_ms();
            let mut answers = Vec::with_capacity(tokens.len());
            {
                // Acked entries are deleted: nothing "done" is kept, so nothing grows.
                let mut delete = tx.prepare_cached(
                    "DELETE FROM entries
                     WHERE id = ?1 AND queue = ?2 AND fence = ?3 AND lease_until > ?4",
                )?;
                for token in &tokens {
                    answers.push(match token {
                        Some((id, fence)) => delete.execute(params![id, queue, fence, now])? == 1,
                        None => false,
                    });
                }
            }
            tx.commit()?;
            Ok(answers)
        })
        .await
    }

    async fn retry(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        not_before: SystemTime,
    ) -> Result<bool, EngineError> {
        let Some((id, fence)) = parse_token(token) else {
            return Ok(false);
        };
        let queue = self.options.queue.clone();
        let payload = payload.to_vec();
        let not_before = i64::try_from(unix_ms(not_before)).unwrap_or(i64::MAX);
        let done = self
            .run(move |conn| {
                let tx = begin(conn, Commit::Fsync)?;
                let changed = tx
                    .prepare_cached(
                        "UPDATE entries
                         SET payload = ?5, available_at = ?6, lease_until = NULL
                         WHERE id = ?1 AND queue = ?2 AND fence = ?3 AND lease_until > ?4",
                    )?
                    .execute(params![id, queue, fence, now_ms(), payload, not_before])?;
                tx.commit()?;
                Ok(changed == 1)
            })
            .await?;
        if done {
            self.arrived.notify_waiters();
        }
        Ok(done)
    }

    async fn dead_letter(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        reason: &str,
    ) -> Result<bool, EngineError> {
        let Some((id, fence)) = parse_token(token) else {
            return Ok(false);
        };
        let queue = self.options.queue.clone();
        let options = self.options.clone();
        let payload = payload.to_vec();
        let reason = reason.to_string();
        self.run(move |conn| {
            let tx = begin(conn, Commit::Fsync)?;
            let now = now_ms();
            let removed = tx
                .prepare_cached(
                    "DELETE FROM entries
                     WHERE id = ?1 AND queue = ?2 AND fence = ?3 AND lease_until > ?4",
                )?
                .execute(params![id, queue, fence, now])?;
            if removed != 1 {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT INTO dead (queue, payload, reason, died_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![queue, payload, reason, now])?;
            Self::trim_dead(&tx, &queue, &options)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn split(
        &self,
        token: &ClaimToken,
        entries: &[Outgoing],
        dead: &[DeadLetter],
    ) -> Result<bool, EngineError> {
        let Some((id, fence)) = parse_token(token) else {
            return Ok(false);
        };
        let queue = self.options.queue.clone();
        let options = self.options.clone();
        let wall = SystemTime::now();
        // Stored as `enqueue` stores them: new rows (new ids, at the back of the queue), a
        // future `not_before` as a delayed entry.
        let entries: Vec<group_commit::NewEntry> = entries
            .iter()
            .map(|o| group_commit::NewEntry {
                payload: o.payload.clone(),
                due_ms: o
                    .delayed_until(wall)
                    .map(|t| i64::try_from(unix_ms(t)).unwrap_or(i64::MAX)),
            })
            .collect();
        let dead = dead.to_vec();
        let done = self
            .run(move |conn| {
                let tx = begin(conn, Commit::Fsync)?;
                let now = now_ms();
                let removed = tx
                    .prepare_cached(
                        "DELETE FROM entries
                         WHERE id = ?1 AND queue = ?2 AND fence = ?3 AND lease_until > ?4",
                    )?
                    .execute(params![id, queue, fence, now])?;
                if removed != 1 {
                    return Ok(false);
                }
                for entry in &entries {
                    group_commit::insert_entry(&tx, &queue, entry, now)?;
                }
                if !dead.is_empty() {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO dead (queue, payload, reason, died_at) VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for d in &dead {
                        insert.execute(params![queue, d.payload, d.reason, now])?;
                    }
                    drop(insert);
                    Self::trim_dead(&tx, &queue, &options)?;
                }
                tx.commit()?;
                Ok(true)
            })
            .await?;
        if done {
            self.arrived.notify_waiters();
        }
        Ok(done)
    }

    async fn release(&self, tokens: &[ClaimToken]) -> Result<(), EngineError> {
        let queue = self.options.queue.clone();
        let tokens: Vec<(i64, i64)> = tokens.iter().filter_map(parse_token).collect();
        if tokens.is_empty() {
            return Ok(());
        }
        self.run(move |conn| {
            let tx = begin(conn, Commit::Deferred)?;
            let now = now_ms();
            {
                // The entry keeps its id, so it goes back to its place near the front; the
                // delivery is taken back because a release is not a failed attempt.
                let mut release = tx.prepare_cached(
                    "UPDATE entries
                     SET lease_until = NULL, deliveries = max(deliveries - 1, 0)
                     WHERE id = ?1 AND queue = ?2 AND fence = ?3 AND lease_until > ?4",
                )?;
                for (id, fence) in &tokens {
                    release.execute(params![id, queue, fence, now])?;
                }
            }
            tx.commit()
        })
        .await?;
        self.arrived.notify_waiters();
        Ok(())
    }

    async fn counts(&self) -> Result<Counts, EngineError> {
        let queue = self.options.queue.clone();
        let options = self.options.clone();
        self.run(move |conn| {
            let tx = begin(conn, Commit::Deferred)?;
            Self::trim_dead(&tx, &queue, &options)?;
            let now = now_ms();
            let (pending, scheduled, in_flight) = tx.query_row(
                // A lease with fence 0 was never claimed: a delayed entry, due or not yet. A
                // claim whose lease ended is claimable again: pending, as browsing lists it.
                "SELECT
                     (SELECT count(*) FROM entries
                      WHERE queue = ?1 AND lease_until IS NULL AND available_at <= ?2)
                   + (SELECT count(*) FROM entries
                      WHERE queue = ?1 AND lease_until IS NOT NULL AND lease_until <= ?2),
                     (SELECT count(*) FROM entries
                      WHERE queue = ?1 AND lease_until IS NULL AND available_at > ?2)
                   + (SELECT count(*) FROM entries
                      WHERE queue = ?1 AND lease_until IS NOT NULL AND lease_until > ?2
                        AND fence = 0),
                     (SELECT count(*) FROM entries
                      WHERE queue = ?1 AND lease_until > ?2 AND fence > 0)",
                params![queue, now],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                },
            )?;
            let dead: i64 = tx.query_row(
                "SELECT count(*) FROM dead WHERE queue = ?1",
                [&queue],
                |row| row.get(0),
            )?;
            tx.commit()?;
            Ok(Counts {
                pending: pending as u64,
                scheduled: scheduled as u64,
                in_flight: in_flight as u64,
                dead: dead as u64,
            })
        })
        .await
    }

    async fn pending(&self, limit: usize) -> Result<Vec<Entry>, EngineError> {
        let queue = self.options.queue.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn| {
            // The waiting entries by id, then the delayed ones by due time (as Redis lists
            // them): each arm reads its own index in order, so a million delayed entries cost
            // a listing of ten only ten rows.
            let mut stmt = conn.prepare_cached(
                "SELECT id, payload, 0 AS arm, id AS position FROM (
                     SELECT id, payload FROM entries
                     WHERE queue = ?1 AND lease_until IS NULL ORDER BY id LIMIT ?2)
                 UNION ALL
                 SELECT id, payload, 1, lease_until FROM (
                     SELECT id, payload, lease_until FROM entries
                     WHERE queue = ?1 AND lease_until IS NOT NULL AND fence = 0
                     ORDER BY lease_until LIMIT ?2)
                 ORDER BY arm, position LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![queue, limit], |row| {
                Ok(Entry {
                    key: row.get::<_, i64>(0)?.to_string(),
                    payload: row.get(1)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn dead(&self, limit: usize) -> Result<Vec<DeadEntry>, EngineError> {
        let queue = self.options.queue.clone();
        let options = self.options.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn| {
            let tx = begin(conn, Commit::Deferred)?;
            Self::trim_dead(&tx, &queue, &options)?;
            let dead = {
                let mut stmt = tx.prepare_cached(
                    "SELECT id, payload, reason, died_at FROM dead
                     WHERE queue = ?1 ORDER BY id LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![queue, limit], |row| {
                    Ok(DeadEntry {
                        key: row.get::<_, i64>(0)?.to_string(),
                        payload: row.get(1)?,
                        reason: row.get(2)?,
                        died_at: crate::engine::from_unix_ms(row.get::<_, i64>(3)?.max(0) as u64),
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            Ok(dead)
        })
        .await
    }

    async fn purge_pending(&self) -> Result<u64, EngineError> {
        let queue = self.options.queue.clone();
        self.run(move |conn| {
            let tx = begin(conn, Commit::Fsync)?;
            let removed = tx.execute(
                "DELETE FROM entries WHERE queue = ?1 AND (lease_until IS NULL OR fence = 0)",
                [&queue],
            )?;
            tx.commit()?;
            Ok(removed as u64)
        })
        .await
    }

    async fn purge_dead(&self) -> Result<u64, EngineError> {
        let queue = self.options.queue.clone();
        self.run(move |conn| {
            let tx = begin(conn, Commit::Fsync)?;
            let removed = tx.execute("DELETE FROM dead WHERE queue = ?1", [&queue])?;
            tx.commit()?;
            Ok(removed as u64)
        })
        .await
    }

    async fn replay_dead(&self, keys: Option<&[String]>) -> Result<u64, EngineError> {
        let queue = self.options.queue.clone();
        // Keys that are not dead-letter ids match nothing. Sorted so that replayed entries keep
        // the order in which they died; deduplicated so that one is not replayed twice.
        let ids: Option<Vec<i64>> = keys.map(|keys| {
            let mut ids: Vec<i64> = keys
                .iter()
                .filter_map(|k| crate::engine::browse::dead_id(k))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        });
        let replayed = self
            .run(move |conn| {
                let tx = begin(conn, Commit::Fsync)?;
                let now = now_ms();
                // New rows, so new ids: replayed entries join the back of the queue as fresh
                // entries (no deliveries yet).
                let replayed = match &ids {
                    None => {
                        let n = tx.execute(
                            "INSERT INTO entries (queue, payload, available_at, enqueued_at)
                             SELECT queue, payload, 0, ?2 FROM dead WHERE queue = ?1 ORDER BY id",
                            params![queue, now],
                        )?;
                        tx.execute("DELETE FROM dead WHERE queue = ?1", [&queue])?;
                        n
                    }
                    Some(ids) => {
                        let mut insert = tx.prepare_cached(
                            "INSERT INTO entries (queue, payload, available_at, enqueued_at)
                             SELECT queue, payload, 0, ?3 FROM dead WHERE queue = ?1 AND id = ?2",
                        )?;
                        let mut delete =
                            tx.prepare_cached("DELETE FROM dead WHERE queue = ?1 AND id = ?2")?;
                        let mut n = 0;
                        for id in ids {
                            n += insert.execute(params![queue, id, now])?;
                            delete.execute(params![queue, id])?;
                        }
                        n
                    }
                };
                tx.commit()?;
                Ok(replayed as u64)
            })
            .await?;
        if replayed > 0 {
            self.arrived.notify_waiters();
        }
        Ok(replayed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> EngineUrl {
        EngineUrl::parse(s).expect("a valid URL")
    }

    #[test]
    fn relative_and_absolute_paths() {
        assert_eq!(url_path(&url("sqlite://q.db")), PathBuf::from("q.db"));
        assert!(url_path(&url("sqlite://q.db")).is_relative());
        assert_eq!(
            url_path(&url("sqlite://data/q.db")),
            PathBuf::from("data/q.db")
        );
        let absolute = url_path(&url("sqlite:///var/lib/app/q.db"));
        assert_eq!(absolute, PathBuf::from("/var/lib/app/q.db"));
        assert!(absolute.is_absolute());
        assert!(EngineUrl::parse("sqlite://").is_err());
    }

    fn schema_objects(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 1")
            .expect("prepare");
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .expect("query");
        rows.collect::<rusqlite::Result<_>>().expect("rows")
    }

    #[tokio::test]
    async fn creates_the_file_and_schema_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.db");
        let u = url(&format!("sqlite://{}", path.display()));
        let engine = SqliteEngine::open(&u, EngineOptions::new("default"))
            .await
            .expect("open");
        assert!(path.exists(), "the file is created");
        assert_eq!(engine.describe(), format!("sqlite://{}", path.display()));
        assert_eq!(engine.kind(), "sqlite");
        engine.ping().await.expect("ping");
        drop(engine);

        let conn = Connection::open(&path).expect("open by hand");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("user_version");
        assert_eq!(version, SCHEMA_VERSION);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "wal", "WAL mode is a property of the file");
        let objects = schema_objects(&conn);
        assert_eq!(
            objects,
            [
                "index dead_by_age",
                "index dead_by_queue",
                "index entries_leased",
                "index entries_ready",
                "index entries_retrying",
                "table dead",
                "table entries",
                "table ticks",
                "table workers",
            ]
        );
        drop(conn);

        // Opening again keeps the schema (and would fail if it ran the migration twice).
        let again = SqliteEngine::open(&u, EngineOptions::new("default"))
            .await
            .expect("reopen");
        again.ping().await.expect("ping");
        let conn = Connection::open(&path).expect("open by hand");
        assert_eq!(schema_objects(&conn), objects);
    }

    #[tokio::test]
    async fn a_version_1_file_is_upgraded_and_keeps_its_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v1.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(MIGRATIONS[0]).expect("version 1");
        conn.pragma_update(None, "user_version", 1)
            .expect("user_version");
        conn.execute(
            "INSERT INTO entries (queue, payload, available_at, enqueued_at)
             VALUES ('default', x'6f6c64', 0, 0)",
            [],
        )
        .expect("an old entry");
        drop(conn);
        let u = url(&format!("sqlite://{}", path.display()));
        let engine = SqliteEngine::open(&u, EngineOptions::new("default"))
            .await
            .expect("upgrade");
        let claimed = engine
            .claim(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].payload, b"old");
        let conn = Connection::open(&path).expect("open by hand");
        assert!(!schema_objects(&conn).contains(&"index entries_claim".to_string()));
    }

    #[tokio::test]
    async fn the_claim_query_uses_its_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.db");
        let conn = open_connection(&path).expect("open");
        let explain = |arm: &str| -> String {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {arm}"))
                .expect("prepare")
                .query_map(params!["q", 10, 0], |row| row.get::<_, String>(3))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows");
            plan.join("; ")
        };
        // The claim's two arms, as in `claim_now`: each reads its own index in order, without
        // touching the table or sorting, so rows it does not take (a million delayed entries
        // not yet due, say) are never read.
        let ready = explain(
            "SELECT id FROM entries
             WHERE queue = ?1 AND lease_until IS NULL AND available_at <= ?3
             ORDER BY id LIMIT ?2",
        );
        assert!(
            ready.contains("USING COVERING INDEX entries_ready"),
            "{ready}"
        );
        assert!(!ready.contains("TEMP B-TREE"), "no sort: {ready}");
        let ended = explain(
            "SELECT id FROM entries
             WHERE queue = ?1 AND lease_until IS NOT NULL AND lease_until <= ?3
             ORDER BY lease_until LIMIT ?2",
        );
        assert!(
            ended.contains("USING COVERING INDEX entries_leased"),
            "{ended}"
        );
        assert!(
            ended.contains("lease_until<?"),
            "a range, not a walk: {ended}"
        );
        assert!(!ended.contains("TEMP B-TREE"), "no sort: {ended}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_by_another_process_wakes_a_waiting_claim_before_the_poll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wake.db");
        let u = url(&format!("sqlite://{}", path.display()));
        // A poll interval far longer than the wake-up asserted below: only noticing the other
        // connection's commit can end the claim's wait that early.
        let mut options = EngineOptions::new("default");
        options.poll_interval = Duration::from_secs(5);
        let engine = Arc::new(SqliteEngine::open(&u, options).await.expect("open"));
        // Another process, as far as this engine can tell: a connection of its own, and none of
        // this process's in-memory wake-ups.
        let other = open_connection(&path).expect("open");
        let insert = |queue: &str, payload: &str| {
            other
                .execute(
                    "INSERT INTO entries (queue, payload, available_at, enqueued_at)
                     VALUES (?1, ?2, 0, 0)",
                    params![queue, payload.as_bytes()],
                )
                .expect("insert");
        };

        let claimer = engine.clone();
        let waiting = tokio::spawn(async move {
            claimer
                .claim(10, Duration::from_secs(120), Duration::from_secs(60))
                .await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A commit that adds nothing to this queue: the claim looks, finds nothing, waits on.
        insert("another-queue", "not-mine");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "the claim returned without an entry"
        );

        let sent = Instant::now();
        insert("default", "wake");
        let got = waiting.await.expect("claim task").expect("claim");
        let woke_after = sent.elapsed();
        let payloads: Vec<&[u8]> = got.iter().map(|c| c.payload.as_slice()).collect();
        assert_eq!(payloads, [b"wake".as_slice()]);
        assert!(
            woke_after < Duration::from_secs(2),
            "the claim took {woke_after:?} to see another process's commit: it waited for its \
             poll interval (5 s) instead of noticing the commit"
        );
    }

    /// Sends and retries must be fsync'ed at commit whatever ran before them on the same
    /// connection; claims and acks need not be. Each call sets its own level, so the level left
    /// on the connection after a call is the one its commit used.
    #[tokio::test]
    async fn sends_and_retries_are_fsynced_claims_and_acks_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let u = url(&format!("sqlite://{}", dir.path().join("q.db").display()));
        let engine = SqliteEngine::open(&u, EngineOptions::new("default"))
            .await
            .expect("open");
        // PRAGMA synchronous: 1 = NORMAL, 2 = FULL.
        let level = || -> i64 {
            engine
                .conn
                .lock()
                .unwrap()
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .expect("read the level")
        };
        let send = |text: &str| Outgoing::new(crate::EnvelopeId::new(), text.as_bytes().to_vec());
        engine.enqueue(&[send("a"), send("b")]).await.expect("send");
        assert_eq!(level(), 2, "a send is fsync'ed");
        let claimed = engine
            .claim(2, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("claim");
        assert_eq!(level(), 1, "a claim is not");
        engine.enqueue(&[send("c")]).await.expect("send");
        assert_eq!(level(), 2, "a send after a claim is fsync'ed");
        assert_eq!(
            engine
                .ack(std::slice::from_ref(&claimed[0].token))
                .await
                .expect("ack"),
            [true]
        );
        assert_eq!(level(), 1, "an ack is not");
        assert!(engine
            .retry(&claimed[1].token, b"b2", SystemTime::now())
            .await
            .expect("retry"));
        assert_eq!(level(), 2, "a retry after an ack is fsync'ed");
    }

    /// Why opening the file at `path` fails (the test expects it to).
    async fn open_error(path: &Path) -> String {
        let u = url(&format!("sqlite://{}", path.display()));
        SqliteEngine::open(&u, EngineOptions::new("default"))
            .await
            .err()
            .expect("refused")
            .to_string()
    }

    #[tokio::test]
    async fn a_file_in_the_place_of_the_directory_is_named_as_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("notes.txt"), b"x").expect("write");
        let err = open_error(&dir.path().join("notes.txt").join("q.db")).await;
        assert!(
            err.contains("notes.txt` is a file, not a directory"),
            "{err}"
        );
        assert!(!err.contains("does not exist"), "{err}");
        let err = open_error(dir.path()).await;
        assert!(
            err.contains("is a directory; the URL names the queue's file"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("q.db");
        let err = open_error(&path).await;
        assert!(err.contains("no-such-dir` does not exist"), "{err}");
        assert!(err.contains("create it"), "{err}");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, vec![b'x'; 4096]).expect("write");
        let err = open_error(&path).await;
        assert!(err.contains("is not a usable SQLite database"), "{err}");
        assert!(err.contains("notes.txt"), "{err}");
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("future.db");
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set version");
        drop(conn);
        let err = open_error(&path).await;
        assert!(err.contains("newer than this build understands"), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_read_only_file_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ro.db");
        let u = url(&format!("sqlite://{}", path.display()));
        drop(
            SqliteEngine::open(&u, EngineOptions::new("default"))
                .await
                .expect("create"),
        );
        // Root ignores permissions; there is nothing to check then.
        let probe = dir.path().join("probe");
        std::fs::write(&probe, b"").expect("probe");
        std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        if std::fs::OpenOptions::new().write(true).open(&probe).is_ok() {
            return;
        }
        for name in ["ro.db", "ro.db-wal", "ro.db-shm"] {
            let p = dir.path().join(name);
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400))
                    .expect("chmod");
            }
        }
        // SQLite opens such a file read-only without complaint (and `BEGIN IMMEDIATE` succeeds
        // on it); the ping, which `check` and a worker's start run, is where it is refused.
        let engine = SqliteEngine::open(&u, EngineOptions::new("default"))
            .await
            .expect("a read-only file opens");
        let err = engine.ping().await.expect_err("refused").to_string();
        assert!(err.contains("ro.db"), "{err}");
        assert!(err.contains("is not writable by this process"), "{err}");
        assert!(err.contains("give this user write access"), "{err}");
    }
}
