//! The ticks of periodic signals on Redis: one script (`lua/enqueue_tick.lua`) sets the tick's
//! key `{sq:QUEUE}:tick:SCHEDULE:MS` with `SET NX PX` ([`TICK_TTL`]) and, only if it set it,
//! stores the entry exactly as `enqueue` does (for `redis-set://` with its content hash) and
//! raises the schedule's latest tick in the hash `{sq:QUEUE}:ticks`. A script runs alone, so
//! however many workers ask for a tick, one sets its key. Every key is under the queue's hash
//! tag, so it works on Redis Cluster too.

use std::time::SystemTime;

use async_trait::async_trait;
use redis::Value;

use super::{content_hash, int, millis, scripts, RedisEngine, OP_TIMEOUT};
use crate::engine::ticks::TICK_TTL;
use crate::engine::{from_unix_ms, unix_ms, EngineError, Outgoing, Ticks};

#[async_trait]
impl Ticks for RedisEngine {
    async fn enqueue_tick(
        &self,
        schedule: &str,
        tick: SystemTime,
        entry: &Outgoing,
    ) -> Result<bool, EngineError> {
        let tick = unix_ms(tick);
        let now = SystemTime::now();
        // As `enqueue` sends a delayed entry: a delay, reckoned on the server's clock.
        let delay = entry
            .delayed_until(now)
            .and_then(|due| due.duration_since(now).ok())
            .map_or(0, |d| millis(d).max(1));
        let hash = if self.dedup {
            content_hash::content_hash(&entry.payload)
        } else {
            String::new()
        };
        let keys = [self.keys.tick(schedule, tick), self.keys.last_ticks()];
        let cmd = self.evalsha(&scripts::ENQUEUE_TICK, &keys, |inv| {
            inv.arg(schedule)
                .arg(tick)
                .arg(millis(TICK_TTL))
                .arg(delay)
                .arg(hash)
                .arg(&entry.payload[..]);
        });
        // A tick is a send: with `?replicas=N` it waits for the replicas like one.
        let reply = self.write(cmd, Some(&scripts::ENQUEUE_TICK)).await?;
        Ok(self.count("enqueue_tick", &reply)? == 1)
    }

    async fn last_tick(&self, schedule: &str) -> Result<Option<SystemTime>, EngineError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(self.keys.last_ticks()).arg(schedule);
        let mut conn = self.conn.clone();
        let reply = self
            .run(OP_TIMEOUT, cmd.query_async::<Value>(&mut conn))
            .await?;
        match reply {
            Value::Nil => Ok(None),
            reply => int(&reply)
                .and_then(|ms| u64::try_from(ms).ok())
                .map(|ms| Some(from_unix_ms(ms)))
                .ok_or_else(|| self.malformed("last_tick")),
        }
    }
}
