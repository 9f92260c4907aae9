//! Workers' heartbeats on PostgreSQL: the table `SCHEMA.workers`, a component of its own in
//! `migrations` (`workers`), created on the first beat so that a queue nobody runs a worker
//! for never gets it. A beat upserts the worker's row with its expiry on the server's clock and
//! drops the queue's expired rows in the same statement.

use std::time::Duration;

use async_trait::async_trait;

use super::{schema, PostgresEngine};
use crate::engine::{Beat, EngineError, Heartbeats};

/// The component name of the heartbeat table in `migrations`.
pub(super) const WORKERS_COMPONENT: &str = "workers";

/// The steps of the `workers` component. Append; never edit one.
pub(super) const WORKERS_STEPS: &[&str] = &[
    // Step 1.
    r#"
    CREATE TABLE {schema}.workers (
        queue      text        NOT NULL,
        worker     text        NOT NULL,
        info       bytea       NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (queue, worker)
    );
    "#,
];

impl PostgresEngine {
    /// Creates (or upgrades) the heartbeat table, once per engine.
    async fn workers_table(&self) -> Result<(), EngineError> {
        self.workers_schema
            .get_or_try_init(|| async {
                let mut client = self.client().await?;
                schema::migrate(
                    &mut **client,
                    &self.schema,
                    WORKERS_COMPONENT,
                    WORKERS_STEPS,
                )
                .await
                .map(|_| ())
                .map_err(|e| match e {
                    schema::MigrationError::Postgres(e) => self.error(e),
                    other => EngineError::Failed {
                        engine: self.shown.clone(),
                        message: other.to_string(),
                    },
                })
            })
            .await
            .copied()
    }

    fn table(&self) -> String {
        format!("{}.workers", schema::quoted(&self.schema))
    }
}

#[async_trait]
impl Heartbeats for PostgresEngine {
    async fn beat(&self, worker: &str, info: &[u8], ttl: Duration) -> Result<(), EngineError> {
        self.workers_table().await?;
        let t = self.table();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let sql = format!(
            "WITH expired AS (
                 DELETE FROM {t} WHERE queue = $1 AND expires_at <= now() AND worker <> $2)
             INSERT INTO {t} (queue, worker, info, expires_at)
             VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
             ON CONFLICT (queue, worker) DO UPDATE
                 SET info = excluded.info, expires_at = excluded.expires_at"
        );
        self.execute(
            &sql,
            &[&self.options.queue, &worker, &info, &(ttl_ms as f64)],
        )
        .await
        .map(|_| ())
    }

    async fn workers(&self) -> Result<Vec<Beat>, EngineError> {
        self.workers_table().await?;
        let sql = format!(
            "SELECT worker, info FROM {} WHERE queue = $1 AND expires_at > now()",
            self.table()
        );
        let rows = self.query(&sql, &[&self.options.queue]).await?;
        Ok(rows
            .iter()
            .map(|row| Beat {
                worker: row.get(0),
                info: row.get(1),
            })
            .collect())
    }

    async fn leave(&self, worker: &str) -> Result<(), EngineError> {
        self.workers_table().await?;
        let sql = format!(
            "DELETE FROM {} WHERE queue = $1 AND worker = $2",
            self.table()
        );
        self.execute(&sql, &[&self.options.queue, &worker])
            .await
            .map(|_| ())
    }
}
