//! The outbox in an app's SQLite file: the table `signalqueue_outbox`.
//!
//! The file is the app's: this leaves its journal mode and `user_version` alone and keeps its
//! own schema version in `signalqueue_migrations`. The relay reads rows without holding the
//! file's write lock while it talks to the queue (the app's writers would wait meanwhile), then
//! deletes what was enqueued; two relays on one file may therefore both relay a row, once each:
//! duplicates are bounded by a batch per relay, as at-least-once allows.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use rusqlite::{params, Connection, TransactionBehavior};

use crate::engine::{from_unix_ms, unix_ms, EngineError, EngineUrl, Outgoing};
use crate::envelope::EnvelopeId;
use crate::error::Error;
use crate::outbox::{Forward, Outbox, OutboxRow, OutboxStats, Store};
use crate::transaction::sqlite::{canonical, OUTBOX_TABLE};
use crate::transaction::OutboxTarget;

/// The outbox's schema, one step per version (append, never edit).
const STEPS: &[&str] = &["CREATE TABLE signalqueue_outbox (
         id          INTEGER PRIMARY KEY AUTOINCREMENT,
         queue       TEXT    NOT NULL,
         envelope_id TEXT    NOT NULL,
         payload     BLOB    NOT NULL,
         created_at  INTEGER NOT NULL,
         -- A delayed send's due time (Unix ms), carried into the queue by the relay; NULL: now.
         not_before  INTEGER
     )"];

/// How often a waiting relay asks whether another connection committed to the file.
const WATCH_INTERVAL: Duration = Duration::from_millis(5);

struct SqliteOutbox {
    describe: String,
    conn: Arc<Mutex<Connection>>,
}

pub(super) async fn open(url: &EngineUrl) -> Result<Outbox, Error> {
    let written = PathBuf::from(&url.rest);
    let describe = format!("sqlite://{}", written.display());
    let opened = {
        let inner = describe.clone();
        tokio::task::spawn_blocking(move || open_file(&written).map_err(|e| failed(&inner, e)))
            .await
            .map_err(|e| Error::Config {
                origin: format!("outbox `{describe}`"),
                message: format!("opening the file panicked: {e}"),
            })?
    };
    let (conn, path) = opened.map_err(|e| Error::Config {
        origin: format!("outbox `{describe}`"),
        message: e.to_string(),
    })?;
    let store = SqliteOutbox {
        describe: describe.clone(),
        conn: Arc::new(Mutex::new(conn)),
    };
    Ok(Outbox {
        describe,
        target: OutboxTarget::Sqlite { path },
        store: Arc::new(store),
    })
}

fn open_file(path: &Path) -> rusqlite::Result<(Connection, PathBuf)> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(crate::engine::sqlite::BUSY_TIMEOUT)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS signalqueue_migrations (
             component TEXT PRIMARY KEY, version INTEGER NOT NULL, instance TEXT NOT NULL)",
    )?;
    let version: i64 = tx
        .query_row(
            "SELECT version FROM signalqueue_migrations WHERE component = 'outbox'",
            [],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(0),
            e => Err(e),
        })?;
    let known = STEPS.len() as i64;
    if version > known {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!("the file's signalqueue outbox has schema version {version}, newer than this build understands ({known}); upgrade signalqueue in this program")),
        ));
    }
    for step in &STEPS[usize::try_from(version).unwrap_or(0)..] {
        tx.execute_batch(step)?;
    }
    tx.execute(
        "INSERT INTO signalqueue_migrations (component, version, instance) VALUES ('outbox', ?1, ?2)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version",
        params![known, EnvelopeId::new().to_string()],
    )?;
    tx.commit()?;
    Ok((conn, canonical(path)))
}

fn failed(describe: &str, e: rusqlite::Error) -> EngineError {
    EngineError::Failed {
        engine: format!("outbox {describe}"),
        message: e.to_string(),
    }
}

impl SqliteOutbox {
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, EngineError> {
        let conn = self.conn.clone();
        let describe = self.describe.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut conn).map_err(|e| failed(&describe, e))
        })
        .await
        .map_err(|e| EngineError::Failed {
            engine: format!("outbox {}", self.describe),
            message: format!("a blocking SQLite call failed: {e}"),
        })?
    }
}

#[async_trait]
impl Store for SqliteOutbox {
    async fn relay_batch(
        &self,
        max: usize,
        queues: &[String],
        forward: Forward<'_>,
    ) -> Result<(usize, Option<Error>), EngineError> {
        let queues: Vec<String> = queues.to_vec();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = self
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT id, queue, envelope_id, payload, not_before
                     FROM {OUTBOX_TABLE}
                     WHERE queue IN (SELECT value FROM json_each(?1)) ORDER BY id LIMIT ?2"
                ))?;
                let queues = serde_json::to_string(&queues).unwrap_or_else(|_| "[]".into());
                let rows = stmt.query_map(params![queues, limit], |row| {
                    let envelope: String = row.get(2)?;
                    Ok(OutboxRow {
                        id: row.get(0)?,
                        queue: row.get(1)?,
                        outgoing: Outgoing::new(envelope.parse().unwrap_or_default(), row.get(3)?)
                            .not_before(
                                row.get::<_, Option<i64>>(4)?
                                    .map(|ms| from_unix_ms(ms.max(0) as u64)),
                            ),
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        let read = rows.len();
        if read == 0 {
            return Ok((0, None));
        }
        let (done, error) = forward(rows).await;
        if !done.is_empty() {
            self.run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                {
                    let mut delete =
                        tx.prepare_cached(&format!("DELETE FROM {OUTBOX_TABLE} WHERE id = ?1"))?;
                    for id in &done {
                        delete.execute([id])?;
                    }
                }
                tx.commit()
            })
            .await?;
        }
        Ok((read, error))
    }

    async fn wait(&self, timeout: Duration) {
        let until = Instant::now() + timeout;
        let Ok(version) = self.run(data_version).await else {
            tokio::time::sleep(timeout).await;
            return;
        };
        while Instant::now() < until {
            tokio::time::sleep(WATCH_INTERVAL.min(until - Instant::now())).await;
            match self.run(data_version).await {
                Ok(now) if now == version => {}
                _ => return,
            }
        }
    }

    async fn stats(&self) -> Result<OutboxStats, EngineError> {
        self.run(|conn| {
            let (depth, oldest): (i64, Option<i64>) = conn.query_row(
                &format!("SELECT count(*), min(created_at) FROM {OUTBOX_TABLE}"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let now = unix_ms(SystemTime::now());
            Ok(OutboxStats {
                depth: depth.max(0) as u64,
                oldest_age_ms: oldest.map_or(0, |t| now.saturating_sub(t.max(0) as u64)),
            })
        })
        .await
    }
}

fn data_version(conn: &mut Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}
