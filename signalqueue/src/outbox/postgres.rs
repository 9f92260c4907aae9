//! The outbox in an app's PostgreSQL database: `SCHEMA.outbox`, next to (or without) a queue.
//!
//! The relay takes the oldest rows with `FOR UPDATE SKIP LOCKED` in a transaction, enqueues
//! them, deletes those the queue acknowledged and commits: a relay killed mid-way rolls back
//! and the rows stay (to be relayed again: duplicates bounded by one batch), and several relays
//! share the outbox without waiting for each other. A trigger notifies the schema's
//! `SCHEMA.outbox` channel at an insert's commit while a relay waits, so an idle relay wakes at
//! once; a relay marks itself waiting in `outbox_sleepers` as a queue's worker does in
//! `sleepers` (`engine/postgres/idle.rs`, the same statements and the same rule).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::engine::postgres::connect::{self, Opened};
use crate::engine::postgres::error::{engine_error, pool_error};
use crate::engine::postgres::idle::{Idle, Mark, MARK_FOR};
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
    // Step 2: notify only while a relay waits, the queue's rule (queue step 3): a transaction
    // that notifies commits one WAL flush after every other notifying one, so app transactions
    // using `send_in` into the outbox committed one at a time. The relays mark themselves in
    // `outbox_sleepers` (`queue` is always ''); the trigger takes the outbox's lock shared,
    // then notifies if a mark is there (always, outside READ COMMITTED). SECURITY DEFINER, so
    // a role allowed only to INSERT into `outbox` need not read `outbox_sleepers`.
    r#"
    CREATE TABLE {schema}.outbox_sleepers (
        queue      text        NOT NULL,
        sleeper    text        NOT NULL,
        generation bigint      NOT NULL,
        until      timestamptz NOT NULL,
        PRIMARY KEY (queue, sleeper)
    );
    CREATE OR REPLACE FUNCTION {schema}.notify_outbox() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog AS $$
    DECLARE
        channel text := TG_TABLE_SCHEMA || '.outbox';
    BEGIN
        PERFORM pg_advisory_xact_lock_shared(hashtext(channel), hashtext(''));
        IF current_setting('transaction_isolation') <> 'read committed'
           OR EXISTS (SELECT 1 FROM {schema}.outbox_sleepers AS s
                      WHERE s.queue = '' AND s.until > now()) THEN
            PERFORM pg_notify(channel, '');
        END IF;
        RETURN NULL;
    END
    $$;
    "#,
];

/// Connections a relay needs: one for its batch, one for stats and the admin page, one for its
/// idle mark.
const POOL_SIZE: usize = 4;

/// How long a waiting relay naps when an insert is about to commit (its mark could not be made).
const PENDING_NAP: Duration = Duration::from_millis(2);

struct PgOutbox {
    shown: String,
    pool: deadpool_postgres::Pool,
    select: String,
    delete: String,
    stats: String,
    arrived: Arc<Notify>,
    /// This relay's mark in `outbox_sleepers`, which makes inserts notify.
    idle: Arc<Idle>,
    _listener: Listener,
}

pub(super) async fn open(url: &str) -> Result<Outbox, Error> {
    let origin = "outbox";
    let opened = connect::open(url, POOL_SIZE, origin)?;
    opened.migrate(COMPONENT, STEPS, origin).await?;
    let Opened { url, tls, pool } = opened;
    let table = format!("{}.outbox", quoted(&url.schema));
    let idle = Arc::new(Idle::in_table(
        pool.clone(),
        &format!("{}.outbox_sleepers", quoted(&url.schema)),
        format!("{}.outbox", url.schema),
        String::new(),
        url.shown.clone(),
    ));
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
        idle,
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
        if read == max {
            // A full batch: more rows are likely waiting, so the relay will not wait next and
            // inserts need not notify meanwhile. (After a partial batch it waits again, and
            // keeps its mark.)
            self.idle.busy();
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
        // Created before marking, so a notification in between still wakes this wait.
        let arrived = self.arrived.notified();
        // Never longer than half a mark: the mark must outlast the sleep.
        let timeout = timeout.min(MARK_FOR / 2);
        match self.idle.before_sleep().await {
            Ok(Mark::Held(sleeping)) => {
                let _ = tokio::time::timeout(timeout, arrived).await;
                drop(sleeping);
            }
            // Rows committed before the mark notified nobody: the relay looks once more.
            Ok(Mark::Made) => {}
            // An insert is about to commit: look again within a flush.
            Ok(Mark::InsertPending) => {
                let _ = tokio::time::timeout(timeout.min(PENDING_NAP), arrived).await;
            }
            // Without a mark, only the timeout wakes this relay.
            Err(e) => {
                tracing::debug!(outbox = %self.shown, error = %e, "cannot mark the relay idle");
                let _ = tokio::time::timeout(timeout, arrived).await;
            }
        }
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
