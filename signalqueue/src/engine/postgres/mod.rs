//! `postgres://` and `postgresql://`: a queue in tables of a PostgreSQL database.
//!
//! The tables live in one schema (`signalqueue` unless the URL says `?schema=NAME`), created on
//! first open by `schema::migrate`: `entries` holds the entries of every queue in the schema
//! (column `queue`) in insertion order (`id`), `delayed` the delayed ones until a claim moves
//! them into `entries` once due (`claim.rs`), `dead` the dead letters. Another program, in any
//! language, enqueues with one `INSERT INTO signalqueue.entries (queue, payload) VALUES (...)`,
//! and an app's own transaction can insert there too (`send_in`), so the signal is queued if and
//! only if that transaction commits.
//!
//! Durability: every write is one committed statement (or transaction). Enqueues, retries, dead
//! letters, replays and purges commit at the server's `synchronous_commit` (`on` by default: in
//! PostgreSQL's write-ahead log, flushed, when the call returns). Concurrent enqueues of one
//! engine share one such statement (`group_commit.rs`), each answered after it committed.
//! Claims, renewals, acks and releases commit on connections with `synchronous_commit=off`, as
//! the SQLite engine does for the same calls: they are visible at once, and a server crash can
//! lose the last of them (at most three `wal_writer_delay`s, 600 ms by default), which only
//! gives entries back to be delivered again — an acked entry runs again, a claim is undone and
//! its entry claimed anew under a higher fence. Nothing acknowledged to a sender is lost.
//!
//! Claims: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`, so concurrent claimers
//! never wait for each other and never take one entry twice; each claim bumps the entry's fence,
//! and acks, renewals, retries and dead letters must present it, with the lease still running.
//!
//! Waiting: a claim that finds nothing waits for a notification (`wake.rs`: `LISTEN` on the
//! schema's channel, which a trigger on `entries` signals at every insert's commit), for the
//! earliest due retry or lease end of its queue, or for the poll interval, whichever is first.
//!
//! Connections come from a `deadpool-postgres` pool that drops broken ones, so after a server
//! restart the next calls get fresh connections; while the server is down calls fail with
//! [`EngineError::Unavailable`] within the connect timeout.

mod browse;
mod claim;
pub(crate) mod connect;
pub(crate) mod error;
mod group_commit;
mod heartbeats;
pub(crate) mod idle;
pub(crate) mod schema;
mod ticks;
mod tls;
mod url;
pub(crate) mod wake;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use tokio::sync::Notify;

use self::connect::Opened;
use self::error::{engine_error, pool_error};
use self::group_commit::GroupCommit;
use self::idle::{Idle, Mark};
use self::wake::Listener;
use crate::engine::{
    ClaimToken, Claimed, Colocation, Counts, DeadEntry, DeadLetter, Engine, EngineError,
    EngineOptions, Entry, Outgoing, SharedEngine,
};
use crate::error::Error;

/// How many connections one engine's pool opens at most. Each call holds one for a single
/// statement (a transaction for dead-lettering), so a few serve many concurrent tasks; the cap
/// keeps a burst of sends from taking a large share of the server's `max_connections`.
const POOL_SIZE: usize = 16;

/// Connections of the pool for claims, renewals, acks and releases (`lease`). A worker's claim
/// loop, acker and renewer of a queue each hold one for a statement at a time.
const LEASE_POOL_SIZE: usize = 8;

/// The shortest sleep of a waiting claim between two looks: an entry locked by another claimer
/// at that instant looks due, and must not make this one spin.
const MIN_NAP: Duration = Duration::from_millis(10);

/// The first nap of a waiting claim that found an insert of its queue about to commit
/// (`idle::Mark::InsertPending`): it commits within a flush, usually.
const PENDING_NAP: Duration = Duration::from_millis(1);

