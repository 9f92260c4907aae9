//! `redis://`, `rediss://`, `redis-set://` and their Redis Cluster forms: the production
//! engines.
//!
//! A queue is a handful of keys under the hash tag `{sq:QUEUE}` (see `keys.rs` and
//! `docs/engines.md`). `send` appends raw payloads to a list with one `RPUSH` per batch, so any
//! language can enqueue with one command. A claim is one Lua script that first returns expired
//! leases and due retries to the list, then pops up to N entries and records for each a lease
//! deadline and a fresh fence; acks, renewals, retries, dead letters and releases are fenced
//! scripts too, one round trip for a whole batch of tokens. An empty queue is waited on with a
//! blocking `BLMOVE` on a connection of its own, so a new entry wakes a claimer at once and the
//! blocking read never delays the requests of senders.
//!
//! With `?replicas=N` in the URL, the writes that create entries (sends, ticks) go through
//! `replicated.rs` instead: in groups, each group's writes and one `WAIT` in one pipeline on a
//! connection of their own, so `send` returns only once N replicas hold the signal.
//!
//! `redis-set://` differs only in enqueueing: payloads wait in a hash keyed by the hash of their
//! content, so identical pending signals collapse into one until it is claimed.

mod browse;
mod connection;
mod content_hash;
mod heartbeats;
mod keys;
mod replicated;
mod scripts;
mod ticks;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use redis::{Cmd, ErrorKind, RedisError, RedisResult, Script, ServerErrorKind, Value};

use self::connection::{Connection, Target, MAX_BLOCK, RESPONSE_TIMEOUT};
use self::keys::QueueKeys;
use self::replicated::{Replicated, ReplicatedWrites};
use crate::engine::{
    AckedAndClaimed, ClaimToken, Claimed, Counts, DeadEntry, DeadLetter, Engine, EngineError,
    EngineOptions, EngineUrl, Entry, Outgoing, SharedEngine,
};
use crate::error::Error;

/// The most entries one claim takes, whatever is asked: keeps one script call (which blocks
/// Redis while it runs) short.
const MAX_CLAIM: usize = 1000;

/// How many expired leases and due retries one claim returns to the queue at most; the rest
/// follow at the next claims.
const SWEEP: usize = 1000;

/// The largest read limit handed to a script. Lua numbers are doubles printed with 14
/// significant digits, so a limit such as `usize::MAX` ("read everything") would reach
/// `LRANGE` as `1.844674407371e+19` and be refused as "not an integer".
const MAX_READ: usize = 1 << 40;

/// The bound on one whole operation, reconnection attempts included: past it the caller gets
/// [`EngineError::Unavailable`] rather than a wait on a server that is gone.
const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// A Redis engine (`redis://...` or `redis-set://...`, on one server or a cluster).
///
/// Open it with [`crate::engine::open`]. It connects on first use and reconnects by itself;
/// while Redis is unreachable every operation fails with [`EngineError::Unavailable`] within a
/// few seconds.
pub struct RedisEngine {
    dedup: bool,
    shown: String,
    keys: QueueKeys,
    options: EngineOptions,
    /// Serves every non-blocking request; shared (pipelined) by all tasks.
    conn: Connection,
    /// Serves only the blocking reads of `claim`, so they never hold up other requests. The lock
    /// keeps concurrent claimers from queueing their blocking reads behind each other on the
    /// socket, where the wait would count against the response timeout.
    blocking: tokio::sync::Mutex<Connection>,
    /// `?replicas=N`: the writes that create entries go here, each group followed by `WAIT`.
    replicated: Option<ReplicatedWrites>,
}

