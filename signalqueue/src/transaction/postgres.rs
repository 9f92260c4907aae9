//! `send_in` with a PostgreSQL transaction: the SQL and the decision ([`place`]), shared by
//! the tokio-postgres and sqlx integrations through a small [`Driver`] trait, and the
//! tokio-postgres driver.
//!
//! Two statements per send, sent with their parameter types, so nothing is prepared first. A
//! probe that cannot fail (so it never aborts the app's transaction) finds which of the
//! queue's table and the outboxes exist in the transaction's database; then one statement
//! writes the batch. Into the queue's table that is a call of the schema's function
//! `send_in` (schema step 6), whose insert PostgreSQL plans once per connection rather than at
//! every send, as it did the same `INSERT` sent as a statement (schemas made before step 6
//! still get that `INSERT`). The insert into the queue's table also checks the schema's
//! instance id, so a database that merely has a signalqueue schema of its own (a queue of
//! another deployment) is never written as if it were this queue's.

use std::future::Future;
use std::pin::Pin;

use tokio_postgres::types::Type;
use tokio_postgres::GenericClient;

use crate::engine::Colocation;
use crate::error::Error;
use crate::transaction::{AppTransaction, OutboxTarget, Placement};

/// What the probe found in the transaction's database.
pub(crate) struct Probe {
    /// `current_database()`, for errors.
    pub(crate) database: String,
    /// Whether the queue's `schema.entries` exists there.
    pub(crate) has_queue: bool,
    /// Whether the queue's schema has the function `send_in` (schema step 6).
    pub(crate) has_send_in: bool,
    /// The first configured outbox schema whose `outbox` table exists there.
    pub(crate) outbox: Option<String>,
}

/// The statements of one placement, decided before any is run.
pub(crate) struct Plan {
    /// The queue's schema and instance, when the queue is a PostgreSQL engine.
    queue: Option<(String, String)>,
    /// The configured outbox schemas, in order.
    outboxes: Vec<String>,
}

impl Plan {
    pub(crate) fn new(placement: &Placement) -> Plan {
        let queue = match &placement.colocation {
            Some(Colocation::Postgres { schema, instance }) => {
                Some((schema.clone(), instance.clone()))
            }
            _ => None,
        };
        let outboxes = placement
            .outboxes
            .iter()
            .filter_map(|o| match o {
                OutboxTarget::Postgres { schema } => Some(schema.clone()),
                _ => None,
            })
            .collect();
        Plan { queue, outboxes }
    }

    /// The probe: the database's name, whether the queue's table is there, and the first
    /// outbox schema that is. Schemas are plain identifiers (checked where configured), so
    /// they are written into the text; `to_regclass` answers NULL rather than failing.
    pub(crate) fn probe_sql(&self) -> String {
        let (has_queue, has_send_in) = match &self.queue {
            Some((schema, _)) => (
                format!("to_regclass('\"{schema}\".entries') IS NOT NULL"),
                format!(
                    "to_regprocedure('\"{schema}\".send_in(text, bytea[], text, float8[])') IS NOT NULL"
                ),
            ),
            None => ("false".into(), "false".into()),
        };
        let outbox = if self.outboxes.is_empty() {
            "NULL::text".to_string()
        } else {
            let cases: Vec<String> = self
                .outboxes
                .iter()
                .map(|s| format!("WHEN to_regclass('\"{s}\".outbox') IS NOT NULL THEN '{s}'"))
                .collect();
            format!("CASE {} END", cases.join(" "))
        };
        format!("SELECT current_database()::text, {has_queue}, {outbox}, {has_send_in}")
    }

