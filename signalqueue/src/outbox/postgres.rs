//! The outbox in an app's PostgreSQL database: `SCHEMA.outbox`, next to (or without) a queue.
//!
//! The relay takes the oldest rows with `FOR UPDATE SKIP LOCKED` in a transaction, enqueues
//! them, deletes those the queue acknowledged and commits: a relay killed mid-way rolls back
//! and the rows stay (to be relayed again: duplicates bounded by one batch), and several relays
//! share the outbox without waiting for each other. A trigger notifies the schema's
//! `SCHEMA.outbox` channel at every insert's commit, so an idle relay wakes at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::engine::postgres::connect::{self, Opened};
use crate::engine::postgres::error::{engine_error, pool_error};
use crate::engine::postgres::schema::quoted;
use crate::engine::postgres::wake::Listener;
use crate::engine::{EngineError, Outgoing};
use crate::error::Error;
use crate::outbox::{Forward, Outbox, OutboxRow, OutboxStats, Store};
use crate::transaction::OutboxTarget;

/// The outbox's component in `SCHEMA.migrations`.
const COMPONENT: &str = "outbox";

/// The outbox's steps (append, never edit). `{schema}` is the quoted schema.
const STEPS: &[&str] = &[
    // Step 1.
    r#"
    CREATE TABLE {schema}.outbox (
        id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue       text        NOT NULL,
        envelope_id text        NOT NULL,
        payload     bytea       NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        -- A delayed send's due time, carried into the queue by the relay; NULL: now.
        not_before  timestamptz
    );
    -- Idle relays are told at commit, once per inserting statement.
    CREATE FUNCTION {schema}.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '.outbox', '');
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox
        FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_outbox();
    "#,
];

/// Connections a relay needs: one for its batch, one for stats and the admin page.
const POOL_SIZE: usize = 4;

struct PgOutbox {
    shown: String,
    pool: deadpool_postgres::Pool,
    select: String,
    delete: String,
    stats: String,
    arrived: Arc<Notify>,
    _listener: Listener,
}

pub(super) async fn open(url: &str) -> Result<Outbox, Error> {
    let origin = "outbox";
    let opened = connect::open(url, POOL_SIZE, origin)?;
    opened.migrate(COMPONENT, STEPS, origin).await?;
    let Opened { url, tls, pool } = opened;
    let table = format!("{}.outbox", quoted(&url.schema));
    let arrived = Arc::new(Notify::new());
    let listener = Listener::spawn_on(
        url.config.clone(),
        tls,
        format!("{}.outbox", url.schema),
        None,
        url.shown.clone(),
        arrived.clone(),
    );
    let store = PgOutbox {
        shown: url.shown.clone(),
        pool,
        select: format!(
            "SELECT id, queue, envelope_id, payload, not_before FROM {table}
             WHERE queue = ANY($1) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"
        ),
        delete: format!("DELETE FROM {table} WHERE id = ANY($1)"),
        stats: format!(
            "SELECT count(*), coalesce((extract(epoch FROM now() - min(created_at)) * 1000)::bigint, 0)
             FROM {table}"
        ),
        arrived,
        _listener: listener,
    };
    Ok(Outbox {
        describe: url.shown.clone(),
        target: OutboxTarget::Postgres { schema: url.schema },
        store: Arc::new(store),
    })
}

impl PgOutbox {
    fn error(&self, e: tokio_postgres::Error) -> EngineError {
        engine_error(&format!("outbox {}", self.shown), &e)
    }
}

#[async_trait]
impl Store for PgOutbox {
    async fn relay_batch(
        &self,
        max: usize,
        queues: &[String],
        forward: Forward<'_>,
    ) -> Result<(usize, Option<Error>), EngineError> {
        let mut client = self
            .pool
            .get()
            .await
            .map_err(|e| pool_error(&self.shown, e))?;
        let tx = client.transaction().await.map_err(|e| self.error(e))?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let select = tx
            .prepare_cached(&self.select)
            .await
            .map_err(|e| self.error(e))?;
        let rows = tx
            .query(&select, &[&queues, &limit])
            .await
            .map_err(|e| self.error(e))?;
        let read = rows.len();
        if read == 0 {
            return Ok((0, None));
        }
        let rows: Vec<OutboxRow> = rows
            .iter()
            .map(|r| OutboxRow {
                id: r.get(0),
                queue: r.get(1),
                outgoing: Outgoing::new(
                    r.get::<_, String>(2).parse().unwrap_or_default(),
                    r.get(3),
                )
                .not_before(r.get::<_, Option<SystemTime>>(4)),
            })
            .collect();
        let (done, error) = forward(rows).await;
        if !done.is_empty() {
            let delete = tx
                .prepare_cached(&self.delete)
                .await
                .map_err(|e| self.error(e))?;
            tx.execute(&delete, &[&done])
                .await
                .map_err(|e| self.error(e))?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok((read, error))
    }

    async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.arrived.notified()).await;
    }

    async fn stats(&self) -> Result<OutboxStats, EngineError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| pool_error(&self.shown, e))?;
        let row = client
            .query_one(self.stats.as_str(), &[])
            .await
            .map_err(|e| self.error(e))?;
        Ok(OutboxStats {
            depth: row.get::<_, i64>(0).max(0) as u64,
            oldest_age_ms: row.get::<_, i64>(1).max(0) as u64,
        })
    }
}
