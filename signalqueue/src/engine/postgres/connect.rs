//! Opening a database: the URL, its TLS, a pool, and one component's migrations. Shared by the
//! engine and the outbox (`crate::outbox`), which live in the same kind of schema.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::error::{engine_error, pool_error};
use super::schema::{self, MigrationError};
use super::tls::Tls;
use super::url::{self, PgUrl};
use crate::engine::EngineError;
use crate::error::Error;

/// How long a call waits for a free connection of the pool, or for a new one to be made,
/// before failing with `Unavailable`.
pub(crate) const POOL_WAIT: Duration = Duration::from_secs(10);

/// A database opened: its parsed URL, how it is secured, and a pool of connections.
pub(crate) struct Opened {
    pub(crate) url: PgUrl,
    pub(crate) tls: Tls,
    pub(crate) pool: Pool,
}

/// Parses `url` and builds a pool of at most `size` connections (none is made yet); errors
/// are configuration errors from `origin` (`queue `default``, `outbox`).
pub(crate) fn open(url: &str, size: usize, origin: &str) -> Result<Opened, Error> {
    let parsed = url::parse(url).map_err(|message| Error::Config {
        origin: origin.to_string(),
        message,
    })?;
    let config_error = |message: String| Error::Config {
        origin: format!("{origin} (`{}`)", parsed.shown),
        message,
    };
    let tls = Tls::for_url(&parsed).map_err(config_error)?;
    let pool = build_pool(&parsed, &tls, size, "").map_err(config_error)?;
    Ok(Opened {
        url: parsed,
        tls,
        pool,
    })
}

/// A pool of at most `size` connections to `parsed`'s server, each started with the engine's
/// settings and `extra` (more `-c name=value` options, or nothing).
fn build_pool(parsed: &PgUrl, tls: &Tls, size: usize, extra: &str) -> Result<Pool, String> {
    // `Fast` trusts a connection that tokio-postgres has not seen close: one that broke under a
    // call is closed by then, and is dropped on its way back to the pool.
    let recycling = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let mut config = parsed.config.clone();
    // Claims (and the relay's reads) take the oldest few rows of an index, `ORDER BY id LIMIT n
    // FOR UPDATE SKIP LOCKED`, from tables whose statistics are stale by nature: a burst of
    // inserts looks like a handful of rows to the planner until autovacuum analyzes it. With a
    // bitmap scan allowed, it reads every ready row and sorts them, per claim (130 ms a claim
    // with 70k rows waiting, so a drain slows as its backlog grows), and a bitmap scan never
    // marks the index entries of acked (deleted) rows dead, so each claim visits them all
    // again. A plain index scan reads the first rows in order and marks dead entries as it
    // passes: a few ms. Only the planner's choice changes, on our own connections.
    config.options(format!("-c enable_bitmapscan=off {extra}"));
    let manager = match tls.clone() {
        Tls::Plain => Manager::from_config(config, tokio_postgres::NoTls, recycling),
        #[cfg(feature = "postgres-tls")]
        Tls::Native(connector) => Manager::from_config(config, connector, recycling),
    };
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .recycle_timeout(Some(POOL_WAIT))
        .build()
        .map_err(|e| format!("cannot build the connection pool: {e}"))
}

impl Opened {
    /// A second pool to the same server whose connections commit without waiting for the WAL
    /// flush (`synchronous_commit=off`), for the calls whose loss in a server crash can only
    /// give entries back to be delivered again: claims, renewals, acks, releases. A commit
    /// there is visible to everyone at once and on disk within `wal_writer_delay` (200 ms by
    /// default) times three at most; what a crash loses of it is undone as a whole.
    pub(crate) fn lease_pool(&self, size: usize, origin: &str) -> Result<Pool, Error> {
        build_pool(&self.url, &self.tls, size, "-c synchronous_commit=off").map_err(|message| {
            Error::Config {
                origin: format!("{origin} (`{}`)", self.url.shown),
                message,
            }
        })
    }

    /// Brings `component` of the URL's schema up to date; returns its instance id. An
    /// unreachable server is an engine error (retry later); anything else is a configuration
    /// error from `origin`.
    pub(crate) async fn migrate(
        &self,
        component: &str,
        steps: &[&str],
        origin: &str,
    ) -> Result<String, Error> {
        let shown = &self.url.shown;
        let config_error = |message: String| Error::Config {
            origin: format!("{origin} (`{shown}`)"),
            message,
        };
        let mut client = self.pool.get().await.map_err(|e| pool_error(shown, e))?;
        let client: &mut tokio_postgres::Client = &mut client;
        schema::migrate(client, &self.url.schema, component, steps)
            .await
            .map_err(|e| match e {
                MigrationError::Postgres(e) => match engine_error(shown, &e) {
                    unavailable @ EngineError::Unavailable { .. } => Error::Engine(unavailable),
                    EngineError::Failed { message, .. } => {
                        config_error(format!("cannot create the tables: {message}"))
                    }
                },
                other => config_error(other.to_string()),
            })
    }
}