/// Opens a Redis engine for the URL `url`, already split into `parsed`.
pub(crate) async fn open(
    url: &str,
    parsed: &EngineUrl,
    options: EngineOptions,
) -> Result<SharedEngine, Error> {
    let config_error = |message: String| Error::Config {
        origin: "queue URL".into(),
        message,
    };
    keys::check_queue_name(&options.queue).map_err(config_error)?;
    let target = Target::parse(url, parsed).map_err(config_error)?;
    let shown = crate::engine::redact_url(url);
    let connect = |block| {
        target
            .connect(block)
            .map_err(|e| config_error(format!("cannot use `{shown}`: {e}")))
    };
    let conn = connect(Duration::ZERO)?;
    let blocking = connect(MAX_BLOCK)?;
    let replicated = match target.replication {
        Some(want) => Some(ReplicatedWrites::new(
            connect(want.timeout)?,
            want,
            OP_TIMEOUT + want.timeout,
        )),
        None => None,
    };
    Ok(Arc::new(RedisEngine {
        dedup: target.dedup,
        keys: QueueKeys::new(&options.queue),
        shown,
        options,
        conn,
        blocking: tokio::sync::Mutex::new(blocking),
        replicated,
    }))
}

impl RedisEngine {
    /// Runs one request against Redis within `limit`, turning failures into engine errors.
    async fn run<T>(
        &self,
        limit: Duration,
        request: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(limit, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.error(e)),
            Err(_) => Err(EngineError::Unavailable {
                engine: self.shown.clone(),
                message: format!("no answer within {} s", limit.as_secs()),
            }),
        }
    }

    /// Runs a script of [`scripts`] with this queue's keys and `args`.
    async fn script(
        &self,
        script: &'static Script,
        args: impl FnOnce(&mut Cmd),
    ) -> Result<Value, EngineError> {
        let cmd = self.evalsha(script, &[], args);
        self.on_shared(cmd, Some(script)).await
    }

    /// Runs `cmd` on the shared connection; an `EVALSHA` of `script` refused with `NOSCRIPT`
    /// (Redis lost its script cache: a restart, a failover) loads the script and runs again,
    /// which is safe since `NOSCRIPT` means the call did nothing.
    async fn on_shared(
        &self,
        cmd: Cmd,
        script: Option<&'static Script>,
    ) -> Result<Value, EngineError> {
        let mut conn = self.conn.clone();
        self.run(OP_TIMEOUT, async {
            match (cmd.query_async::<Value>(&mut conn).await, script) {
                (Err(e), Some(script))
                    if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) =>
                {
                    script.load_async(&mut conn).await?;
                    cmd.query_async::<Value>(&mut conn).await
                }
                (other, _) => other,
            }
        })
        .await
    }

    /// `EVALSHA` of `script` with the queue's keys, `extra_keys`, then `args`: built here
    /// rather than by the `redis` crate's `ScriptInvocation`, so a replicated write can go in a
    /// pipeline with its `WAIT`.
    fn evalsha(
        &self,
        script: &'static Script,
        extra_keys: &[String],
        args: impl FnOnce(&mut Cmd),
    ) -> Cmd {
        let keys = self.keys.all();
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash())
            .arg(keys.len() + extra_keys.len());
        for key in keys.iter().chain(extra_keys) {
            cmd.arg(key);
        }
        args(&mut cmd);
        cmd
    }

    /// Runs a write that creates entries: on the shared connection, or, when the URL asks for
    /// replicas, with the next group of replicated writes, returning only once they hold it.
    async fn write(&self, cmd: Cmd, script: Option<&'static Script>) -> Result<Value, EngineError> {
        let Some(replicated) = &self.replicated else {
            return self.on_shared(cmd, script).await;
        };
        match replicated.write(cmd, script).await {
            Replicated::Held(reply) => Ok(reply),
            Replicated::Failed(e) => Err(self.error(e)),
            Replicated::NotHeld { confirmed, refused } => {
                let want = replicated.want();
                let what = match refused {
                    None => format!(
                        "only {confirmed} of the {} replicas asked for (`replicas={}`) confirmed it within {} ms (`replica_timeout_ms`)",
                        want.replicas,
                        want.replicas,
                        want.timeout.as_millis()
                    ),
                    Some(e) => format!("`WAIT` for its replicas failed ({e})"),
                };
                Err(EngineError::Unavailable {
                    engine: self.shown.clone(),
                    message: format!(
                        "the primary took the write, but {what}; \
                         the signal may still be queued, and would be lost if the primary failed before a replica had it; \
                         sending again may queue it twice. Check that the primary's replicas are up and connected (`INFO replication`), or raise `replica_timeout_ms`"
                    ),
                })
            }
        }
    }

    /// Tells "cannot reach" (worth retrying later) from "Redis refused".
    fn error(&self, e: RedisError) -> EngineError {
        let unreachable = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_cluster_error()
            || e.code() == Some("BUSY")
            || matches!(
                e.kind(),
                ErrorKind::ClusterConnectionNotFound
                    | ErrorKind::Server(
                        ServerErrorKind::BusyLoading
                            | ServerErrorKind::MasterDown
                            | ServerErrorKind::ReadOnly
                    )
            );
        if unreachable {
            EngineError::Unavailable {
                engine: self.shown.clone(),
                message: e.to_string(),
            }
        } else {
            EngineError::Failed {
                engine: self.shown.clone(),
                message: e.to_string(),
            }
        }
    }

    fn malformed(&self, script: &str) -> EngineError {
        EngineError::Failed {
            engine: self.shown.clone(),
            message: format!(
                "unexpected reply from the `{script}` script; is another program writing to the keys of queue `{}`?",
                self.options.queue
            ),
        }
    }

    /// One claim script call: `(hint, claimed)`, where `hint` is how long nothing becomes
    /// claimable by time alone (`None`: nothing is scheduled or leased).
    async fn claim_once(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<(Option<Duration>, Vec<Claimed>), EngineError> {
        let reply = self
            .script(&scripts::CLAIM, |inv| {
                inv.arg(max)
                    .arg(millis(lease).max(1))
                    .arg(SWEEP)
                    .arg(crate::engine::consumer_id());
            })
            .await?;
        self.claimed_from(reply)
    }

    /// The claim script's reply: `(hint, claimed)`, as [`RedisEngine::claim_once`] returns it.
    fn claimed_from(&self, reply: Value) -> Result<(Option<Duration>, Vec<Claimed>), EngineError> {
        let bad = || self.malformed("claim");
        let Value::Array(items) = reply else {
            return Err(bad());
        };
        let mut items = items.into_iter();
        let hint = items.next().as_ref().and_then(int).ok_or_else(bad)?;
        let hint = u64::try_from(hint).ok().map(Duration::from_millis);
        let mut claimed = Vec::with_capacity(items.len() / 4);
        while let Some(id) = items.next() {
            let (Some(fence), Some(deliveries), Some(payload)) =
                (items.next(), items.next(), items.next())
            else {
                return Err(bad());
            };
            let key = bytes(id).and_then(|b| String::from_utf8(b).ok());
            let fence = int(&fence).and_then(|f| u64::try_from(f).ok());
            let deliveries = int(&deliveries).and_then(|d| u32::try_from(d).ok());
            let (Some(key), Some(fence), Some(deliveries), Some(payload)) =
                (key, fence, deliveries, bytes(payload))
            else {
                return Err(bad());
            };
            claimed.push(Claimed {
                token: ClaimToken { key, fence },
                payload,
                deliveries,
            });
        }
        Ok((hint, claimed))
    }

    /// Blocks until the pending list has an entry or `block` passed. `BLMOVE` from the list to
    /// itself, head to head, leaves the list as it was: it is a blocking peek, so an entry is
    /// never out of Redis's hands between the wake-up and the claim script.
    async fn wait_for_entry(&self, block: Duration) -> Result<(), EngineError> {
        let Ok(mut conn) = tokio::time::timeout(block, self.blocking.lock()).await else {
            // Another claimer of this engine is blocking already; it will find the entry.
            return Ok(());
        };
        let block = block.clamp(Duration::from_millis(1), MAX_BLOCK);
        let mut cmd = redis::cmd("BLMOVE");
        cmd.arg(self.keys.pending())
            .arg(self.keys.pending())
            .arg("LEFT")
            .arg("LEFT")
            .arg(format!("{:.3}", block.as_secs_f64()));
        let request = cmd.query_async::<Option<Vec<u8>>>(&mut *conn);
        self.run(block + RESPONSE_TIMEOUT, request).await?;
        Ok(())
    }

    /// Pairs of token arguments (`id`, `fence`) for the fenced scripts.
    fn token_args(inv: &mut Cmd, tokens: &[ClaimToken]) {
        for token in tokens {
            inv.arg(&token.key).arg(token.fence);
        }
    }

    /// One bool per token from a fenced script's `{1, 0, ...}` reply.
    fn flags(&self, script: &str, reply: Value, expected: usize) -> Result<Vec<bool>, EngineError> {
        let Value::Array(items) = reply else {
            return Err(self.malformed(script));
        };
        let flags: Option<Vec<bool>> = items.iter().map(|v| int(v).map(|n| n == 1)).collect();
        match flags {
            Some(flags) if flags.len() == expected => Ok(flags),
            _ => Err(self.malformed(script)),
        }
    }

    fn count(&self, script: &str, reply: &Value) -> Result<u64, EngineError> {
        int(reply)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| self.malformed(script))
    }

    fn dead_retention(&self) -> (u64, u64) {
        (self.options.dead_max, millis(self.options.dead_ttl))
    }
}

