//! Workers' heartbeats on Redis: each beat is a key `{sq:QUEUE}:worker:ID` holding what the
//! worker said, with a time to live, so Redis itself expires a worker that stopped beating
//! (on the server's clock: workers' clocks do not matter). The ZSET `{sq:QUEUE}:workers`
//! indexes the ids; listing drops the ids whose key has expired. Both keys carry the queue's
//! hash tag, so they sit in the queue's slot on Redis Cluster and `MGET` works there too.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::Value;

use super::{millis, RedisEngine, OP_TIMEOUT};
use crate::engine::{unix_ms, Beat, EngineError, Heartbeats};

#[async_trait]
impl Heartbeats for RedisEngine {
    async fn beat(&self, worker: &str, info: &[u8], ttl: Duration) -> Result<(), EngineError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.keys.worker(worker))
            .arg(info)
            .arg("PX")
            .arg(millis(ttl).max(1))
            .ignore()
            .cmd("ZADD")
            .arg(self.keys.workers())
            .arg(unix_ms(SystemTime::now()))
            .arg(worker)
            .ignore();
        let mut conn = self.conn.clone();
        self.run(OP_TIMEOUT, pipe.query_async::<()>(&mut conn))
            .await
    }

    async fn workers(&self) -> Result<Vec<Beat>, EngineError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(self.keys.workers()).arg(0).arg(-1);
        let ids: Vec<String> = self.run(OP_TIMEOUT, cmd.query_async(&mut conn)).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for id in &ids {
            mget.arg(self.keys.worker(id));
        }
        let infos: Vec<Value> = self.run(OP_TIMEOUT, mget.query_async(&mut conn)).await?;
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (id, info) in ids.into_iter().zip(infos) {
            match info {
                Value::BulkString(info) => live.push(Beat { worker: id, info }),
                _ => gone.push(id),
            }
        }
        if !gone.is_empty() {
            // A worker that beats again meanwhile is added back by its next beat.
            let mut zrem = redis::cmd("ZREM");
            zrem.arg(self.keys.workers()).arg(&gone);
            self.run(OP_TIMEOUT, zrem.query_async::<()>(&mut conn))
                .await?;
        }
        Ok(live)
    }

    async fn leave(&self, worker: &str) -> Result<(), EngineError> {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL")
            .arg(self.keys.worker(worker))
            .ignore()
            .cmd("ZREM")
            .arg(self.keys.workers())
            .arg(worker)
            .ignore();
        let mut conn = self.conn.clone();
        self.run(OP_TIMEOUT, pipe.query_async::<()>(&mut conn))
            .await
    }
}
