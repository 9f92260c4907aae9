//! The demo's own database: orders and the event log, in a SQLite file. It is the store that
//! `Order` loads from, declared with `provide_store!` so that the worker binary, which only
//! links this crate, opens it on first use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use signalqueue::{BoxError, Model, Stores};

/// The demo's SQLite database. One connection behind a lock: the demo is small, and SQLite
/// serialises writers anyway.
pub struct DemoDb {
    conn: Mutex<Connection>,
    path: PathBuf,
}

signalqueue::provide_store!(DemoDb, || async {
    // rusqlite blocks: open (and create the tables) off the async threads.
    tokio::task::spawn_blocking(|| DemoDb::open(&DemoDb::default_path())).await?
});

/// What the checkout form sells: name and unit price in cents.
pub const ITEMS: [(&str, i64); 3] = [("Widget", 1250), ("Gadget", 4200), ("Doohickey", 799)];

impl DemoDb {
    /// The file: `DEMO_DB` when set, else `demo.db` next to the default queue's SQLite file
    /// (so `./demo.db` with no configuration), else `./demo.db`.
    pub fn default_path() -> PathBuf {
        if let Some(path) = std::env::var_os("DEMO_DB") {
            return path.into();
        }
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
    pub fn open(path: &Path) -> Result<DemoDb, BoxError> {
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
        Ok(DemoDb {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// The process's demo database (opened on first use).
    pub async fn get() -> Result<Arc<DemoDb>, signalqueue::Error> {
        Stores::global().get::<DemoDb>().await
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection, on the blocking pool (SQLite calls block).
    pub async fn with<R, F>(self: &Arc<Self>, f: F) -> Result<R, BoxError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = db.conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&conn)
        })
        .await?
        .map_err(Into::into)
    }

    /// Saves a new order and returns it with its id.
    pub async fn place_order(
        self: &Arc<Self>,
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
    pub async fn cancel_order(self: &Arc<Self>, id: i64) -> Result<bool, BoxError> {
        self.with(move |c| Ok(c.execute("DELETE FROM orders WHERE id = ?1", [id])? > 0))
            .await
    }

    /// The order with `id`, if it exists.
    pub async fn order(self: &Arc<Self>, id: i64) -> Result<Option<Order>, BoxError> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1"),
                [id],
                Order::from_row,
            )
            .optional()
        })
        .await
    }

    /// Every order, newest first.
    pub async fn orders(self: &Arc<Self>) -> Result<Vec<Order>, BoxError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ORDER_COLUMNS} FROM orders ORDER BY id DESC"
            ))?;
            let rows = stmt.query_map([], Order::from_row)?;
            rows.collect()
        })
        .await
    }

    /// How many orders there are, and their total in cents.
    pub async fn totals(self: &Arc<Self>) -> Result<(i64, i64), BoxError> {
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
    pub async fn log_event(
        self: &Arc<Self>,
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
    pub async fn events(self: &Arc<Self>) -> Result<Vec<Event>, BoxError> {
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

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

const ORDER_COLUMNS: &str = "id, customer, item, quantity, total_cents, placed_at_ms";

/// An order, as the checkout form saves it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Order {
    /// The order's id.
    pub id: i64,
    /// Who ordered.
    pub customer: String,
    /// What.
    pub item: String,
    /// How many.
    pub quantity: i64,
    /// Its total, in cents.
    pub total_cents: i64,
    /// When it was placed, in milliseconds since the Unix epoch.
    pub placed_at_ms: i64,
}

impl Order {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Order> {
        Ok(Order {
            id: r.get(0)?,
            customer: r.get(1)?,
            item: r.get(2)?,
            quantity: r.get(3)?,
            total_cents: r.get(4)?,
            placed_at_ms: r.get(5)?,
        })
    }
}

/// Orders travel by reference: the queue holds `{"app_label": "examples", "model": "order",
/// "pk": 42}`, and the worker reads the row from the demo database just before
/// `update_event_log` runs.
impl Model for Order {
    const APP_LABEL: &'static str = "examples";
    const MODEL_NAME: &'static str = "order";
    type Key = i64;

    fn key(&self) -> i64 {
        self.id
    }

    async fn load(key: &i64, stores: &Stores) -> Result<Option<Self>, BoxError> {
        stores.get::<DemoDb>().await?.order(*key).await
    }
}

/// One line of the event log.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// The line's id.
    pub id: i64,
    /// The order it is about.
    pub order_id: i64,
    /// The signal that wrote it.
    pub signal_id: String,
    /// What happened.
    pub message: String,
    /// When it was written, in milliseconds since the Unix epoch.
    pub logged_at_ms: i64,
    /// How long the receiver took, in milliseconds.
    pub took_ms: i64,
}
