//! The demo's database in PostgreSQL (`DEMO_DB=postgres://...`): the same tables, and a
//! checkout that saves the order and sends its signal in one transaction (`send_in`).

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use signalqueue::{BoxError, EnvelopeId, Ref};
use tokio_postgres::NoTls;

use super::{now_ms, Event, Order};
use crate::FORM_SUBMIT;

/// A pool of connections to the demo's database.
pub(crate) struct PostgresDb {
    pool: Pool,
    shown: String,
}

const ORDER_COLUMNS: &str = "id, customer, item, quantity, total_cents, placed_at_ms";

impl PostgresDb {
    /// Connects and creates the tables if needed.
    pub(crate) async fn open(url: &str) -> Result<PostgresDb, BoxError> {
        let shown = signalqueue::engine::redact_url(url);
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| format!("`{shown}` is not a PostgreSQL URL: {e}"))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager).max_size(8).build()?;
        let client = pool
            .get()
            .await
            .map_err(|e| format!("cannot connect to the demo database `{shown}`: {e}"))?;
        client
            .batch_execute(
                "SET client_min_messages = warning;
                 CREATE TABLE IF NOT EXISTS demo_orders (
                     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                     customer text NOT NULL,
                     item text NOT NULL,
                     quantity bigint NOT NULL,
                     total_cents bigint NOT NULL,
                     placed_at_ms bigint NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS demo_event_log (
                     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                     order_id bigint NOT NULL,
                     signal_id text NOT NULL,
                     message text NOT NULL,
                     logged_at_ms bigint NOT NULL,
                     took_ms bigint NOT NULL
                 );
                 RESET client_min_messages;",
            )
            .await?;
        Ok(PostgresDb { pool, shown })
    }

    /// The URL, without its password.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Saves the order and sends `FORM_SUBMIT` about it in one transaction: both happen, or
    /// (on any error) neither.
    pub(crate) async fn checkout(
        &self,
        customer: String,
        item: String,
        quantity: i64,
        total_cents: i64,
    ) -> Result<(Order, EnvelopeId), BoxError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let placed_at_ms = now_ms();
        let row = tx
            .query_one(
                "INSERT INTO demo_orders (customer, item, quantity, total_cents, placed_at_ms)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&customer, &item, &quantity, &total_cents, &placed_at_ms],
            )
            .await?;
        let order = Order {
            id: row.get(0),
            customer,
            item,
            quantity,
            total_cents,
            placed_at_ms,
        };
        // In the transaction: a worker sees the signal when, and only if, the order is there.
        let sent = FORM_SUBMIT.send_in(&tx, Ref::new(&order)).await?;
        tx.commit().await?;
        Ok((order, sent.id()))
    }

    pub(crate) async fn cancel_order(&self, id: i64) -> Result<bool, BoxError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute("DELETE FROM demo_orders WHERE id = $1", &[&id])
            .await?
            > 0)
    }

    pub(crate) async fn order(&self, id: i64) -> Result<Option<Order>, BoxError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!("SELECT {ORDER_COLUMNS} FROM demo_orders WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.map(|r| order_from_row(&r)))
    }

    pub(crate) async fn orders(&self) -> Result<Vec<Order>, BoxError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!("SELECT {ORDER_COLUMNS} FROM demo_orders ORDER BY id DESC"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(order_from_row).collect())
    }

    pub(crate) async fn totals(&self) -> Result<(i64, i64), BoxError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*), coalesce(sum(total_cents), 0)::bigint FROM demo_orders",
                &[],
            )
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    pub(crate) async fn log_event(
        &self,
        order_id: i64,
        signal_id: String,
        message: String,
        took_ms: i64,
    ) -> Result<(), BoxError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO demo_event_log (order_id, signal_id, message, logged_at_ms, took_ms)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&order_id, &signal_id, &message, &now_ms(), &took_ms],
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn events(&self) -> Result<Vec<Event>, BoxError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, order_id, signal_id, message, logged_at_ms, took_ms
                 FROM demo_event_log ORDER BY id DESC",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Event {
                id: r.get(0),
                order_id: r.get(1),
                signal_id: r.get(2),
                message: r.get(3),
                logged_at_ms: r.get(4),
                took_ms: r.get(5),
            })
            .collect())
    }
}

fn order_from_row(r: &tokio_postgres::Row) -> Order {
    Order {
        id: r.get(0),
        customer: r.get(1),
        item: r.get(2),
        quantity: r.get(3),
        total_cents: r.get(4),
        placed_at_ms: r.get(5),
    }
}
