//! What one measurement runs against: a fresh, private queue on Redis or in a temporary SQLite
//! file, and a runtime that sends the bench's signals there.
//!
//! Every run gets a queue name of its own (`sqbench-PID-RANDOM`), so two benches, or a bench
//! and the test suites sharing the same Redis, never see each other's entries, and cleaning up
//! deletes only keys this run made.

use std::fmt;
use std::time::Duration;

use signalqueue::engine::{self, EngineOptions, SharedEngine};
use signalqueue::Runtime;

use crate::signals::QUEUE;

/// The engines measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Redis,
    Sqlite,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Redis => "redis",
            Kind::Sqlite => "sqlite",
        })
    }
}

/// A private queue and a runtime whose `bench` queue is it.
pub(crate) struct Target {
    pub(crate) kind: Kind,
    /// The engine URL, as the worker process is configured with it.
    pub(crate) url: String,
    /// The queue's name in the engine (its Redis keys, its SQLite rows).
    pub(crate) queue: String,
    pub(crate) engine: SharedEngine,
    pub(crate) runtime: Runtime,
    /// The SQLite file's directory, removed on drop.
    _dir: Option<tempfile::TempDir>,
    redis_url: Option<String>,
}

impl Target {
    /// A new private queue. `redis_url` is the server to use for [`Kind::Redis`].
    pub(crate) async fn fresh(kind: Kind, redis_url: &str) -> Result<Target, String> {
        let queue = format!(
            "sqbench-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let (url, dir) = match kind {
            Kind::Redis => (redis_url.to_string(), None),
            Kind::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("sq-bench-")
                    .tempdir()
                    .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                (url, Some(dir))
            }
        };
        let engine = engine::open(&url, EngineOptions::new(&queue))
            .await
            .map_err(|e| e.to_string())?;
        engine.ping().await.map_err(|e| e.to_string())?;
        let runtime = Runtime::builder().queue(QUEUE, engine.clone()).build();
        Ok(Target {
            kind,
            url,
            queue,
            engine,
            runtime,
            _dir: dir,
            redis_url: (kind == Kind::Redis).then(|| redis_url.to_string()),
        })
    }

    /// Deletes every key of this queue (Redis); the SQLite file goes with the directory.
    pub(crate) async fn cleanup(self) -> Result<(), String> {
        let Some(url) = &self.redis_url else {
            return Ok(());
        };
        let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        // Braces are not glob characters, and the queue name has none of `*?[\`.
        let pattern = format!("{{sq:{}}}*", self.queue);
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                // UNLINK frees in the background: a key of a million members (`scheduled_1m`)
                // takes DEL longer than the client waits for an answer.
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// CPU time the Redis server has used since it started (`INFO cpu`, user and system), in
    /// seconds; `None` on SQLite or when the server does not say.
    pub(crate) async fn redis_cpu_secs(&self) -> Option<f64> {
        let client = redis::Client::open(self.redis_url.as_deref()?).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let info: String = redis::cmd("INFO")
            .arg("cpu")
            .query_async(&mut conn)
            .await
            .ok()?;
        let field = |name| info_field(&info, name)?.parse::<f64>().ok();
        Some(field("used_cpu_user")? + field("used_cpu_sys")?)
    }

    /// How often to poll the queue's counts while a worker drains it: counting is one cheap
    /// script on Redis but a scan of an index on SQLite, which competes with the worker.
    pub(crate) fn poll_every(&self) -> Duration {
        match self.kind {
            Kind::Redis => Duration::from_millis(5),
            Kind::Sqlite => Duration::from_millis(50),
        }
    }
}

/// The value of `name` in the text of an `INFO` reply (`name:value` lines).
pub(crate) fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}
