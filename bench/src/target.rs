//! What one measurement runs against: a fresh, private queue on Redis, in a temporary SQLite
//! file or in a private PostgreSQL schema, and a runtime that sends the bench's signals there.
//!
//! Every run gets a queue name of its own (`sqbench-PID-RANDOM`), so two benches, or a bench
//! and the test suites sharing the same Redis, never see each other's entries, and cleaning up
//! deletes only keys this run made. On PostgreSQL the queue's tables live in a schema of the
//! same name (`sqbench_PID_RANDOM`), dropped with everything in it afterwards.

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
    Postgres,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Redis => "redis",
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        })
    }
}

/// The servers the bench is given.
#[derive(Clone, Debug)]
pub(crate) struct Servers {
    /// For [`Kind::Redis`]: only a private queue's keys are touched.
    pub(crate) redis: String,
    /// For [`Kind::Postgres`], without `?schema=`: only a private schema is touched.
    pub(crate) postgres: String,
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
    /// The server's URL (no schema) and the private schema, dropped at cleanup.
    pub(crate) postgres: Option<(String, String)>,
}

impl Target {
    /// A new private queue on the server of `servers` that `kind` uses.
    pub(crate) async fn fresh(kind: Kind, servers: &Servers) -> Result<Target, String> {
        let queue = format!(
            "sqbench-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        Target::fresh_named(kind, servers, &queue).await
    }

    /// [`Target::fresh`] with the queue named `queue`: private only where its storage is (a
    /// temporary SQLite file), so only for SQLite with a name not of this run.
    pub(crate) async fn fresh_named(
        kind: Kind,
        servers: &Servers,
        queue: &str,
    ) -> Result<Target, String> {
        let queue = queue.to_string();
        let schema = queue.replace('-', "_");
        let (url, dir) = match kind {
            Kind::Redis => (servers.redis.clone(), None),
            Kind::Postgres => (with_schema(&servers.postgres, &schema), None),
            Kind::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("sq-bench-")
                    .tempdir()
                    .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                (url, Some(dir))
            }
        };
        let postgres = (kind == Kind::Postgres).then(|| (servers.postgres.clone(), schema));
        let engine = match engine::open(&url, EngineOptions::new(&queue)).await {
            Ok(engine) => engine,
            Err(e) => {
                // Opening may have created the schema before it failed.
                if let Some((server, schema)) = &postgres {
                    let _ = drop_schema(server, schema).await;
                }
                return Err(e.to_string());
            }
        };
        engine.ping().await.map_err(|e| e.to_string())?;
        let runtime = Runtime::builder().queue(QUEUE, engine.clone()).build();
        Ok(Target {
            kind,
            url,
            queue,
            engine,
            runtime,
            _dir: dir,
            redis_url: (kind == Kind::Redis).then(|| servers.redis.clone()),
            postgres,
        })
    }

    /// Deletes every key of this queue (Redis) or drops its schema (PostgreSQL); the SQLite
    /// file goes with the directory.
    pub(crate) async fn cleanup(self) -> Result<(), String> {
        if let Some((server, schema)) = &self.postgres {
            // The engine's pool and listener go first, so nothing of ours holds the schema.
            drop(self.runtime);
            drop(self.engine);
            return drop_schema(server, schema).await;
        }
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

    /// The key the `INCR` receiver increments: one of this queue's keys, so `cleanup` deletes
    /// it.
    pub(crate) fn incr_key(&self) -> String {
        format!("{{sq:{}}}bench-incr", self.queue)
    }

    /// What the `INCR` receiver counted on this queue's Redis.
    pub(crate) async fn incr_count(&self) -> Result<u64, String> {
        let url = self
            .redis_url
            .as_deref()
            .ok_or("the INCR receiver counts on Redis only")?;
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        let n: Option<u64> = redis::cmd("GET")
            .arg(self.incr_key())
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(n.unwrap_or(0))
    }

    /// The Redis URL of this target, if it is on Redis.
    pub(crate) fn redis_url(&self) -> Option<&str> {
        self.redis_url.as_deref()
    }

    /// CPU time the server has used, in seconds: Redis's since it started (`INFO cpu`, user
    /// and system); PostgreSQL's as the sum over its processes on this machine (`postgres`
    /// in `/proc`: backends that exited in between are not counted). `None` on SQLite or when
    /// the server does not say.
    pub(crate) async fn server_cpu_secs(&self) -> Option<f64> {
        if self.kind == Kind::Postgres {
            return postgres_cpu_secs();
        }
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
    /// script on Redis but a scan of an index on SQLite and of the table on PostgreSQL, which
    /// competes with the worker.
    pub(crate) fn poll_every(&self) -> Duration {
        match self.kind {
            Kind::Redis => Duration::from_millis(5),
            Kind::Sqlite => Duration::from_millis(50),
            // Cheap between counts: `drain` looks at the head of the queue first.
            Kind::Postgres => Duration::from_millis(50),
        }
    }
}

/// The CPU time of every process named `postgres` on this machine, in seconds.
fn postgres_cpu_secs() -> Option<f64> {
    let mut total = 0.0;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if comm.trim() == "postgres" {
            if let Some(secs) = crate::worker_process::process_cpu_secs(pid) {
                total += secs;
                found = true;
            }
        }
    }
    found.then_some(total)
}

/// `url` with `?schema=SCHEMA` (or `&schema=`) appended.
pub(crate) fn with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}schema={schema}")
}

/// A plain connection to the PostgreSQL server (no pool), driven by a task of its own.
pub(crate) async fn pg_connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| {
            format!(
                "cannot connect to PostgreSQL at {}: {}",
                redact(url),
                pg_error(e)
            )
        })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A tokio-postgres error with what the server said (its `Display` alone says "db error").
pub(crate) fn pg_error(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("PostgreSQL said: {} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Drops `schema` and everything in it. Only ever given a schema this run made.
pub(crate) async fn drop_schema(url: &str, schema: &str) -> Result<(), String> {
    let client = pg_connect(url).await?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .map_err(|e| format!("cannot drop schema `{schema}`: {}", pg_error(e)))
}

/// The URL without its password.
pub(crate) fn redact(url: &str) -> String {
    signalqueue::engine::redact_url(url)
}

/// The value of `name` in the text of an `INFO` reply (`name:value` lines).
pub(crate) fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}
