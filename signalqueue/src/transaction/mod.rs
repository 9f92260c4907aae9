//! Sending inside the app's own database transaction (`SIGNAL.send_in(&tx, ..)`).
//!
//! A view that saves a row and then sends a signal about it makes two writes that can part: the
//! row saved but the signal never queued, or the signal handled before the row is committed.
//! `send_in` makes the signal part of the row's transaction, so it exists if and only if the
//! transaction commits:
//!
//! - when the signal's queue is a PostgreSQL engine on the transaction's own database (or a
//!   SQLite engine on the transaction's own file), the entry goes straight into the queue's
//!   table, and a worker sees it when the transaction commits (the commit wakes it);
//! - otherwise the envelope goes into the outbox table of that database (`[outbox]` in
//!   `signalqueue.toml` creates it), and the outbox relay, in every worker, moves committed rows
//!   into the signal's queue and deletes them once that queue holds them.
//!
//! A transaction whose database has neither is refused with an error naming both, before
//! anything is written. See `docs/engines.md` ("Sending in a transaction").

use std::future::Future;
use std::path::PathBuf;

use crate::engine::{Colocation, Outgoing};
use crate::error::Error;

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
#[cfg(feature = "sqlx")]
mod sqlx;

/// A transaction (or connection) of the app's that `send_in` can write signals into.
///
/// Implemented for `&tokio_postgres::Transaction` and `&deadpool_postgres::Transaction`
/// (feature `tokio-postgres`, on by default), `&mut sqlx::PgConnection` (feature `sqlx`; pass
/// `&mut *tx` for a `sqlx::Transaction`), and `&rusqlite::Transaction` (feature `sqlite`, on by
/// default). The method is not public API: it may change without notice.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a transaction `send_in` can write to",
    label = "expected `&tokio_postgres::Transaction`, `&mut sqlx::PgConnection` or `&rusqlite::Transaction`",
    note = "pass the open transaction by reference: `SIGNAL.send_in(&tx, ..)` (sqlx: `SIGNAL.send_in(&mut *tx, ..)`); enable signalqueue's `sqlx` feature for sqlx"
)]
pub trait AppTransaction {
    /// The write's future; `Send` where the transaction is.
    #[doc(hidden)]
    type Placed: Future<Output = Result<(), Error>>;

    /// Writes `placement.entries` into the queue's table or the outbox, in this transaction.
    #[doc(hidden)]
    fn place(self, placement: Placement) -> Self::Placed;
}

/// What a transaction needs to write a batch of signals: the entries, and where they may go.
/// Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct Placement {
    /// The signal's wire name, for errors.
    pub signal: &'static str,
    /// The queue's name (`default`): the `queue` column of the queue's and the outbox's rows.
    pub queue: String,
    /// The queue's engine, redacted, for errors.
    pub engine: String,
    /// Where the queue's engine keeps its entries, when that is a database table.
    pub colocation: Option<Colocation>,
    /// The outboxes the configuration names.
    pub outboxes: Vec<OutboxTarget>,
    /// The encoded signals, in order.
    pub entries: Vec<Outgoing>,
}

/// A configured outbox, as `send_in` looks for it in a transaction's database.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboxTarget {
    /// `schema.outbox` in a PostgreSQL database.
    Postgres {
        /// The schema (`signalqueue` unless the outbox URL's `?schema=` says otherwise).
        schema: String,
    },
    /// The `signalqueue_outbox` table of a SQLite file.
    Sqlite {
        /// The file, canonical.
        path: PathBuf,
    },
}

impl Placement {
    /// The refusal for a transaction on a database that holds neither the queue nor an outbox.
    #[cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]
    pub(crate) fn nowhere(&self, database: &str) -> Error {
        let outboxes = if self.outboxes.is_empty() {
            "no outbox is configured".to_string()
        } else {
            format!(
                "the configured outbox{} ({}) {} not in it",
                if self.outboxes.len() == 1 { "" } else { "es" },
                self.outboxes
                    .iter()
                    .map(|o| match o {
                        OutboxTarget::Postgres { schema } =>
                            format!("PostgreSQL schema `{schema}`"),
                        OutboxTarget::Sqlite { path } => format!("`{}`", path.display()),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                if self.outboxes.len() == 1 {
                    "is"
                } else {
                    "are"
                },
            )
        };
        Error::Transaction(format!(
            "cannot send `{}` in this transaction: its database ({database}) does not hold queue `{}` ({}), and {outboxes}; \
             add `[outbox] url = \"...\"` naming this database to signalqueue.toml (it creates the outbox there, and workers relay it), \
             or put queue `{}` on this database",
            self.signal, self.queue, self.engine, self.queue
        ))
    }
}