    /// How to write into the queue's table: the call of the schema's `send_in` when the probe
    /// found it, else the `INSERT` of [`queue_insert_sql`](Self::queue_insert_sql); the same
    /// parameters either way.
    pub(crate) fn queue_write(&self, has_send_in: bool) -> Option<QueueWrite<'_>> {
        let (schema, instance) = self.queue.as_ref()?;
        if !has_send_in {
            let (sql, instance) = self.queue_insert_sql()?;
            return Some(QueueWrite {
                sql,
                instance,
                answers_count: false,
            });
        }
        Some(QueueWrite {
            sql: format!("SELECT \"{schema}\".send_in($1, $2, $3, $4)"),
            instance,
            answers_count: true,
        })
    }

    /// Inserts into the queue's table, only if the schema is the queue's own instance: returns
    /// the number of rows written (0 when it is another instance). Parameters: queue name,
    /// payloads, instance, due times (see [`due_ms`]). A delayed entry (due in the future) is
    /// moved by the trigger on `entries` into the queue's `delayed` table (schema step 5),
    /// claimable from its due time; the row count still counts it, which is what says the
    /// instance matched.
    pub(crate) fn queue_insert_sql(&self) -> Option<(String, &str)> {
        let (schema, instance) = self.queue.as_ref()?;
        Some((
            format!(
                "INSERT INTO \"{schema}\".entries (queue, payload, available_at, delayed)
                 SELECT $1, p, coalesce(to_timestamp(d / 1000.0), now()), d IS NOT NULL
                 FROM unnest($2::bytea[], $4::float8[]) WITH ORDINALITY AS t(p, d, n)
                 WHERE EXISTS (SELECT 1 FROM \"{schema}\".migrations
                               WHERE component = 'queue' AND instance = $3)
                 ORDER BY n"
            ),
            instance.as_str(),
        ))
    }
}

/// The statement that writes a batch into the queue's table.
pub(crate) struct QueueWrite<'p> {
    /// Parameters: queue name, payloads, instance, due times (see [`due_ms`]).
    pub(crate) sql: String,
    pub(crate) instance: &'p str,
    /// The statement answers one row holding how many entries it wrote (the call of
    /// `send_in`), rather than a row count (the `INSERT`).
    pub(crate) answers_count: bool,
}

/// Inserts into an outbox. Parameters: queue name, envelope ids, payloads, due times (see
/// [`due_ms`]). The relay carries a due time into the queue, which keeps the entry until then.
pub(crate) fn outbox_insert_sql(schema: &str) -> String {
    format!(
        "INSERT INTO \"{schema}\".outbox (queue, envelope_id, payload, not_before)
         SELECT $1, e, p, to_timestamp(d / 1000.0)
         FROM unnest($2::text[], $3::bytea[], $4::float8[]) WITH ORDINALITY AS t(e, p, d, n)
         ORDER BY n"
    )
}

/// Each entry's due time, if in the future, as Unix milliseconds: float8 rather than
/// timestamptz because both drivers bind `f64` without optional features (sqlx binds no
/// `SystemTime`).
pub(crate) fn due_ms(placement: &Placement) -> Vec<Option<f64>> {
    let now = std::time::SystemTime::now();
    placement
        .entries
        .iter()
        .map(|e| {
            e.delayed_until(now)
                .map(|t| crate::engine::unix_ms(t) as f64)
        })
        .collect()
}

/// A database error in the app's transaction, said so.
pub(crate) fn failed(placement: &Placement, e: impl std::fmt::Display) -> Error {
    Error::Transaction(format!(
        "cannot send `{}` in this transaction: the database said: {e}",
        placement.signal
    ))
}

/// A batch as both drivers bind it.
pub(crate) struct Batch<'p> {
    pub(crate) queue: &'p str,
    pub(crate) payloads: Vec<&'p [u8]>,
    pub(crate) due: Vec<Option<f64>>,
}

impl<'p> Batch<'p> {
    fn new(placement: &'p Placement) -> Batch<'p> {
        Batch {
            queue: &placement.queue,
            payloads: placement
                .entries
                .iter()
                .map(|e| e.payload.as_slice())
                .collect(),
            due: due_ms(placement),
        }
    }
}

/// What the shared flow ([`place`]) needs of an app's PostgreSQL connection, one method per
/// kind of statement; the tokio-postgres and sqlx integrations each implement it over their
/// own client, so the decision is written once.
pub(crate) trait Driver: Send {
    /// The driver's error, shown to the app in [`failed`].
    type Error: std::fmt::Display + Send;

    /// Runs the probe of [`Plan::probe_sql`].
    fn probe(&mut self, sql: &str) -> impl Future<Output = Result<Probe, Self::Error>> + Send;

