//! `send_in` with sqlx: `&mut sqlx::PgConnection` (what a `sqlx::Transaction<Postgres>`
//! derefs to) and `&mut sqlx::Transaction<'_, Postgres>`. The SQL is the tokio-postgres one.

use futures_util::future::BoxFuture;
use sqlx::{PgConnection, Postgres};

use crate::error::Error;
use crate::transaction::postgres::{due_ms, failed, outbox_insert_sql, Plan};
use crate::transaction::{AppTransaction, Placement};

async fn place(conn: &mut PgConnection, placement: Placement) -> Result<(), Error> {
    let plan = Plan::new(&placement);
    let (database, has_queue, outbox, has_send_in): (String, bool, Option<String>, bool) =
        sqlx::query_as(&plan.probe_sql())
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| failed(&placement, e))?;
    let payloads: Vec<Vec<u8>> = placement
        .entries
        .iter()
        .map(|e| e.payload.clone())
        .collect();
    let due = due_ms(&placement);
    if has_queue {
        if let Some(write) = plan.queue_write(has_send_in) {
            let written = if write.answers_count {
                let count: i64 = sqlx::query_scalar(&write.sql)
                    .bind(&placement.queue)
                    .bind(&payloads)
                    .bind(write.instance)
                    .bind(&due)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| failed(&placement, e))?;
                u64::try_from(count).unwrap_or(0)
            } else {
                sqlx::query(&write.sql)
                    .bind(&placement.queue)
                    .bind(&payloads)
                    .bind(write.instance)
                    .bind(&due)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| failed(&placement, e))?
                    .rows_affected()
            };
            if written as usize == placement.entries.len() {
                return Ok(());
            }
        }
    }
    let Some(schema) = outbox else {
        return Err(placement.nowhere(&format!("PostgreSQL database `{database}`")));
    };
    let ids: Vec<String> = placement.entries.iter().map(|e| e.id.to_string()).collect();
    sqlx::query(&outbox_insert_sql(&schema))
        .bind(&placement.queue)
        .bind(&ids)
        .bind(&payloads)
        .bind(&due)
        .execute(&mut *conn)
        .await
        .map_err(|e| failed(&placement, e))?;
    Ok(())
}

impl<'c> AppTransaction for &'c mut PgConnection {
    type Placed = BoxFuture<'c, Result<(), Error>>;

    fn place(self, placement: Placement) -> Self::Placed {
        Box::pin(place(self, placement))
    }
}

impl<'c, 't> AppTransaction for &'c mut sqlx::Transaction<'t, Postgres> {
    type Placed = BoxFuture<'c, Result<(), Error>>;

    fn place(self, placement: Placement) -> Self::Placed {
        Box::pin(place(self, placement))
    }
}
