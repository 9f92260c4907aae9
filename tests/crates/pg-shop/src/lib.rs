//! A model stored in PostgreSQL, sent by reference: the store (one connection, one table), the
//! `Order` model, two signals (`on_missing` deliver and skip) and their receivers.
//!
//! The table is private to a test run: its name comes from `SQ_PG_TABLE`, which the tests set
//! for the worker processes they start (and give the in-process store directly). Receivers
//! record what they saw in a process-wide journal and, when `SQ_TEST_JOURNAL` names a file,
//! append it there, so a test can read what a worker binary's receivers saw.

use std::io::Write;
use std::sync::Mutex;

use signalqueue::{async_signal, receiver, BoxError, Model, Ref, Stores};

/// The PostgreSQL the tests use when `SQ_PG_URL` is not set.
pub const DEFAULT_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// The store: one connection and the name of this run's table.
pub struct PgShop {
    client: tokio_postgres::Client,
    table: String,
}

signalqueue::provide_store!(PgShop, || async {
    let url = std::env::var("SQ_PG_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let table = std::env::var("SQ_PG_TABLE")
        .map_err(|_| "set SQ_PG_TABLE to the table of orders this process loads from")?;
    PgShop::connect(&url, &table).await
});

impl PgShop {
    /// Connects (without TLS: the server is on loopback) and uses `table`.
    pub async fn connect(url: &str, table: &str) -> Result<PgShop, BoxError> {
        if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("table name {table:?} is not a plain identifier").into());
        }
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        // The connection does the I/O; it ends when the client is dropped.
        tokio::spawn(connection);
        Ok(PgShop {
            client,
            table: table.to_string(),
        })
    }

    /// Creates the table.
    pub async fn create_table(&self) -> Result<(), BoxError> {
        let sql = format!(
            "CREATE TABLE {} (id BIGINT PRIMARY KEY, total_cents BIGINT NOT NULL, status TEXT NOT NULL)",
            self.table
        );
        self.client.batch_execute(&sql).await?;
        Ok(())
    }

    /// Drops the table.
    pub async fn drop_table(&self) -> Result<(), BoxError> {
        let sql = format!("DROP TABLE IF EXISTS {}", self.table);
        self.client.batch_execute(&sql).await?;
        Ok(())
    }

    /// Inserts or replaces an order.
    pub async fn save(&self, order: &Order) -> Result<(), BoxError> {
        let sql = format!(
            "INSERT INTO {} (id, total_cents, status) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET total_cents = EXCLUDED.total_cents, status = EXCLUDED.status",
            self.table
        );
        self.client
            .execute(&sql, &[&order.id, &order.total_cents, &order.status])
            .await?;
        Ok(())
    }

    /// Deletes an order.
    pub async fn delete(&self, id: i64) -> Result<(), BoxError> {
        let sql = format!("DELETE FROM {} WHERE id = $1", self.table);
        self.client.execute(&sql, &[&id]).await?;
        Ok(())
    }

    async fn find(&self, id: i64) -> Result<Option<Order>, BoxError> {
        let sql = format!(
            "SELECT id, total_cents, status FROM {} WHERE id = $1",
            self.table
        );
        let row = self.client.query_opt(&sql, &[&id]).await?;
        Ok(row.map(|r| Order {
            id: r.get(0),
            total_cents: r.get(1),
            status: r.get(2),
        }))
    }
}

/// An order row.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    /// The primary key.
    pub id: i64,
    /// The total, in cents.
    pub total_cents: i64,
    /// Where the order is (`new`, `paid`, ...).
    pub status: String,
}

impl Model for Order {
    const APP_LABEL: &'static str = "pgshop";
    const MODEL_NAME: &'static str = "order";
    type Key = i64;

    fn key(&self) -> i64 {
        self.id
    }

    async fn load(key: &i64, stores: &Stores) -> Result<Option<Self>, BoxError> {
        stores.get::<PgShop>().await?.find(*key).await
    }
}

/// An order was placed; a deleted order is delivered as `None`.
#[async_signal(providing_args = [instance: Ref<Order>], name = "pgshop.order_placed")]
pub static ORDER_PLACED: OrderPlaced;

/// An order was paid; nothing runs for an order deleted before the worker got to it.
#[async_signal(providing_args = [instance: Ref<Order>], name = "pgshop.order_paid", on_missing = "skip")]
pub static ORDER_PAID: OrderPaid;

static JOURNAL: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(line: String) {
    if let Ok(path) = std::env::var("SQ_TEST_JOURNAL") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            // One write per line: with O_APPEND it lands whole even when receivers of several
            // tasks record at once (`writeln!` may split it into two writes).
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
    JOURNAL.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

/// The lines recorded in this process so far.
pub fn journal() -> Vec<String> {
    JOURNAL.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `"<receiver> <key> <total_cents> <status>"`, or `"<receiver> <key> gone"`.
fn describe(receiver: &str, instance: &Ref<Order>) -> String {
    match instance.get() {
        Some(o) => format!("{receiver} {} {} {}", o.id, o.total_cents, o.status),
        None => format!("{receiver} {} gone", instance.key()),
    }
}

#[receiver(ORDER_PLACED)]
async fn on_placed(instance: Ref<Order>) {
    record(describe("placed", &instance));
}

#[receiver(ORDER_PAID)]
async fn on_paid(instance: Ref<Order>) {
    record(describe("paid", &instance));
}
