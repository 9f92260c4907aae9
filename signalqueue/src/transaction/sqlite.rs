//! `send_in` with a rusqlite transaction: into the queue's `entries` table when the queue is a
//! SQLite engine on the transaction's own file, else into that file's outbox.
//!
//! rusqlite is synchronous, so the write happens when the future is first polled, on the
//! caller's thread, with the caller's transaction (a `rusqlite::Transaction` is not `Sync`, so
//! this future is not `Send`: call it where the transaction lives).

use std::future::{ready, Ready};
use std::path::{Path, PathBuf};

use rusqlite::params;

use crate::engine::{unix_ms, Colocation, Outgoing};
use crate::error::Error;
use crate::transaction::{AppTransaction, OutboxTarget, Placement};

/// The outbox table in an app's SQLite file (SQLite has no schemas, hence the prefix).
pub(crate) const OUTBOX_TABLE: &str = "signalqueue_outbox";

impl AppTransaction for &rusqlite::Transaction<'_> {
    type Placed = Ready<Result<(), Error>>;

    fn place(self, placement: Placement) -> Self::Placed {
        ready(place(self, &placement))
    }
}

fn place(tx: &rusqlite::Transaction<'_>, placement: &Placement) -> Result<(), Error> {
    let failed = |e: rusqlite::Error| {
        Error::Transaction(format!(
            "cannot send `{}` in this transaction: SQLite said: {e}",
            placement.signal
        ))
    };
    // An in-memory or temporary database has no path, and cannot be any queue's file.
    let file: Option<PathBuf> = tx.path().filter(|p| !p.is_empty()).map(canonical);
    let now = i64::try_from(unix_ms(std::time::SystemTime::now())).unwrap_or(i64::MAX);
    if let (Some(file), Some(Colocation::Sqlite { path })) = (&file, &placement.colocation) {
        if file == path {
            // The columns the SQLite engine's enqueue writes (its schema, `engine/sqlite`): a
            // delayed entry is a lease nobody holds, ending at its due time.
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO entries (queue, payload, available_at, lease_until, enqueued_at)
                     VALUES (?1, ?2, coalesce(?3, 0), ?3, ?4)",
                )
                .map_err(failed)?;
            for entry in &placement.entries {
                insert
                    .execute(params![placement.queue, entry.payload, due_ms(entry), now])
                    .map_err(failed)?;
            }
            return Ok(());
        }
    }
    let configured = placement.outboxes.iter().any(|o| match (o, &file) {
        (OutboxTarget::Sqlite { path }, Some(file)) => path == file,
        _ => false,
    });
    if !configured || !has_outbox(tx).map_err(failed)? {
        let name = match &file {
            Some(file) => format!("SQLite file `{}`", file.display()),
            None => "an in-memory SQLite database".to_string(),
        };
        return Err(placement.nowhere(&name));
    }
    let mut insert = tx
        .prepare_cached(&format!(
            "INSERT INTO {OUTBOX_TABLE} (queue, envelope_id, payload, created_at, not_before)
             VALUES (?1, ?2, ?3, ?4, ?5)"
        ))
        .map_err(failed)?;
    for entry in &placement.entries {
        insert
            .execute(params![
                placement.queue,
                entry.id.to_string(),
                entry.payload,
                now,
                due_ms(entry)
            ])
            .map_err(failed)?;
    }
    Ok(())
}

/// A delayed entry's due time in Unix ms, if it is still in the future.
fn due_ms(entry: &Outgoing) -> Option<i64> {
    entry
        .delayed_until(std::time::SystemTime::now())
        .map(|t| i64::try_from(unix_ms(t)).unwrap_or(i64::MAX))
}

fn has_outbox(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [OUTBOX_TABLE],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// The same file reached by two spellings compares equal.
pub(crate) fn canonical(path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
