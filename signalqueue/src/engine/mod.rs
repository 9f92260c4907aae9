//! Queue engines: where signals wait between `send` and the worker.
//!
//! An engine stores opaque bytes (an encoded [`Envelope`](crate::Envelope)); it never needs to
//! decode them, so garbage pushed into a queue by hand is claimed like anything else and the
//! worker dead-letters it with its raw bytes.
//!
//! Every engine gives the same contract, which the worker relies on:
//! - [`Engine::enqueue`] returns `Ok` only once the engine holds the signals durably (as durable
//!   as that engine is: see `docs/engines.md`).
//! - [`Engine::claim`] hands out entries under a lease. A claimed entry stays in the engine until
//!   it is acknowledged, retried, dead-lettered or released; if the lease expires first (the
//!   worker died, or stalled), the entry becomes claimable again, by anyone.
//! - Every claim carries a fence. Acknowledging, renewing, retrying, dead-lettering or
//!   splitting with a token whose lease was lost (and perhaps re-claimed elsewhere) is refused (`false`), so two
//!   workers never both complete one claim.
//!
//! An engine in another crate implements [`Engine`], registers its URL schemes with
//! [`register_engine!`](crate::register_engine), and passes the contract suite
//! (`signalqueue/tests/support/contract.rs`; `docs/engines.md`). The values it returns are
//! `#[non_exhaustive]`, so that a field added later does not break it: it builds them with
//! [`Claimed::new`], [`Entry::new`], [`DeadEntry::new`], [`Counts::new`],
//! [`Beat::new`](heartbeats::Beat::new), [`EngineError::unavailable`] and
//! [`EngineError::failed`]. Extra capabilities are extension traits an engine hands out from a
//! method with a default (`None`), such as [`Engine::ticks`] and [`Engine::heartbeats`], so a
//! new one never breaks an engine that does not have it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::envelope::EnvelopeId;

pub mod browse;
pub mod heartbeats;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
pub mod schemes;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod ticks;
mod url;

pub use self::browse::{Browse, Death, Holder, Listed, Page, Section};
pub use self::heartbeats::{Beat, Heartbeats};
pub use self::ticks::Ticks;
pub use self::url::{open, redact_url, EngineUrl};

/// A shared handle to an engine, as the runtime and the worker hold it.
pub type SharedEngine = Arc<dyn Engine>;

/// One signal to enqueue: its id, its encoded envelope, and when it may be claimed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Outgoing {
    /// The envelope's id (unique, sortable by time).
    pub id: EnvelopeId,
    /// The encoded envelope (see `docs/wire-format.md`).
    pub payload: Vec<u8>,
    /// A delayed send: not claimable before this time, and counted as `scheduled` until then.
    /// `None` (or a time in the past) means now. Engines keep the entry apart from the ready
    /// ones meanwhile, so any number of them never slows a claim (`docs/engines.md`).
    pub not_before: Option<SystemTime>,
}

impl Outgoing {
    /// A signal claimable at once.
    pub fn new(id: EnvelopeId, payload: Vec<u8>) -> Outgoing {
        Outgoing {
            id,
            payload,
            not_before: None,
        }
    }

    /// The same signal, claimable from `not_before` (`None`: at once).
    pub fn not_before(mut self, not_before: Option<SystemTime>) -> Outgoing {
        self.not_before = not_before;
        self
    }

    /// The due time if it is still in the future at `now`; a past one means now.
    pub fn delayed_until(&self, now: SystemTime) -> Option<SystemTime> {
        self.not_before.filter(|t| *t > now)
    }
}

/// Identifies one claim of one entry; the engine refuses it once the lease is lost.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClaimToken {
    /// The engine's key for the entry (a row id, an envelope id, a stream id...).
    pub key: String,
    /// The fence: changes at every claim of the entry, so a stale claim can be told apart.
    pub fence: u64,
}

/// An entry handed to a worker under a lease.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Claimed {
    /// What to present back to the engine to finish this claim.
    pub token: ClaimToken,
    /// The stored bytes, exactly as enqueued (or as a retry rewrote them).
    pub payload: Vec<u8>,
    /// How many times this entry has been claimed, this claim included. A number that keeps
    /// growing without the envelope's attempt growing means the entry crashes workers.
    pub deliveries: u32,
}

