//! `send_in` with sqlx: `&mut sqlx::PgConnection` (what a `sqlx::Transaction<Postgres>`
//! derefs to) and `&mut sqlx::Transaction<'_, Postgres>`. The SQL and the decision are the
//! tokio-postgres ones (`postgres::place`); this is the driver they run through. sqlx keeps
//! each statement prepared on its connection (one round trip each after the first).

use futures_util::future::BoxFuture;
use sqlx::{PgConnection, Postgres};

use crate::error::Error;
use crate::transaction::postgres::{place, Batch, Driver, Probe, QueueWrite};
use crate::transaction::{AppTransaction, Placement};

struct Sqlx<'c>(&'c mut PgConnection);

impl Driver for Sqlx<'_> {
    type Error = sqlx::Error;

    async fn probe(&mut self, sql: &str) -> Result<Probe, Self::Error> {
        let (database, has_queue, outbox, has_send_in): (String, bool, Option<String>, bool) =
            sqlx::query_as(sql).fetch_one(&mut *self.0).await?;
        Ok(Probe {
            database,
            has_queue,
            has_send_in,
            outbox,
        })
    }

    async fn write_queue(
        &mut self,
        write: &QueueWrite<'_>,
        batch: &Batch<'_>,
    ) -> Result<u64, Self::Error> {
        if write.answers_count {
            let count: i64 = sqlx::query_scalar(&write.sql)
                .bind(batch.queue)
                .bind(&batch.payloads)
                .bind(write.instance)
                .bind(&batch.due)
                .fetch_one(&mut *self.0)
                .await?;
            Ok(u64::try_from(count).unwrap_or(0))
        } else {
            let done = sqlx::query(&write.sql)
                .bind(batch.queue)
                .bind(&batch.payloads)
                .bind(write.instance)
                .bind(&batch.due)
                .execute(&mut *self.0)
                .await?;
            Ok(done.rows_affected())
        }
    }

    async fn write_outbox(
        &mut self,
        sql: &str,
        ids: &[String],
        batch: &Batch<'_>,
    ) -> Result<(), Self::Error> {
        sqlx::query(sql)
            .bind(batch.queue)
            .bind(ids)
            .bind(&batch.payloads)
            .bind(&batch.due)
            .execute(&mut *self.0)
            .await
            .map(|_| ())
    }
}

impl<'c> AppTransaction for &'c mut PgConnection {
    type Placed = BoxFuture<'c, Result<(), Error>>;

    fn place(self, placement: Placement) -> Self::Placed {
        Box::pin(place(Sqlx(self), placement))
    }
}

impl<'c, 't> AppTransaction for &'c mut sqlx::Transaction<'t, Postgres> {
    type Placed = BoxFuture<'c, Result<(), Error>>;

    fn place(self, placement: Placement) -> Self::Placed {
        Box::pin(place(Sqlx(&mut *self), placement))
    }
}