/// The longest dead-letter age honoured: `now() - dead_ttl` must stay a valid timestamp.
const MAX_DEAD_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The PostgreSQL engine. Open one with [`open`](crate::engine::open) and a `postgres://` URL.
pub struct PostgresEngine {
    /// The URL with its password masked.
    shown: String,
    schema: String,
    /// The schema's `LISTEN`/`NOTIFY` channel.
    channel: String,
    /// The schema's `queue` instance id, recorded in `migrations`.
    instance: String,
    options: EngineOptions,
    /// Enqueues, retries, dead letters and everything else: committed at the server's
    /// `synchronous_commit` (`on` by default, flushed before the call returns).
    pool: Pool,
    /// Claims, renewals, acks and releases, committed without waiting for the flush
    /// (`connect::Opened::lease_pool`): a crash of the server can lose the last few of them,
    /// which only gives entries back to be delivered again.
    lease: Pool,
    sql: Sql,
    /// Wakes this engine's waiting claims: from the listener, and from this engine's own
    /// writes (at once, without the round trip through the server).
    arrived: Arc<Notify>,
    /// Concurrent enqueues share one statement (one commit) per group.
    group: Arc<GroupCommit>,
    /// This engine's mark in `sleepers`, which makes inserts notify.
    idle: Arc<Idle>,
    /// Set once the heartbeat table exists (`heartbeats.rs`).
    workers_schema: tokio::sync::OnceCell<()>,
    /// When a claim should next move due delayed entries into `entries` (`claim.rs`).
    next_promotion: std::sync::Mutex<Instant>,
    _listener: Listener,
}

/// Opens the engine a `postgres://` URL names, creating or upgrading its schema.
pub(crate) async fn open(url: &str, options: EngineOptions) -> Result<SharedEngine, Error> {
    Ok(Arc::new(PostgresEngine::open(url, options).await?))
}

impl PostgresEngine {
    /// Parses the URL, connects, migrates the schema and starts the wake-up listener.
    pub(crate) async fn open(url: &str, options: EngineOptions) -> Result<Self, Error> {
        let origin = format!("queue `{}`", options.queue);
        let opened = connect::open(url, POOL_SIZE, &origin)?;
        let instance = opened
            .migrate(schema::QUEUE_COMPONENT, schema::QUEUE_STEPS, &origin)
            .await?;
        let lease = opened.lease_pool(LEASE_POOL_SIZE, &origin)?;
        let idle = Arc::new(Idle::new(
            lease.clone(),
            &opened.url.schema,
            options.queue.clone(),
            opened.url.shown.clone(),
        ));
        let Opened {
            url: parsed,
            tls,
            pool,
        } = opened;
        let shown = parsed.shown.clone();

        let arrived = Arc::new(Notify::new());
        let listener = Listener::spawn(
            parsed.config.clone(),
            tls,
            &parsed.schema,
            options.queue.clone(),
            shown.clone(),
            arrived.clone(),
        );
        let sql = Sql::new(&parsed.schema);
        let group = Arc::new(GroupCommit::new(
            pool.clone(),
            [sql.enqueue.clone(), sql.enqueue_later.clone()],
            options.queue.clone(),
            shown.clone(),
            arrived.clone(),
        ));
        Ok(PostgresEngine {
            sql,
            group,
            idle,
            channel: schema::channel(&parsed.schema),
            schema: parsed.schema,
            instance,
            shown,
            options,
            pool,
            lease,
            arrived,
            workers_schema: tokio::sync::OnceCell::new(),
            next_promotion: std::sync::Mutex::new(Instant::now()),
            _listener: listener,
        })
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<Object, EngineError> {
        self.pool
            .get()
            .await
            .map_err(|e| pool_error(&self.shown, e))
    }

    fn error(&self, e: tokio_postgres::Error) -> EngineError {
        engine_error(&self.shown, &e)
    }

    /// Runs `sql` (prepared once per connection) and returns its rows.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, EngineError> {
        self.query_on(&self.pool, sql, params).await
    }

    /// [`query`](Self::query) on a connection of `pool`.
    async fn query_on(
        &self,
        pool: &Pool,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, EngineError> {
        let client = pool.get().await.map_err(|e| pool_error(&self.shown, e))?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.error(e))?;
        client
            .query(&statement, params)
            .await
            .map_err(|e| self.error(e))
    }

