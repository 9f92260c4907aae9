//! How a connection waits for the file's write lock while another connection holds it.
//!
//! SQLite lets one connection write at a time. Its own waiting (`sqlite3_busy_timeout`) sleeps
//! between tries for longer and longer, 100 ms apart after the first third of a second. Senders
//! that never pause (a busy web process) hold the lock nearly all the time, free for some
//! microseconds between two of their commits: a connection looking ten times a second almost
//! never finds it free, and was measured waiting seconds, up to the whole timeout. A worker's
//! lease renewal that waits that long lets the lease run out, and the signal runs twice.
//!
//! So every connection of the engine looks again every [`POLL`] instead: a look is one attempt
//! on SQLite's shared-memory lock, without disk I/O, and thousands of looks a second find the
//! gaps between another process's commits within a few of its commits. It costs CPU only while
//! waiting for a lock, and gives up after [`BUSY_TIMEOUT`](super::BUSY_TIMEOUT) as before.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::BUSY_TIMEOUT;

/// How long a connection sleeps between two tries of the lock.
const POLL: Duration = Duration::from_micros(200);

/// Makes `conn` wait for locks by trying every [`POLL`], up to [`BUSY_TIMEOUT`].
pub(super) fn wait_for_locks(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(busy))
}

/// Makes `conn` answer "busy" at once instead of waiting (until [`wait_for_locks`] again).
pub(super) fn do_not_wait(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_handler(None)
}

thread_local! {
    /// When the current wait of this thread's connection began. A wait runs on one thread from
    /// its first try to its end (SQLite calls the handler from inside the statement), and a
    /// thread runs one statement at a time, so one slot per thread is enough.
    static WAITING_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// SQLite's busy callback: `tries` is how many times it was called for this lock already.
/// Returns whether to try again.
fn busy(tries: i32) -> bool {
    let since = WAITING_SINCE.with(|since| {
        if tries == 0 {
            since.set(Some(Instant::now()));
        }
        since.get().unwrap_or_else(Instant::now)
    });
    if since.elapsed() >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(POLL);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another connection holds the write lock for a while, committing now and then: a
    /// connection waiting for it gets it, and one told not to wait is refused at once.
    #[test]
    fn a_waiting_connection_gets_the_lock_and_one_not_waiting_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("busy.db");
        let mut holder = super::super::open_connection(&path).expect("open");
        let waiter = super::super::open_connection(&path).expect("open");
        let (held, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let holding = std::thread::spawn(move || {
            let tx = holder
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .expect("lock");
            held.0.send(()).expect("tell");
            release.1.recv().expect("wait");
            tx.commit().expect("commit");
        });
        held.1.recv().expect("held");
        do_not_wait(&waiter).expect("no waiting");
        let refused = waiter.execute_batch("BEGIN IMMEDIATE");
        assert!(
            matches!(&refused, Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::DatabaseBusy),
            "{refused:?}"
        );
        wait_for_locks(&waiter).expect("waiting");
        let release_soon = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            release.0.send(()).expect("release");
        });
        waiter
            .execute_batch("BEGIN IMMEDIATE; COMMIT")
            .expect("the lock, once released");
        release_soon.join().expect("releaser");
        holding.join().expect("holder");
    }
}
