//! The demo's database in a SQLite file (the default: no server needed).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use signalqueue::BoxError;

use super::{now_ms, Event, Order};

/// The demo's SQLite database. One connection behind a lock: the demo is small, and SQLite
/// serialises writers anyway.
pub(crate) struct SqliteDb {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteDb {
    /// `demo.db` next to the default queue's SQLite file (so `./demo.db` with no
    /// configuration), else `./demo.db`.
    pub(crate) fn default_path() -> PathBuf {
        let queue = signalqueue::Config::load()
            .ok()
            .and_then(|c| c.queues.get("default").map(|q| q.url.clone()));
        match queue.as_deref().and_then(|u| u.strip_prefix("sqlite://")) {
            Some(file) => {
                let file = file.split('?').next().unwrap_or(file);
                Path::new(file).with_file_name("demo.db")
            }
            None => PathBuf::from("demo.db"),
        }
    }

    /// Opens (creating if needed) the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<SqliteDb, BoxError> {
        let conn = Connection::open(path)
            .map_err(|e| format!("cannot open the demo database {}: {e}", path.display()))?;
        // The web app and the worker share the file: WAL lets one read while the other writes,
        // and the timeout makes a writer wait for the other instead of failing.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS orders (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 customer TEXT NOT NULL,
                 item TEXT NOT NULL,
                 quantity INTEGER NOT NULL,
                 total_cents INTEGER NOT NULL,
                 placed_at_ms INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS event_log (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 order_id INTEGER NOT NULL,
                 signal_id TEXT NOT NULL,
                 message TEXT NOT NULL,
                 logged_at_ms INTEGER NOT NULL,
                 took_ms INTEGER NOT NULL
             );",
        )?;
        Ok(SqliteDb {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    /// Where the file is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection, on the blocking pool (SQLite calls block).
    async fn with<R, F>(&self, f: F) -> Result<R, BoxError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&conn)
        })
        .await?
        .map_err(Into::into)
    }

    /// Saves a new order and returns it with its id.
    pub(crate) async fn place_order(
        &self,
        customer: String,
        item: String,
        quantity: i64,
        total_cents: i64,
    ) -> Result<Order, BoxError> {
        let placed_at_ms = now_ms();
        self.with(move |c| {
            c.execute(
                "INSERT INTO orders (customer, item, quantity, total_cents, placed_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![customer, item, quantity, total_cents, placed_at_ms],
            )?;
            Ok(Order {
                id: c.last_insert_rowid(),
                customer,
                item,
                quantity,
                total_cents,
                placed_at_ms,
            })
        })
        .await
    }

    /// Deletes an order (the order list's "cancel"); false when there was none.
    pub(crate) async fn cancel_order(&self, id: i64) -> Result<bool, BoxError> {
        self.with(move |c| Ok(c.execute("DELETE FROM orders WHERE id = ?1", [id])? > 0))
            .await
    }

    /// The order with `id`, if it exists.
    pub(crate) async fn order(&self, id: i64) -> Result<Option<Order>, BoxError> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1"),
                [id],
                order_from_row,
            )
            .optional()
        })
        .await
    }

    /// Every order, newest first.
    pub(crate) async fn orders(&self) -> Result<Vec<Order>, BoxError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ORDER_COLUMNS} FROM orders ORDER BY id DESC"
            ))?;
            let rows = stmt.query_map([], order_from_row)?;
            rows.collect()
        })
        .await
    }

    /// How many orders there are, and their total in cents.
    pub(crate) async fn totals(&self) -> Result<(i64, i64), BoxError> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(total_cents), 0) FROM orders",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
    }

    /// Appends to the event log.
    pub(crate) async fn log_event(
        &self,
        order_id: i64,
        signal_id: String,
        message: String,
        took_ms: i64,
    ) -> Result<(), BoxError> {
        let logged_at_ms = now_ms();
        self.with(move |c| {
            c.execute(
                "INSERT INTO event_log (order_id, signal_id, message, logged_at_ms, took_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![order_id, signal_id, message, logged_at_ms, took_ms],
            )?;
            Ok(())
        })
        .await
    }

    /// The event log, newest first.
    pub(crate) async fn events(&self) -> Result<Vec<Event>, BoxError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, order_id, signal_id, message, logged_at_ms, took_ms FROM event_log ORDER BY id DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Event {
                    id: r.get(0)?,
                    order_id: r.get(1)?,
                    signal_id: r.get(2)?,
                    message: r.get(3)?,
                    logged_at_ms: r.get(4)?,
                    took_ms: r.get(5)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}

fn order_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Order> {
    Ok(Order {
        id: r.get(0)?,
        customer: r.get(1)?,
        item: r.get(2)?,
        quantity: r.get(3)?,
        total_cents: r.get(4)?,
        placed_at_ms: r.get(5)?,
    })
}

const ORDER_COLUMNS: &str = "id, customer, item, quantity, total_cents, placed_at_ms";