    /// Runs `sql` (prepared once per connection) and returns how many rows it changed.
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, EngineError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.error(e))?;
        client
            .execute(&statement, params)
            .await
            .map_err(|e| self.error(e))
    }

    /// One attempt to claim up to `max` ready entries, oldest first. When there are none, also
    /// says how long until the queue's earliest retry falls due or lease ends (`None`: the
    /// queue holds nothing at all).
    async fn claim_now(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<Claimed>, Option<Duration>), EngineError> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let sql = if self.promotion_due() {
            &self.sql.claim_promoting
        } else {
            &self.sql.claim
        };
        let rows = self
            .query_on(
                &self.lease,
                sql,
                &[
                    &self.options.queue,
                    &limit,
                    &millis(lease),
                    &crate::engine::consumer_id(),
                ],
            )
            .await?;
        if !rows.is_empty() {
            let mut claimed: Vec<(i64, Claimed)> = rows
                .iter()
                .map(|row| {
                    let id: i64 = row.get(0);
                    let claimed = Claimed {
                        token: ClaimToken {
                            key: id.to_string(),
                            fence: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                        },
                        deliveries: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
                        payload: row.get(3),
                    };
                    (id, claimed)
                })
                .collect();
            // RETURNING gives no order; the contract says oldest first.
            claimed.sort_by_key(|(id, _)| *id);
            return Ok((claimed.into_iter().map(|(_, c)| c).collect(), None));
        }
        let rows = self
            .query_on(&self.lease, &self.sql.next_due, &[&self.options.queue])
            .await?;
        let due = rows
            .first()
            .and_then(|row| row.get::<_, Option<f64>>(0))
            .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0));
        Ok((Vec::new(), due))
    }

    /// Whether this claim should also move due delayed entries into `entries`: at most once
    /// per [`claim::PROMOTE_EVERY`], which every look after a waiting claim's nap is.
    fn promotion_due(&self) -> bool {
        let now = Instant::now();
        let mut next = self
            .next_promotion
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if now < *next {
            return false;
        }
        *next = now + claim::PROMOTE_EVERY;
        true
    }

    /// Deletes this queue's dead letters beyond `dead_max` and older than `dead_ttl`.
    async fn trim_dead(&self) -> Result<(), EngineError> {
        let (keep, ttl) = self.dead_limits();
        self.execute(&self.sql.trim_dead, &[&self.options.queue, &ttl, &keep])
            .await
            .map(|_| ())
    }

    /// How many dead letters to keep, and for how long (ms), as `trim_dead` takes them.
    fn dead_limits(&self) -> (i64, f64) {
        let keep = i64::try_from(self.options.dead_max).unwrap_or(i64::MAX);
        (keep, millis(self.options.dead_ttl.min(MAX_DEAD_TTL)))
    }

    /// Runs a batched, fenced statement over `tokens` (`$1` queue, `$2` ids, `$3` fences, `$4`
    /// the `extra` parameter if any) that returns the `(id, fence)` of each entry it changed; answers one bool per
    /// token. A token that repeats an earlier one of the batch counts only when `repeatable`
    /// (a second renewal of one lease succeeds; a second ack of it does not).
    async fn fenced(
        &self,
        sql: &str,
        tokens: &[ClaimToken],
        extra: Option<Extra>,
        repeatable: bool,
    ) -> Result<Vec<bool>, EngineError> {
        let parsed: Vec<Option<(i64, i64)>> = tokens.iter().map(parse_token).collect();
        let (ids, fences): (Vec<i64>, Vec<i64>) = parsed.iter().flatten().copied().unzip();
        if ids.is_empty() {
            return Ok(vec![false; tokens.len()]);
        }
        let queue = &self.options.queue;
        // Every fenced batch (renew, ack, release) only gives entries back if lost.
        let pool = &self.lease;
        let rows = match extra {
            Some(Extra::Lease(lease)) => {
                self.query_on(pool, sql, &[queue, &ids, &fences, &lease])
                    .await?
            }
            Some(Extra::Channel) => {
                self.query_on(pool, sql, &[queue, &ids, &fences, &self.channel])
                    .await?
            }
            None => self.query_on(pool, sql, &[queue, &ids, &fences]).await?,
        };
        let mut changed: HashMap<(i64, i64), bool> = rows
            .iter()
            .map(|row| ((row.get(0), row.get(1)), true))
            .collect();
        Ok(parsed
            .iter()
            .map(|token| {
                let Some(token) = token else { return false };
                match changed.get_mut(token) {
                    Some(fresh) if repeatable => *fresh,
                    Some(fresh) => std::mem::replace(fresh, false),
                    None => false,
                }
            })
            .collect())
    }
}