impl Claimed {
    /// A claim of the entry `token` names, holding `payload`, claimed `deliveries` times.
    pub fn new(token: ClaimToken, payload: Vec<u8>, deliveries: u32) -> Claimed {
        Claimed {
            token,
            payload,
            deliveries,
        }
    }
}

/// What [`Engine::ack_and_claim`] did: the acknowledgements always, the claim only if it
/// could be made.
#[derive(Debug)]
#[non_exhaustive]
pub struct AckedAndClaimed {
    /// One bool per acknowledged token, as [`Engine::ack`] answers.
    pub acked: Vec<bool>,
    /// The entries claimed after the acknowledgements, or why none could be: the
    /// acknowledgements stand either way.
    pub claimed: Result<Vec<Claimed>, EngineError>,
}

impl AckedAndClaimed {
    /// Both answers, for an engine's own `ack_and_claim`.
    pub fn new(acked: Vec<bool>, claimed: Result<Vec<Claimed>, EngineError>) -> Self {
        AckedAndClaimed { acked, claimed }
    }
}

/// A dead letter to write, as one of the pieces a claim is split into ([`Engine::split`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The bytes to keep (what `dead list` shows and `dead replay` puts back).
    pub payload: Vec<u8>,
    /// Why it died, for people.
    pub reason: String,
}

impl DeadLetter {
    /// A dead letter keeping `payload`, dead for `reason`.
    pub fn new(payload: impl Into<Vec<u8>>, reason: impl Into<String>) -> DeadLetter {
        DeadLetter {
            payload: payload.into(),
            reason: reason.into(),
        }
    }
}

/// An entry read without being removed (for `dump`, the admin page, `dead list`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Entry {
    /// The engine's key for the entry.
    pub key: String,
    /// The stored bytes.
    pub payload: Vec<u8>,
}

impl Entry {
    /// The entry `key`, holding `payload`.
    pub fn new(key: impl Into<String>, payload: Vec<u8>) -> Entry {
        Entry {
            key: key.into(),
            payload,
        }
    }
}

/// A dead letter: an entry the worker gave up on, with why.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeadEntry {
    /// The engine's key for the dead entry (what `replay_dead` takes).
    pub key: String,
    /// The stored bytes, unchanged, so nothing is lost.
    pub payload: Vec<u8>,
    /// Why it died: the receiver's error, the decode error, "unknown signal"...
    pub reason: String,
    /// When it was dead-lettered.
    pub died_at: SystemTime,
}

impl DeadEntry {
    /// The dead letter `key`, holding `payload`, dead for `reason` since `died_at`.
    pub fn new(
        key: impl Into<String>,
        payload: Vec<u8>,
        reason: impl Into<String>,
        died_at: SystemTime,
    ) -> DeadEntry {
        DeadEntry {
            key: key.into(),
            payload,
            reason: reason.into(),
            died_at,
        }
    }
}

/// How many entries an engine holds, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// Claimable now, entries whose lease ran out included (anyone may claim them again).
    pub pending: u64,
    /// Waiting for a time in the future: delayed sends and retries.
    pub scheduled: u64,
    /// Claimed by a worker whose lease has not run out.
    pub in_flight: u64,
    /// Dead letters kept.
    pub dead: u64,
}

impl Counts {
    /// The counts of an engine holding `pending`, `scheduled`, `in_flight` and `dead` entries
    /// (in the order of the fields; a state added later counts 0 here).
    pub fn new(pending: u64, scheduled: u64, in_flight: u64, dead: u64) -> Counts {
        Counts {
            pending,
            scheduled,
            in_flight,
            dead,
        }
    }
}

/// Options every engine takes, from the queue's configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineOptions {
    /// The queue's name (`default`, `emails`...); engines use it to name their keys or rows.
    pub queue: String,
    /// How often, at the latest, a waiting claim looks for entries even when nothing told it
    /// of new ones (a safety net: SQLite and PostgreSQL also look when the next entry is due).
    pub poll_interval: Duration,
    /// How many dead letters to keep at most; older ones are dropped (retention by default).
    pub dead_max: u64,
    /// How long dead letters are kept at most.
    pub dead_ttl: Duration,
}

impl EngineOptions {
    /// The defaults for a queue named `queue`.
    pub fn new(queue: impl Into<String>) -> Self {
        EngineOptions {
            queue: queue.into(),
            poll_interval: Duration::from_millis(300),
            dead_max: 100_000,
            dead_ttl: Duration::from_secs(14 * 24 * 3600),
        }
    }

