//! The demo's own database: orders and the event log. A SQLite file by default (`demo.db`
//! beside the queue's file, no server needed), or PostgreSQL when `DEMO_DB` is a
//! `postgres://` URL. It is the store that `Order` loads from, declared with `provide_store!`
//! so that the worker binary, which only links this crate, opens it on first use.
//!
//! A checkout saves the order and sends `FORM_SUBMIT` about it. On PostgreSQL both happen in one
//! transaction (`send_in`): the signal exists if and only if the order does. On the SQLite
//! default they are two writes, and a queue that is down leaves a saved order whose signal was
//! not queued, which the web app says.

mod postgres;
mod sqlite;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use signalqueue::{BoxError, EnvelopeId, Model, Ref, Stores};

use self::postgres::PostgresDb;
use self::sqlite::SqliteDb;
use crate::FORM_SUBMIT;

/// What the checkout form sells: name and unit price in cents.
pub const ITEMS: [(&str, i64); 3] = [("Widget", 1250), ("Gadget", 4200), ("Doohickey", 799)];

/// The demo's database.
pub struct DemoDb {
    backend: Backend,
}

enum Backend {
    Sqlite(SqliteDb),
    Postgres(PostgresDb),
}

signalqueue::provide_store!(DemoDb, || async { DemoDb::open_default().await });

/// Why a checkout failed.
#[derive(Debug)]
pub enum CheckoutError {
    /// Nothing was saved (and nothing sent).
    NotSaved(BoxError),
    /// The order was saved, but its signal could not be queued (SQLite demo database only:
    /// two writes that can part).
    NotQueued(Order, signalqueue::Error),
}

impl std::fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckoutError::NotSaved(e) => write!(f, "the order was not saved: {e}"),
            CheckoutError::NotQueued(order, e) => write!(
                f,
                "order #{} is saved, but its signal was not queued: {e}",
                order.id
            ),
        }
    }
}

impl std::error::Error for CheckoutError {}

impl DemoDb {
    /// `DEMO_DB` when set (a `postgres://` URL, or a SQLite file path), else `demo.db` next to
    /// the default queue's SQLite file, else `./demo.db`.
    pub async fn open_default() -> Result<DemoDb, BoxError> {
        match std::env::var("DEMO_DB") {
            Ok(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(DemoDb {
                    backend: Backend::Postgres(PostgresDb::open(&url).await?),
                })
            }
            Ok(path) => DemoDb::open_sqlite(path.into()).await,
            Err(_) => DemoDb::open_sqlite(SqliteDb::default_path()).await,
        }
    }

    async fn open_sqlite(path: std::path::PathBuf) -> Result<DemoDb, BoxError> {
        // rusqlite blocks: open (and create the tables) off the async threads.
        let db = tokio::task::spawn_blocking(move || SqliteDb::open(&path)).await??;
        Ok(DemoDb {
            backend: Backend::Sqlite(db),
        })
    }

    /// The process's demo database (opened on first use).
    pub async fn get() -> Result<std::sync::Arc<DemoDb>, signalqueue::Error> {
        Stores::global().get::<DemoDb>().await
    }

    /// Where it is: a file path, or a URL without its password.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(db) => db.path().display().to_string(),
            Backend::Postgres(db) => db.shown().to_string(),
        }
    }

    /// Saves a new order and sends `FORM_SUBMIT` with a reference to it; returns the order and
    /// the signal's id.
    pub async fn checkout(
        &self,
        customer: String,
        item: String,
        quantity: i64,
        total_cents: i64,
    ) -> Result<(Order, EnvelopeId), CheckoutError> {
        match &self.backend {
            Backend::Postgres(db) => db
                .checkout(customer, item, quantity, total_cents)
                .await
                .map_err(CheckoutError::NotSaved),
            Backend::Sqlite(db) => {
                let order = db
                    .place_order(customer, item, quantity, total_cents)
                    .await
                    .map_err(CheckoutError::NotSaved)?;
                // Queued, not run: this returns as soon as the queue holds the signal.
                match FORM_SUBMIT.send(Ref::new(&order)).await {
                    Ok(sent) => Ok((order, sent.id())),
                    Err(e) => Err(CheckoutError::NotQueued(order, e)),
                }
            }
        }
    }

    /// Deletes an order (the order list's "cancel"); false when there was none.
    pub async fn cancel_order(&self, id: i64) -> Result<bool, BoxError> {
        match &self.backend {
            Backend::Sqlite(db) => db.cancel_order(id).await,
            Backend::Postgres(db) => db.cancel_order(id).await,
        }
    }

    /// The order with `id`, if it exists.
    pub async fn order(&self, id: i64) -> Result<Option<Order>, BoxError> {
        match &self.backend {
            Backend::Sqlite(db) => db.order(id).await,
            Backend::Postgres(db) => db.order(id).await,
        }
    }

    /// Every order, newest first.
    pub async fn orders(&self) -> Result<Vec<Order>, BoxError> {
        match &self.backend {
            Backend::Sqlite(db) => db.orders().await,
            Backend::Postgres(db) => db.orders().await,
        }
    }

    /// How many orders there are, and their total in cents.
    pub async fn totals(&self) -> Result<(i64, i64), BoxError> {
        match &self.backend {
            Backend::Sqlite(db) => db.totals().await,
            Backend::Postgres(db) => db.totals().await,
        }
    }

    /// Appends to the event log.
    pub async fn log_event(
        &self,
        order_id: i64,
        signal_id: String,
        message: String,
        took_ms: i64,
    ) -> Result<(), BoxError> {
        match &self.backend {
            Backend::Sqlite(db) => db.log_event(order_id, signal_id, message, took_ms).await,
            Backend::Postgres(db) => db.log_event(order_id, signal_id, message, took_ms).await,
        }
    }

    /// The event log, newest first.
    pub async fn events(&self) -> Result<Vec<Event>, BoxError> {
        match &self.backend {
            Backend::Sqlite(db) => db.events().await,
            Backend::Postgres(db) => db.events().await,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

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