    /// Runs a write into the queue's table; returns how many entries it wrote.
    fn write_queue(
        &mut self,
        write: &QueueWrite<'_>,
        batch: &Batch<'_>,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Runs the insert of [`outbox_insert_sql`].
    fn write_outbox(
        &mut self,
        sql: &str,
        ids: &[String],
        batch: &Batch<'_>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The whole placement, with either driver: the probe (it cannot fail), then the one write it
/// allows.
pub(crate) async fn place<D: Driver>(mut conn: D, placement: Placement) -> Result<(), Error> {
    let plan = Plan::new(&placement);
    let batch = Batch::new(&placement);
    let wanted = placement.entries.len() as u64;
    let probe_sql = plan.probe_sql();
    let probe = conn
        .probe(&probe_sql)
        .await
        .map_err(|e| failed(&placement, e))?;
    if probe.has_queue {
        if let Some(write) = plan.queue_write(probe.has_send_in) {
            let written = conn
                .write_queue(&write, &batch)
                .await
                .map_err(|e| failed(&placement, e))?;
            if written == wanted {
                return Ok(());
            }
        }
    }
    let Some(schema) = probe.outbox else {
        return Err(placement.nowhere(&format!("PostgreSQL database `{}`", probe.database)));
    };
    let ids: Vec<String> = placement.entries.iter().map(|e| e.id.to_string()).collect();
    conn.write_outbox(&outbox_insert_sql(&schema), &ids, &batch)
        .await
        .map_err(|e| failed(&placement, e))
}

/// The tokio-postgres driver: any client (a transaction, normally). Statements go with their
/// parameter types, so none is prepared first (one round trip each).
struct TokioPostgres<'c, C>(&'c C);

impl<C: GenericClient + Sync> TokioPostgres<'_, C> {
    async fn probe_on(&self, sql: &str) -> Result<Probe, tokio_postgres::Error> {
        let row = self.0.query_typed_one(sql, &[]).await?;
        Ok(Probe {
            database: row.get(0),
            has_queue: row.get(1),
            outbox: row.get(2),
            has_send_in: row.get(3),
        })
    }

    async fn write_on(
        &self,
        write: &QueueWrite<'_>,
        batch: &Batch<'_>,
    ) -> Result<u64, tokio_postgres::Error> {
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 4] = [
            (&batch.queue, Type::TEXT),
            (&batch.payloads, Type::BYTEA_ARRAY),
            (&write.instance, Type::TEXT),
            (&batch.due, Type::FLOAT8_ARRAY),
        ];
        if write.answers_count {
            let row = self.0.query_typed_one(write.sql.as_str(), &params).await?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        } else {
            self.0.execute_typed(write.sql.as_str(), &params).await
        }
    }
}

impl<C: GenericClient + Sync> Driver for TokioPostgres<'_, C> {
    type Error = tokio_postgres::Error;

    async fn probe(&mut self, sql: &str) -> Result<Probe, Self::Error> {
        self.probe_on(sql).await
    }

    async fn write_queue(
        &mut self,
        write: &QueueWrite<'_>,
        batch: &Batch<'_>,
    ) -> Result<u64, Self::Error> {
        self.write_on(write, batch).await
    }

    async fn write_outbox(
        &mut self,
        sql: &str,
        ids: &[String],
        batch: &Batch<'_>,
    ) -> Result<(), Self::Error> {
        self.0
            .execute_typed(
                sql,
                &[
                    (&batch.queue, Type::TEXT),
                    (&ids, Type::TEXT_ARRAY),
                    (&batch.payloads, Type::BYTEA_ARRAY),
                    (&batch.due, Type::FLOAT8_ARRAY),
                ],
            )
            .await
            .map(|_| ())
    }
}

impl<'t, 'c> AppTransaction for &'t tokio_postgres::Transaction<'c> {
    type Placed = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 't>>;

    fn place(self, placement: Placement) -> Self::Placed {
        Box::pin(place(TokioPostgres(self), placement))
    }
}

impl<'t, 'c> AppTransaction for &'t deadpool_postgres::Transaction<'c> {
    type Placed = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 't>>;

    fn place(self, placement: Placement) -> Self::Placed {
        let tx: &'t tokio_postgres::Transaction<'c> = self;
        Box::pin(place(TokioPostgres(tx), placement))
    }
}