    /// The same options, polling every `poll_interval`.
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// The same options, keeping at most `dead_max` dead letters.
    pub fn with_dead_max(mut self, dead_max: u64) -> Self {
        self.dead_max = dead_max;
        self
    }

    /// The same options, keeping dead letters for at most `dead_ttl`.
    pub fn with_dead_ttl(mut self, dead_ttl: Duration) -> Self {
        self.dead_ttl = dead_ttl;
        self
    }
}

/// What went wrong inside an engine.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine's server could not be reached or the connection broke; retrying later may work.
    #[non_exhaustive]
    #[error("cannot reach {engine}: {message}; check that the server runs and the URL is right")]
    Unavailable {
        /// The engine's redacted URL.
        engine: String,
        /// What the client library said.
        message: String,
    },
    /// The engine answered with an error.
    #[non_exhaustive]
    #[error("{engine} failed: {message}")]
    Failed {
        /// The engine's redacted URL.
        engine: String,
        /// What the engine said.
        message: String,
    },
}

impl EngineError {
    /// [`EngineError::Unavailable`]: `engine` (its redacted URL) cannot be reached, and the
    /// client library said `message`.
    pub fn unavailable(engine: impl Into<String>, message: impl Into<String>) -> EngineError {
        EngineError::Unavailable {
            engine: engine.into(),
            message: message.into(),
        }
    }

    /// [`EngineError::Failed`]: `engine` (its redacted URL) answered with the error `message`.
    pub fn failed(engine: impl Into<String>, message: impl Into<String>) -> EngineError {
        EngineError::Failed {
            engine: engine.into(),
            message: message.into(),
        }
    }

    /// True when the failure is about reaching the engine (worth a reconnect and retry).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, EngineError::Unavailable { .. })
    }
}

/// Where an engine keeps its entries, when that is a database table an app's own transaction
/// can write to: `send_in` then inserts the signal there, in the app's transaction, rather than
/// into an outbox (`docs/engines.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Colocation {
    /// A PostgreSQL database: the entries are in `schema.entries`.
    Postgres {
        /// The engine's schema (`signalqueue` unless the URL's `?schema=` says otherwise).
        schema: String,
        /// The random id the schema was created with (`schema.migrations`), so that a
        /// transaction on another database that also has a signalqueue schema is told apart.
        instance: String,
    },
    /// A SQLite file: the entries are in its `entries` table.
    Sqlite {
        /// The file, canonical.
        path: std::path::PathBuf,
    },
}