/// The fourth parameter of a fenced batch statement.
enum Extra {
    /// The new lease, in milliseconds.
    Lease(f64),
    /// The schema's notification channel.
    Channel,
}

/// The engine's statements, with the schema written in.
struct Sql {
    enqueue: String,
    enqueue_later: String,
    claim: String,
    claim_promoting: String,
    next_due: String,
    renew: String,
    ack: String,
    retry: String,
    dead_letter: String,
    split_remove: String,
    split_dead: String,
    trim_dead: String,
    release: String,
    counts: String,
    pending: String,
    dead: String,
    purge_pending: String,
    purge_dead: String,
    replay: String,
    enqueue_tick: String,
    last_tick: String,
}

impl Sql {
    fn new(schema: &str) -> Sql {
        let s = schema::quoted(schema);
        Sql {
            // One statement per batch; WITH ORDINALITY keeps the batch's order in the ids.
            // `$3` holds each entry's due time, all NULL for this statement (`enqueue_later`
            // takes batches with delayed entries): inserting into `delayed` too would run its
            // statement trigger, empty, at every send.
            enqueue: format!(
                "INSERT INTO {s}.entries (queue, payload, available_at)
                 SELECT $1, p, coalesce(d, now())
                 FROM unnest($2::bytea[], $3::timestamptz[]) WITH ORDINALITY AS t(p, d, n)
                 ORDER BY n"
            ),
            // A batch with delayed entries (a due time in `$3`): those go into `delayed`, by
            // due time, out of the claim's table, its heap and its indexes; a claim moves them
            // into `entries` once due, and a waiting claim finds there the time to sleep
            // until. So any number of them costs a claim of ready entries nothing. Written
            // here rather than through the trigger that moves delayed rows inserted into
            // `entries` (`schema.rs`, step 5), which would leave a dead row in `entries` for
            // each.
            enqueue_later: format!(
                "WITH batch AS (
                     SELECT p, d, n
                     FROM unnest($2::bytea[], $3::timestamptz[]) WITH ORDINALITY AS t(p, d, n)),
                 later AS (
                     INSERT INTO {s}.delayed (queue, payload, available_at)
                     SELECT $1, p, d FROM batch WHERE d IS NOT NULL ORDER BY n)
                 INSERT INTO {s}.entries (queue, payload)
                 SELECT $1, p FROM batch WHERE d IS NULL ORDER BY n"
            ),
            claim: claim::claim_sql(&s, false),
            claim_promoting: claim::claim_sql(&s, true),
            // Milliseconds from the server's now, so the clocks of client and server need not
            // agree.
            // The first arm reads the entries that are not delayed, which when nothing could
            // be claimed are those in flight (and entries other claimers hold right now); the
            // last reads the head of `delayed`.
            next_due: format!(
                "SELECT (extract(epoch FROM least(
                     (SELECT min(coalesce(lease_until, available_at)) FROM {s}.entries
                      WHERE queue = $1 AND NOT delayed),
                     (SELECT min(available_at) FROM {s}.entries
                      WHERE queue = $1 AND delayed),
                     (SELECT min(available_at) FROM {s}.delayed
                      WHERE queue = $1)) - now()) * 1000)::float8"
            ),
            renew: format!(
                "UPDATE {s}.entries AS e
                 SET lease_until = now() + $4::float8 * interval '1 millisecond'
                 FROM unnest($2::bigint[], $3::bigint[]) AS t(id, fence)
                 WHERE e.id = t.id AND e.queue = $1 AND e.fence = t.fence AND e.lease_until > now()
                 RETURNING e.id, e.fence"
            ),
            // Acked entries are deleted: nothing "done" is kept, so nothing grows.
            ack: format!(
                "DELETE FROM {s}.entries AS e
                 USING unnest($2::bigint[], $3::bigint[]) AS t(id, fence)
                 WHERE e.id = t.id AND e.queue = $1 AND e.fence = t.fence AND e.lease_until > now()
                 RETURNING e.id, e.fence"
            ),
            // A retry due now stays in place; one due later moves to `delayed` under its id
            // (so with its place in the FIFO once due), out of the claim's table. The two
            // arms' conditions exclude each other, so one of them changes the row at most.
            // Notifies also when the retry is due later: waiting claims then sleep until it is
            // due rather than for their poll interval. In the same statement, so a retry is
            // never made without the notification.
            retry: format!(
                "WITH later AS (
                     DELETE FROM {s}.entries
                     WHERE id = $1 AND queue = $2 AND fence = $3 AND lease_until > now()
                       AND $5::timestamptz > now()
                     RETURNING id, queue, fence, deliveries, enqueued_at),
                 moved AS (
                     INSERT INTO {s}.delayed
                         (id, queue, payload, available_at, fence, deliveries, enqueued_at)
                     SELECT id, queue, $4, $5, fence, deliveries, enqueued_at FROM later
                     RETURNING queue),
                 ready AS (
                     UPDATE {s}.entries
                     SET payload = $4, available_at = $5, lease_until = NULL, delayed = false
                     WHERE id = $1 AND queue = $2 AND fence = $3 AND lease_until > now()
                       AND $5::timestamptz <= now()
                     RETURNING queue)
                 SELECT pg_notify($6, queue)::text
                 FROM (SELECT queue FROM moved UNION ALL SELECT queue FROM ready) AS done"
            ),
            dead_letter: format!(
                "WITH gone AS (
                     DELETE FROM {s}.entries
                     WHERE id = $1 AND queue = $2 AND fence = $3 AND lease_until > now()
                     RETURNING queue)
                 INSERT INTO {s}.dead (queue, payload, reason)
                 SELECT queue, $4, $5 FROM gone"
            ),
            // A split: the claim removed (fenced), then its pieces written by `enqueue` and
            // `split_dead`, in one transaction.
            split_remove: format!(
                "DELETE FROM {s}.entries
                 WHERE id = $1 AND queue = $2 AND fence = $3 AND lease_until > now()"
            ),
            split_dead: format!(
                "INSERT INTO {s}.dead (queue, payload, reason)
                 SELECT $1, p, r
                 FROM unnest($2::bytea[], $3::text[]) WITH ORDINALITY AS t(p, r, n)
                 ORDER BY n"
            ),
            trim_dead: format!(
                "DELETE FROM {s}.dead
                 WHERE queue = $1
                   AND (died_at < now() - $2::float8 * interval '1 millisecond'
                        OR id <= (SELECT id FROM {s}.dead WHERE queue = $1
                                  ORDER BY id DESC LIMIT 1 OFFSET $3))"
            ),
            // The entry keeps its id, so it goes back to its place near the front; the delivery
            // is taken back because a release is not a failed attempt.
            // PostgreSQL sends one notification per transaction for identical ones, however many
            // entries come back.
            release: format!(
                "WITH done AS (
                     UPDATE {s}.entries AS e
                     SET lease_until = NULL, deliveries = greatest(e.deliveries - 1, 0)
                     FROM unnest($2::bigint[], $3::bigint[]) AS t(id, fence)
                     WHERE e.id = t.id AND e.queue = $1 AND e.fence = t.fence
                       AND e.lease_until > now()
                     RETURNING e.id, e.fence)
                 SELECT id, fence, pg_notify($4, $1)::text FROM done"
            ),
            // A claim whose lease ended is claimable again: pending, as browsing lists it. A
            // row of `delayed` that fell due and was not yet moved is pending too.
            counts: format!(
                "SELECT
                     count(*) FILTER (WHERE (lease_until IS NULL AND available_at <= now())
                                         OR lease_until <= now())
                         + (SELECT count(*) FROM {s}.delayed
                            WHERE queue = $1 AND available_at <= now()),
                     count(*) FILTER (WHERE (lease_until IS NULL AND available_at > now())
                                         OR (fence = 0 AND lease_until > now()))
                         + (SELECT count(*) FROM {s}.delayed
                            WHERE queue = $1 AND available_at > now()),
                     count(*) FILTER (WHERE lease_until > now() AND fence > 0),
                     (SELECT count(*) FROM {s}.dead WHERE queue = $1)
                 FROM {s}.entries WHERE queue = $1"
            ),
            // The waiting entries by id, then the delayed ones by due time (as Redis lists
            // them), each arm from its own index in order. (`fence = 0` with a lease: a delayed
            // entry as builds before schema step 4 wrote it; `delayed` in `entries`: as builds
            // of step 4 wrote it.)
            pending: format!(
                "SELECT id, payload FROM (
                     (SELECT id, payload, 0 AS arm, id::float8 AS position FROM {s}.entries
                      WHERE queue = $1 AND NOT delayed AND (lease_until IS NULL OR fence = 0)
                      ORDER BY id LIMIT $2)
                     UNION ALL
                     (SELECT id, payload, 1, extract(epoch FROM available_at)::float8
                      FROM {s}.entries
                      WHERE queue = $1 AND delayed
                      ORDER BY available_at LIMIT $2)
                     UNION ALL
                     (SELECT id, payload, 1, extract(epoch FROM available_at)::float8
                      FROM {s}.delayed
                      WHERE queue = $1
                      ORDER BY available_at LIMIT $2)) AS listed
                 ORDER BY arm, position LIMIT $2"
            ),
            dead: format!(
                "SELECT id, payload, reason, died_at FROM {s}.dead
                 WHERE queue = $1 ORDER BY id LIMIT $2"
            ),
            purge_pending: format!(
                "WITH later AS (DELETE FROM {s}.delayed WHERE queue = $1 RETURNING 1),
                 waiting AS (
                     DELETE FROM {s}.entries
                     WHERE queue = $1 AND (lease_until IS NULL OR fence = 0)
                     RETURNING 1)
                 SELECT (SELECT count(*) FROM later) + (SELECT count(*) FROM waiting)"
            ),
            purge_dead: format!("DELETE FROM {s}.dead WHERE queue = $1"),
            // New rows, so new ids: replayed entries join the back of the queue as fresh
            // entries, in the order they died. The insert trigger wakes the workers.
            replay: format!(
                "WITH gone AS (
                     DELETE FROM {s}.dead
                     WHERE queue = $1 AND ($2::bigint[] IS NULL OR id = ANY($2))
                     RETURNING id, payload)
                 INSERT INTO {s}.entries (queue, payload)
                 SELECT $1, payload FROM gone ORDER BY id"
            ),
            enqueue_tick: ticks::enqueue_tick_sql(&s),
            last_tick: ticks::last_tick_sql(&s),
        }
    }
}

