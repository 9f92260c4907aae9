//! Workers' heartbeats on SQLite: the table `workers` (`MIGRATIONS`, step 4), a row per
//! (queue, worker) with its expiry. A beat replaces the row and drops the queue's expired
//! ones; it does not wait for the disk (`Commit::Deferred`): a beat lost to a power cut is
//! replaced by the next one a few seconds later.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rusqlite::params;

use super::{begin, now_ms, Commit, SqliteEngine};
use crate::engine::{unix_ms, Beat, EngineError, Heartbeats};

#[async_trait]
impl Heartbeats for SqliteEngine {
    async fn beat(&self, worker: &str, info: &[u8], ttl: Duration) -> Result<(), EngineError> {
        let queue = self.options.queue.clone();
        let worker = worker.to_string();
        let info = info.to_vec();
        let expires = i64::try_from(unix_ms(SystemTime::now() + ttl)).unwrap_or(i64::MAX);
        self.run(move |conn| {
            let tx = begin(conn, Commit::Deferred)?;
            tx.prepare_cached("DELETE FROM workers WHERE queue = ?1 AND expires_at <= ?2")?
                .execute(params![queue, now_ms()])?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO workers (queue, worker, info, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![queue, worker, info, expires])?;
            tx.commit()
        })
        .await
    }

    async fn workers(&self) -> Result<Vec<Beat>, EngineError> {
        let queue = self.options.queue.clone();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT worker, info FROM workers WHERE queue = ?1 AND expires_at > ?2",
            )?;
            let rows = stmt.query_map(params![queue, now_ms()], |row| {
                Ok(Beat {
                    worker: row.get(0)?,
                    info: row.get(1)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn leave(&self, worker: &str) -> Result<(), EngineError> {
        let queue = self.options.queue.clone();
        let worker = worker.to_string();
        self.run(move |conn| {
            conn.prepare_cached("DELETE FROM workers WHERE queue = ?1 AND worker = ?2")?
                .execute(params![queue, worker])
                .map(|_| ())
        })
        .await
    }
}