/// The storage behind a queue. See the module docs for the contract.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// A short name of the engine kind: `memory`, `sqlite`, `redis`, `redis-set`...
    fn kind(&self) -> &'static str;

    /// The engine's URL with any password removed, for logs and banners.
    fn describe(&self) -> String;

    /// Checks that the engine can be reached.
    async fn ping(&self) -> Result<(), EngineError>;

    /// Where the entries live, when an app's transaction can write them directly (PostgreSQL,
    /// SQLite); `None` for engines it cannot (memory, Redis), whose `send_in` goes through an
    /// outbox.
    fn colocation(&self) -> Option<Colocation> {
        None
    }

    /// Enqueueing the ticks of periodic signals exactly once ([`Ticks`]), when the engine can;
    /// every engine of this crate can.
    fn ticks(&self) -> Option<&dyn Ticks> {
        None
    }

    /// Keeping the heartbeats of the workers that serve this queue ([`Heartbeats`]), for the
    /// console's workers view, when the engine can; every engine of this crate can.
    fn heartbeats(&self) -> Option<&dyn Heartbeats> {
        None
    }

    /// Reading the queue entry by entry and acting on chosen entries ([`Browse`]), for the
    /// console, when the engine can.
    fn browse(&self) -> Option<&dyn Browse> {
        None
    }

    /// Stores signals; returns once the engine holds all of them. An empty batch does nothing.
    async fn enqueue(&self, batch: &[Outgoing]) -> Result<(), EngineError>;

    /// Claims up to `max` entries for `lease`, oldest first. Waits up to `wait` for the first
    /// one when none is ready (blocking where the engine can, polling otherwise), then returns
    /// what it has, possibly nothing. Entries whose lease expired are claimable again.
    async fn claim(
        &self,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Claimed>, EngineError>;

    /// Extends the leases of claims still being worked on. One bool per token: `false` when
    /// that lease was already lost.
    async fn renew(&self, tokens: &[ClaimToken], lease: Duration)
        -> Result<Vec<bool>, EngineError>;

    /// Finishes claims: the entries are gone for good. One bool per token: `false` when the
    /// lease was lost (the ack is refused and the entry is left to its new owner).
    async fn ack(&self, tokens: &[ClaimToken]) -> Result<Vec<bool>, EngineError>;

    /// Acknowledges `acks`, then claims up to `max` entries for `lease` without waiting for
    /// any: what a busy worker does once a batch is finished, so that the slots the batch held
    /// take new entries in the same step. The claim starts only after the acknowledgements
    /// are done, so a worker never holds more leases than it has slots. An `Err` means the
    /// acknowledgements may not have been made (and nothing was claimed): as from
    /// [`Engine::ack`].
    ///
    /// The default calls [`Engine::ack`] and then [`Engine::claim`]; an engine that can do
    /// both in one round trip (Redis: one script) overrides it.
    async fn ack_and_claim(
        &self,
        acks: &[ClaimToken],
        max: usize,
        lease: Duration,
    ) -> Result<AckedAndClaimed, EngineError> {
        let acked = self.ack(acks).await?;
        let claimed = self.claim(max, lease, Duration::ZERO).await;
        Ok(AckedAndClaimed { acked, claimed })
    }

    /// Puts a claimed entry back with a new payload (the envelope with its attempt and owed
    /// receivers updated), claimable again from `not_before`. `false` when the lease was lost.
    async fn retry(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        not_before: SystemTime,
    ) -> Result<bool, EngineError>;

    /// Moves a claimed entry to the dead letters with a reason; `payload` is what to keep
    /// (normally the claimed bytes, unchanged). `false` when the lease was lost.
    async fn dead_letter(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        reason: &str,
    ) -> Result<bool, EngineError>;

    /// Replaces a claimed entry with new entries and dead letters, all at once or not at all,
    /// and only while `token` holds the lease: the claimed entry is removed, each of `entries`
    /// is stored as a new entry claimable from its `not_before` (counted as `scheduled` until
    /// then, never collapsed with others by `redis-set://`, its deliveries counted from 0), and
    /// each of `dead` becomes a dead letter of its own (with the usual retention). `false`, with
    /// nothing changed, when the lease was lost.
    ///
    /// The worker uses it when receivers that ran together part ways (each failed receiver
    /// retried on its own schedule, or dead-lettered on its own), and to give back an entry this
    /// worker cannot handle without counting an attempt (`docs/worker.md`). Both lists empty
    /// is an acknowledgement.
    async fn split(
        &self,
        token: &ClaimToken,
        entries: &[Outgoing],
        dead: &[DeadLetter],
    ) -> Result<bool, EngineError>;

    /// Gives claims back unfinished (worker shutdown): claimable again at once, without
    /// counting as a failed attempt. Stale tokens are ignored.
    async fn release(&self, tokens: &[ClaimToken]) -> Result<(), EngineError>;

    /// Counts entries by state.
    async fn counts(&self) -> Result<Counts, EngineError>;

    /// Reads up to `limit` pending entries (scheduled ones included), oldest first, removing
    /// nothing. Entries waiting for a time may come after the others, by due time (delayed
    /// sends on every engine; retries too on memory and Redis).
    async fn pending(&self, limit: usize) -> Result<Vec<Entry>, EngineError>;

    /// Reads up to `limit` dead letters, oldest first, removing nothing.
    async fn dead(&self, limit: usize) -> Result<Vec<DeadEntry>, EngineError>;

    /// Removes every pending (and scheduled) entry; returns how many. In-flight claims stay.
    async fn purge_pending(&self) -> Result<u64, EngineError>;

    /// Removes every dead letter; returns how many.
    async fn purge_dead(&self) -> Result<u64, EngineError>;

    /// Moves dead letters back to the queue (all of them, or those with the given keys);
    /// returns how many.
    async fn replay_dead(&self, keys: Option<&[String]>) -> Result<u64, EngineError>;
}

impl fmt::Debug for dyn Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Engine({})", self.describe())
    }
}

/// A name for this process as a consumer: host, pid and a random part, so two processes never
/// share an identity (apalis #504), and nothing has to be configured.
pub fn consumer_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        format!(
            "{}:{}:{:08x}",
            host,
            std::process::id(),
            rand::random::<u32>()
        )
    })
}

/// Milliseconds since the Unix epoch (what engines store for times).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The inverse of [`unix_ms`].
pub fn from_unix_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}