impl Sql {
    /// The enqueue statement for a batch with these due times.
    fn enqueue_for(&self, due: &[Option<SystemTime>]) -> &str {
        if due.iter().any(Option::is_some) {
            &self.enqueue_later
        } else {
            &self.enqueue
        }
    }
}

/// A duration in (fractional) milliseconds, as the statements take it.
fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Tokens as (row id, fence); a key that is not a row id cannot match any row.
fn parse_token(token: &ClaimToken) -> Option<(i64, i64)> {
    // Fence 0 is never a claim's (the first claim makes it at least 1): an entry that was never
    // claimed, which no token may finish.
    if token.fence == 0 {
        return None;
    }
    Some((token.key.parse().ok()?, i64::try_from(token.fence).ok()?))
}

#[async_trait]
impl Engine for PostgresEngine {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }

    async fn ping(&self) -> Result<(), EngineError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
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

    fn colocation(&self) -> Option<Colocation> {
        Some(Colocation::Postgres {
            schema: self.schema.clone(),
            instance: self.instance.clone(),
        })
    }

    async fn enqueue(&self, batch: &[Outgoing]) -> Result<(), EngineError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Inserted with whatever other enqueues of this engine wait at the same time; the
        // group commit wakes this process's waiting claims (other processes hear of it through
        // the trigger's NOTIFY).
        let now = SystemTime::now();
        let payloads = batch.iter().map(|o| o.payload.clone()).collect();
        let due = batch.iter().map(|o| o.delayed_until(now)).collect();
        self.group.enqueue(payloads, due).await
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
        let deadline = Instant::now() + wait;
        // Never longer than half a mark: a sleeping engine's mark must outlast its sleep.
        let poll = self
            .options
            .poll_interval
            .max(MIN_NAP)
            .min(idle::MARK_FOR / 2);
        let mut first = true;
        // How long to nap while an insert is about to commit (doubling up to MIN_NAP).
        let mut pending_nap = PENDING_NAP;
        loop {
            // Created before looking, so a notification between the look and the sleep still
            // wakes us (`notify_waiters` reaches every `Notified` created before it).
            let arrived = self.arrived.notified();
            let due = match self.claim_now(max, lease).await {
                Ok((claimed, _)) if !claimed.is_empty() => {
                    self.idle.busy();
                    return Ok(claimed);
                }
                Ok((_, due)) => due,
                // Once waiting, a server that went away is waited for like an entry: the claim
                // ends with the error only if the server is still away at its deadline.
                Err(e) if !first && e.is_unavailable() && Instant::now() < deadline => None,
                Err(e) => return Err(e),
            };
            first = false;
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            // A retry falling due or a lease running out notifies nobody: sleep until the
            // earliest of them, and no longer than the poll interval in case a notification was
            // lost (the listener reconnecting).
            let mut nap = (deadline - now).min(poll);
            if let Some(due) = due {
                nap = nap.min(due.max(MIN_NAP));
            }
            // Inserts notify only engines marked idle: make sure this one is, first.
            let sleeping = match self.idle.before_sleep().await {
                Ok(Mark::Held(sleeping)) => sleeping,
                // Entries committed before the mark notified nobody: look once more.
                Ok(Mark::Made) => continue,
                Ok(Mark::InsertPending) => {
                    let _ = tokio::time::timeout(nap.min(pending_nap), arrived).await;
                    pending_nap = (pending_nap * 2).min(MIN_NAP);
                    continue;
                }
                // Without a mark, only the poll interval wakes this claim.
                Err(e) => {
                    tracing::debug!(engine = %self.shown, error = %e, "cannot mark the engine idle");
                    let _ = tokio::time::timeout(nap, arrived).await;
                    continue;
                }
            };
            let _ = tokio::time::timeout(nap, arrived).await;
            drop(sleeping);
        }
    }

    async fn renew(
        &self,
        tokens: &[ClaimToken],
        lease: Duration,
    ) -> Result<Vec<bool>, EngineError> {
        self.fenced(
            &self.sql.renew,
            tokens,
            Some(Extra::Lease(millis(lease))),
            true,
        )
        .await
    }

    async fn ack(&self, tokens: &[ClaimToken]) -> Result<Vec<bool>, EngineError> {
        self.fenced(&self.sql.ack, tokens, None, false).await
    }

    async fn retry(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        not_before: SystemTime,
    ) -> Result<bool, EngineError> {
        let Some((id, fence)) = parse_token(token) else {
            return Ok(false);
        };
        let done = !self
            .query(
                &self.sql.retry,
                &[
                    &id,
                    &self.options.queue,
                    &fence,
                    &payload,
                    &not_before,
                    &self.channel,
                ],
            )
            .await?
            .is_empty();
        if done {
            self.arrived.notify_waiters();
        }
        Ok(done)
    }

    async fn dead_letter(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        reason: &str,
    ) -> Result<bool, EngineError> {
        let Some((id, fence)) = parse_token(token) else {
            return Ok(false);
        };
        // The move and the trim in one transaction, as the SQLite engine does: the call's answer
        // is then the answer for both.
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.error(e))?;
        let moved = {
            let statement = tx
                .prepare_cached(&self.sql.dead_letter)
                .await
                .map_err(|e| self.error(e))?;
            tx.execute(
                &statement,
                &[&id, &self.options.queue, &fence, &payload, &reason],
            )
            .await
            .map_err(|e| self.error(e))?
        };
        if moved == 1 {
            let statement = tx
                .prepare_cached(&self.sql.trim_dead)
                .await
                .map_err(|e| self.error(e))?;
            let (keep, ttl) = self.dead_limits();
            tx.execute(&statement, &[&self.options.queue, &ttl, &keep])
                .await
                .map_err(|e| self.error(e))?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(moved == 1)
    }

    async fn split(
        &self,
        token: &ClaimToken,
        entries: &[Outgoing],
        dead: &[DeadLetter],
    ) -> Result<bool, EngineError> {
        let Some((id, fence)) = parse_token(token) else {
            return Ok(false);
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.error(e))?;
        let queue = &self.options.queue;
        let removed = {
            let statement = tx
                .prepare_cached(&self.sql.split_remove)
                .await
                .map_err(|e| self.error(e))?;
            tx.execute(&statement, &[&id, queue, &fence])
                .await
                .map_err(|e| self.error(e))?
        };
        if removed != 1 {
            // Nothing written: the transaction ends with nothing to keep.
            return Ok(false);
        }
        if !entries.is_empty() {
            // New rows as `enqueue` writes them (the insert trigger notifies other processes
            // at commit).
            let now = SystemTime::now();
            let payloads: Vec<&[u8]> = entries.iter().map(|o| o.payload.as_slice()).collect();
            let due: Vec<Option<SystemTime>> =
                entries.iter().map(|o| o.delayed_until(now)).collect();
            let statement = tx
                .prepare_cached(self.sql.enqueue_for(&due))
                .await
                .map_err(|e| self.error(e))?;
            tx.execute(&statement, &[queue, &payloads, &due])
                .await
                .map_err(|e| self.error(e))?;
        }
        if !dead.is_empty() {
            let payloads: Vec<&[u8]> = dead.iter().map(|d| d.payload.as_slice()).collect();
            let reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
            let statement = tx
                .prepare_cached(&self.sql.split_dead)
                .await
                .map_err(|e| self.error(e))?;
            tx.execute(&statement, &[queue, &payloads, &reasons])
                .await
                .map_err(|e| self.error(e))?;
            let statement = tx
                .prepare_cached(&self.sql.trim_dead)
                .await
                .map_err(|e| self.error(e))?;
            let (keep, ttl) = self.dead_limits();
            tx.execute(&statement, &[queue, &ttl, &keep])
                .await
                .map_err(|e| self.error(e))?;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        self.arrived.notify_waiters();
        Ok(true)
    }

    async fn release(&self, tokens: &[ClaimToken]) -> Result<(), EngineError> {
        let released = self
            .fenced(&self.sql.release, tokens, Some(Extra::Channel), false)
            .await?;
        if released.contains(&true) {
            self.arrived.notify_waiters();
        }
        Ok(())
    }

    async fn counts(&self) -> Result<Counts, EngineError> {
        self.trim_dead().await?;
        let rows = self.query(&self.sql.counts, &[&self.options.queue]).await?;
        let row = rows.first().ok_or_else(|| EngineError::Failed {
            engine: self.shown.clone(),
            message: "counting returned no row".into(),
        })?;
        let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        Ok(Counts {
            pending: count(0),
            scheduled: count(1),
            in_flight: count(2),
            dead: count(3),
        })
    }

    async fn pending(&self, limit: usize) -> Result<Vec<Entry>, EngineError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .query(&self.sql.pending, &[&self.options.queue, &limit])
            .await?;
        Ok(rows
            .iter()
            .map(|row| Entry {
                key: row.get::<_, i64>(0).to_string(),
                payload: row.get(1),
            })
            .collect())
    }

    async fn dead(&self, limit: usize) -> Result<Vec<DeadEntry>, EngineError> {
        self.trim_dead().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .query(&self.sql.dead, &[&self.options.queue, &limit])
            .await?;
        Ok(rows
            .iter()
            .map(|row| DeadEntry {
                key: row.get::<_, i64>(0).to_string(),
                payload: row.get(1),
                reason: row.get(2),
                died_at: row.get(3),
            })
            .collect())
    }

    async fn purge_pending(&self) -> Result<u64, EngineError> {
        let rows = self
            .query(&self.sql.purge_pending, &[&self.options.queue])
            .await?;
        Ok(rows
            .first()
            .map_or(0, |row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
    }

    async fn purge_dead(&self) -> Result<u64, EngineError> {
        self.execute(&self.sql.purge_dead, &[&self.options.queue])
            .await
    }

    async fn replay_dead(&self, keys: Option<&[String]>) -> Result<u64, EngineError> {
        // Keys that are not dead-letter ids match nothing.
        let ids: Option<Vec<i64>> = keys.map(|keys| {
            keys.iter()
                .filter_map(|k| crate::engine::browse::dead_id(k))
                .collect()
        });
        let replayed = self
            .execute(&self.sql.replay, &[&self.options.queue, &ids])
            .await?;
        if replayed > 0 {
            self.arrived.notify_waiters();
        }
        Ok(replayed)
    }
}
