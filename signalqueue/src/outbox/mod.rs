//! The outbox: signals written by `send_in` into the app's own database, on their way to a
//! queue that lives elsewhere (Redis, another database).
//!
//! `[outbox] url = "postgres://..."` (or `sqlite://app.db`) in `signalqueue.toml` names the
//! app's database. Opening it (at `signalqueue::init`, in the web app and in every worker)
//! creates the outbox table there, so that `send_in` finds it; every worker then runs the
//! relay, which moves committed rows into each signal's queue, oldest first, and deletes a
//! row only after that queue's engine acknowledged it. `signalqueue-worker relay` runs the relay
//! alone.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;

use crate::engine::{EngineError, EngineUrl, Outgoing};
use crate::error::Error;
use crate::transaction::OutboxTarget;

#[cfg(feature = "postgres")]
mod postgres;
pub(crate) mod relay;
#[cfg(feature = "sqlite")]
mod sqlite;

/// One row of an outbox, as the relay reads it.
#[derive(Clone, Debug)]
pub(crate) struct OutboxRow {
    /// The row's id in the outbox (increasing with insertion).
    pub id: i64,
    /// The queue it is for.
    pub queue: String,
    /// The signal, as its queue's engine takes it.
    pub outgoing: Outgoing,
}

/// How full an outbox is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct OutboxStats {
    /// Rows waiting to be relayed.
    pub depth: u64,
    /// How long the oldest of them has waited, in milliseconds (0 when empty).
    pub oldest_age_ms: u64,
}

/// What the relay hands a batch to: it enqueues the rows it can and returns the ids of those
/// its queues acknowledged (and an error, if a queue failed part-way).
pub(crate) type Forward<'a> =
    &'a (dyn Fn(Vec<OutboxRow>) -> BoxFuture<'a, (Vec<i64>, Option<Error>)> + Send + Sync);

/// Storage of one outbox (PostgreSQL or SQLite).
#[async_trait]
pub(crate) trait Store: Send + Sync + 'static {
    /// Reads up to `max` of the oldest rows for the given queues, passes them to `forward`, and
    /// deletes the ids it returns, so that a row leaves the outbox only once its queue holds
    /// it. Returns how many rows were read, and the forward's error, if any.
    async fn relay_batch(
        &self,
        max: usize,
        queues: &[String],
        forward: Forward<'_>,
    ) -> Result<(usize, Option<Error>), EngineError>;

    /// Waits until rows may have been added, or `timeout`.
    async fn wait(&self, timeout: Duration);

    /// Depth and age of the oldest row.
    async fn stats(&self) -> Result<OutboxStats, EngineError>;
}

/// An opened outbox. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    describe: String,
    target: OutboxTarget,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Outbox({})", self.describe)
    }
}

/// The URL forms an outbox accepts, for errors.
const OUTBOX_SCHEMES: &str = "`postgres://USER@HOST:PORT/DATABASE` or `sqlite://PATH`";

impl Outbox {
    /// Opens the outbox in the database `url` names, creating its table if needed.
    pub async fn open(url: &str) -> Result<Outbox, Error> {
        let config = |message: String| Error::Config {
            origin: "outbox URL".into(),
            message,
        };
        let parsed = EngineUrl::parse(url).map_err(config)?;
        match parsed.scheme.as_str() {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => postgres::open(url).await,
            #[cfg(feature = "sqlite")]
            "sqlite" => sqlite::open(&parsed).await,
            other => Err(config(format!(
                "an outbox lives in the app's database: `{other}://` cannot hold one; use {OUTBOX_SCHEMES}"
            ))),
        }
    }

    /// The outbox's URL, without its password.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Where `send_in` looks for it.
    pub fn target(&self) -> &OutboxTarget {
        &self.target
    }

    /// Depth and age of the oldest row.
    pub async fn stats(&self) -> Result<OutboxStats, EngineError> {
        self.store.stats().await
    }
}