#[async_trait]
impl Engine for RedisEngine {
    fn kind(&self) -> &'static str {
        if self.dedup {
            "redis-set"
        } else {
            "redis"
        }
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn ticks(&self) -> Option<&dyn crate::engine::Ticks> {
        Some(self)
    }

    fn heartbeats(&self) -> Option<&dyn crate::engine::Heartbeats> {
        Some(self)
    }

    fn browse(&self) -> Option<&dyn crate::engine::Browse> {
        Some(self)
    }

    async fn ping(&self) -> Result<(), EngineError> {
        let mut conn = self.conn.clone();
        let ping = redis::cmd("PING");
        self.run(OP_TIMEOUT, ping.query_async::<Value>(&mut conn))
            .await?;
        Ok(())
    }

    async fn enqueue(&self, batch: &[Outgoing]) -> Result<(), EngineError> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = SystemTime::now();
        if batch.iter().any(|o| o.delayed_until(now).is_some()) {
            // One script for the whole batch, so it stays all or nothing. Delays rather than
            // times: the due time is reckoned on the server's clock, like retries and leases.
            let cmd = self.evalsha(&scripts::ENQUEUE_DELAYED, &[], |inv| {
                for item in batch {
                    let delay = item
                        .delayed_until(now)
                        .and_then(|due| due.duration_since(now).ok())
                        .map_or(0, |d| millis(d).max(1));
                    let hash = if self.dedup {
                        content_hash::content_hash(&item.payload)
                    } else {
                        Default::default()
                    };
                    inv.arg(delay).arg(hash).arg(&item.payload[..]);
                }
            });
            self.write(cmd, Some(&scripts::ENQUEUE_DELAYED)).await?;
            return Ok(());
        }
        if self.dedup {
            let cmd = self.evalsha(&scripts::ENQUEUE_SET, &[], |inv| {
                for item in batch {
                    inv.arg(content_hash::content_hash(&item.payload))
                        .arg(&item.payload[..]);
                }
            });
            self.write(cmd, Some(&scripts::ENQUEUE_SET)).await?;
        } else {
            // One command for the whole batch: the payloads go in as they are, exactly what a
            // producer in another language pushes by hand.
            let mut cmd = redis::cmd("RPUSH");
            cmd.arg(self.keys.pending());
            for item in batch {
                cmd.arg(&item.payload[..]);
            }
            self.write(cmd, None).await?;
        }
        Ok(())
    }

    async fn claim(
        &self,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Claimed>, EngineError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let max = max.min(MAX_CLAIM);
        let deadline = Instant::now() + wait;
        loop {
            let (hint, claimed) = self.claim_once(max, lease).await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(claimed);
            }
            // Sleep no longer than until a lease expires or a retry falls due: those do not
            // push anything onto the list, so they would not wake the blocking read.
            let mut block = deadline - now;
            if let Some(hint) = hint {
                block = block.min(hint);
            }
            self.wait_for_entry(block).await?;
        }
    }

    async fn renew(
        &self,
        tokens: &[ClaimToken],
        lease: Duration,
    ) -> Result<Vec<bool>, EngineError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let reply = self
            .script(&scripts::RENEW, |inv| {
                inv.arg(millis(lease).max(1));
                Self::token_args(inv, tokens);
            })
            .await?;
        self.flags("renew", reply, tokens.len())
    }

    async fn ack(&self, tokens: &[ClaimToken]) -> Result<Vec<bool>, EngineError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let reply = self
            .script(&scripts::ACK, |inv| Self::token_args(inv, tokens))
            .await?;
        self.flags("ack", reply, tokens.len())
    }

    async fn ack_and_claim(
        &self,
        acks: &[ClaimToken],
        max: usize,
        lease: Duration,
    ) -> Result<AckedAndClaimed, EngineError> {
        if max == 0 {
            return Ok(AckedAndClaimed::new(self.ack(acks).await?, Ok(Vec::new())));
        }
        let reply = self
            .script(&scripts::ACK_CLAIM, |inv| {
                inv.arg(max.min(MAX_CLAIM))
                    .arg(millis(lease).max(1))
                    .arg(SWEEP)
                    .arg(crate::engine::consumer_id());
                Self::token_args(inv, acks);
            })
            .await?;
        let Value::Array(parts) = reply else {
            return Err(self.malformed("ack_claim"));
        };
        let [acked, claimed]: [Value; 2] =
            parts.try_into().map_err(|_| self.malformed("ack_claim"))?;
        let acked = self.flags("ack_claim", acked, acks.len())?;
        // The acknowledgements were made: a claim reply that cannot be read is the claim's
        // failure alone.
        let claimed = self.claimed_from(claimed).map(|(_, claimed)| claimed);
        Ok(AckedAndClaimed::new(acked, claimed))
    }

    async fn retry(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        not_before: SystemTime,
    ) -> Result<bool, EngineError> {
        // Sent as a delay, so the due time is reckoned on the server's clock like the leases.
        let delay = not_before
            .duration_since(SystemTime::now())
            .map(millis)
            .unwrap_or(0);
        let reply = self
            .script(&scripts::RETRY, |inv| {
                Self::token_args(inv, std::slice::from_ref(token));
                inv.arg(payload).arg(delay);
            })
            .await?;
        Ok(self.count("retry", &reply)? == 1)
    }

    async fn dead_letter(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        reason: &str,
    ) -> Result<bool, EngineError> {
        let (max, ttl) = self.dead_retention();
        let reply = self
            .script(&scripts::DEAD_LETTER, |inv| {
                Self::token_args(inv, std::slice::from_ref(token));
                inv.arg(payload).arg(reason).arg(max).arg(ttl);
            })
            .await?;
        Ok(self.count("dead_letter", &reply)? == 1)
    }

    async fn split(
        &self,
        token: &ClaimToken,
        entries: &[Outgoing],
        dead: &[DeadLetter],
    ) -> Result<bool, EngineError> {
        let (max, ttl) = self.dead_retention();
        let now = SystemTime::now();
        let reply = self
            .script(&scripts::SPLIT, |inv| {
                Self::token_args(inv, std::slice::from_ref(token));
                inv.arg(max).arg(ttl).arg(entries.len());
                for entry in entries {
                    // Sent as a delay, as `retry` sends it: the server's clock decides.
                    let delay = entry
                        .delayed_until(now)
                        .and_then(|t| t.duration_since(now).ok())
                        .map(millis)
                        .unwrap_or(0);
                    inv.arg(delay).arg(entry.payload.as_slice());
                }
                for d in dead {
                    inv.arg(d.payload.as_slice()).arg(d.reason.as_str());
                }
            })
            .await?;
        Ok(self.count("split", &reply)? == 1)
    }

    async fn release(&self, tokens: &[ClaimToken]) -> Result<(), EngineError> {
        if tokens.is_empty() {
            return Ok(());
        }
        self.script(&scripts::RELEASE, |inv| Self::token_args(inv, tokens))
            .await?;
        Ok(())
    }

    async fn counts(&self) -> Result<Counts, EngineError> {
        let (max, ttl) = self.dead_retention();
        let reply = self
            .script(&scripts::COUNTS, |inv| {
                inv.arg(max).arg(ttl).arg(SWEEP);
            })
            .await?;
        let Value::Array(items) = reply else {
            return Err(self.malformed("counts"));
        };
        let n: Vec<u64> = items
            .iter()
            .map(|v| self.count("counts", v))
            .collect::<Result<_, _>>()?;
        let [pending, scheduled, in_flight, dead] = n[..] else {
            return Err(self.malformed("counts"));
        };
        Ok(Counts {
            pending,
            scheduled,
            in_flight,
            dead,
        })
    }

    async fn pending(&self, limit: usize) -> Result<Vec<Entry>, EngineError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let reply = self
            .script(&scripts::PENDING, |inv| {
                inv.arg(limit.min(MAX_READ));
            })
            .await?;
        let Value::Array(items) = reply else {
            return Err(self.malformed("pending"));
        };
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        while let (Some(key), Some(payload)) = (items.next(), items.next()) {
            let key = bytes(key).and_then(|b| String::from_utf8(b).ok());
            let (Some(key), Some(payload)) = (key, bytes(payload)) else {
                return Err(self.malformed("pending"));
            };
            entries.push(Entry { key, payload });
        }
        Ok(entries)
    }

    async fn dead(&self, limit: usize) -> Result<Vec<DeadEntry>, EngineError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (max, ttl) = self.dead_retention();
        let reply = self
            .script(&scripts::DEAD, |inv| {
                inv.arg(limit.min(MAX_READ)).arg(max).arg(ttl);
            })
            .await?;
        let Value::Array(items) = reply else {
            return Err(self.malformed("dead"));
        };
        let mut dead = Vec::with_capacity(items.len() / 4);
        let mut items = items.into_iter();
        while let Some(key) = items.next() {
            let (Some(payload), Some(reason), Some(died_at)) =
                (items.next(), items.next(), items.next())
            else {
                return Err(self.malformed("dead"));
            };
            let key = bytes(key).and_then(|b| String::from_utf8(b).ok());
            let reason = bytes(reason).map(|b| String::from_utf8_lossy(&b).into_owned());
            let died_at = int(&died_at).and_then(|ms| u64::try_from(ms).ok());
            let (Some(key), Some(payload), Some(reason), Some(died_at)) =
                (key, bytes(payload), reason, died_at)
            else {
                return Err(self.malformed("dead"));
            };
            dead.push(DeadEntry {
                key,
                payload,
                reason,
                died_at: crate::engine::from_unix_ms(died_at),
            });
        }
        Ok(dead)
    }

    async fn purge_pending(&self) -> Result<u64, EngineError> {
        let reply = self.script(&scripts::PURGE_PENDING, |_| {}).await?;
        self.count("purge_pending", &reply)
    }

    async fn purge_dead(&self) -> Result<u64, EngineError> {
        let reply = self.script(&scripts::PURGE_DEAD, |_| {}).await?;
        self.count("purge_dead", &reply)
    }

    async fn replay_dead(&self, keys: Option<&[String]>) -> Result<u64, EngineError> {
        if keys.is_some_and(|k| k.is_empty()) {
            return Ok(0);
        }
        let reply = self
            .script(&scripts::REPLAY_DEAD, |inv| match keys {
                None => {
                    inv.arg("all");
                }
                Some(keys) => {
                    inv.arg("keys");
                    for key in keys {
                        inv.arg(key);
                    }
                }
            })
            .await?;
        self.count("replay_dead", &reply)
    }
}

/// Whole milliseconds, capped at 2^50 (35,000 years, "forever"), so that Lua's doubles hold
/// every sum of such a duration and the current time exactly.
fn millis(d: Duration) -> u64 {
    const FOREVER: u64 = 1 << 50;
    u64::try_from(d.as_millis()).unwrap_or(FOREVER).min(FOREVER)
}

/// An integer reply, or a decimal one in a string (Lua numbers made into strings).
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// A string reply's bytes.
fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}
