//! Configuration: `signalqueue.toml` plus `SIGNALQUEUE_*` environment variables.
//!
//! The successor of the original's `SQ_QUEUES`, `SQ_RUNMODE` and `SQ_WORKER_PORT`:
//! ```toml
//! runmode = "async"                 # or "sync"; SIGNALQUEUE_RUNMODE overrides
//! codec = "bincode"                 # or "json"
//! worker_addr = "127.0.0.1:11231"   # the worker's admin HTTP address
//! [queues.default]                  # required, as in the original
//! url = "redis://127.0.0.1:6379/0"  # SIGNALQUEUE_URL overrides the default queue's URL
//! interval = "300ms"               # SQLite: how often an idle worker looks anyway (due retries)
//! lease = "30s"                     # how long a claim lasts without renewal (`lease_ms` works too)
//! [queues.emails]
//! url = "sqlite://signalqueue.db"
//! ```
//! With no file and no variables, the default queue is `sqlite://signalqueue.db`: the embedded
//! engine, no server needed. Every key, with its unit, default and variable, is in
//! `docs/configuration.md`.
//!
//! An app with a configuration system of its own builds a [`Config`] in code and hands it to
//! [`Runtime::from_config`](crate::Runtime::from_config). The structs are `#[non_exhaustive]`
//! (a key added later becomes a field), so they are built as their defaults with fields set:
//! ```
//! let mut config = signalqueue::Config::default();
//! config.worker.retries = 3;
//! config.queues.insert(
//!     "emails".into(),
//!     signalqueue::config::QueueConfig::new("memory://emails"),
//! );
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::codec::Codec;
use crate::engine::{EngineOptions, EngineUrl};
use crate::error::Error;
use crate::runmode::Runmode;

/// The file looked for in the working directory when `SIGNALQUEUE_CONFIG` is not set.
pub const DEFAULT_FILE: &str = "signalqueue.toml";
/// The default queue's URL when nothing is configured.
pub const DEFAULT_URL: &str = "sqlite://signalqueue.db";
/// The worker's admin address when nothing is configured (the original's `SQ_WORKER_PORT`).
pub const DEFAULT_WORKER_ADDR: &str = "127.0.0.1:11231";

/// The whole configuration of a process.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Where it came from (a file path, or "defaults"), for messages.
    pub source: String,
    /// Whether `send` queues or runs inline.
    pub runmode: Runmode,
    /// The codec new signals are encoded with.
    pub codec: Codec,
    /// The worker's admin HTTP address.
    pub worker_addr: SocketAddr,
    /// Host names the admin server answers to besides IP addresses and `localhost`
    /// (`admin_hosts = ["queue.internal"]`): any other `Host` is refused (DNS rebinding).
    pub admin_hosts: Vec<String>,
    /// The queues, by name; `default` always exists.
    pub queues: BTreeMap<String, QueueConfig>,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// The outboxes (`[outbox]`): the app's databases that `send_in` writes to when a signal's
    /// queue lives elsewhere.
    pub outbox: OutboxConfig,
}

/// The outboxes, and how workers relay them (`[outbox]` in the file).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OutboxConfig {
    /// The databases holding an outbox (`url = "..."`, or `urls = [...]` for several);
    /// `SIGNALQUEUE_OUTBOX_URL` sets one.
    pub urls: Vec<String>,
    /// Whether every worker relays them (default true); `signalqueue-worker relay` relays
    /// regardless.
    pub relay: bool,
    /// Rows moved per outbox transaction.
    pub batch: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            urls: Vec::new(),
            relay: true,
            batch: 500,
        }
    }
}

/// One queue's settings.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct QueueConfig {
    /// The engine URL.
    pub url: String,
    /// Where the URL was set (`signalqueue.toml (\`queues.default.url\`)`, `SIGNALQUEUE_URL`,
    /// `defaults`), so an error about it blames the right place.
    pub url_origin: String,
    /// Polling interval where the engine polls.
    pub interval: Duration,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// How many dead letters to keep at most.
    pub dead_max: u64,
    /// How long dead letters are kept at most.
    pub dead_ttl: Duration,
    /// This queue's [`WorkerConfig::unknown_grace`], when it sets its own.
    pub unknown_grace: Option<Duration>,
}

impl QueueConfig {
    /// A queue at `url` with default settings.
    pub fn new(url: impl Into<String>) -> Self {
        let defaults = EngineOptions::new("");
        QueueConfig {
            url: url.into(),
            url_origin: "defaults".into(),
            interval: defaults.poll_interval,
            lease: Duration::from_secs(30),
            dead_max: defaults.dead_max,
            dead_ttl: defaults.dead_ttl,
            unknown_grace: None,
        }
    }

    /// The engine options for the queue called `name`.
    pub fn engine_options(&self, name: &str) -> EngineOptions {
        EngineOptions {
            queue: name.to_string(),
            poll_interval: self.interval,
            dead_max: self.dead_max,
            dead_ttl: self.dead_ttl,
        }
    }
}

/// Settings of the worker (`[worker]` in the file).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// How many receivers run at once.
    pub concurrency: usize,
    /// How many times a failed receiver is retried before its signal is dead-lettered.
    pub retries: u32,
    /// The first retry's delay; each next one doubles, with jitter.
    pub retry_base: Duration,
    /// The longest delay between retries.
    pub retry_max: Duration,
    /// How long in-flight receivers may run after SIGINT/SIGTERM before their signals are given
    /// back to the queue.
    pub shutdown_grace: Duration,
    /// How long one receiver run may take when the receiver sets no `timeout_ms`; `None` (the
    /// default) is no limit.
    pub receiver_timeout: Option<Duration>,
    /// How long after its send an entry this worker cannot handle (a signal it does not know,
    /// or an owed receiver it does not link: a rolling deploy) is given back for a worker that
    /// can, before it is dead-lettered. 15 minutes by default; a queue may set its own.
    pub unknown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 64,
            retries: 5,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(600),
            shutdown_grace: Duration::from_secs(30),
            receiver_timeout: None,
            unknown_grace: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    runmode: Option<String>,
    codec: Option<String>,
    worker_addr: Option<String>,
    #[serde(default)]
    admin_hosts: Vec<String>,
    #[serde(default)]
    queues: BTreeMap<String, RawQueue>,
    worker: Option<RawWorker>,
    outbox: Option<RawOutbox>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    url: Option<String>,
    urls: Option<Vec<String>>,
    relay: Option<bool>,
    batch: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    url: String,
    interval: Option<RawDuration>,
    interval_ms: Option<u64>,
    lease: Option<RawDuration>,
    lease_ms: Option<u64>,
    dead_max: Option<u64>,
    dead_ttl: Option<RawDuration>,
    dead_ttl_secs: Option<u64>,
    unknown_grace: Option<RawDuration>,
    unknown_grace_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    concurrency: Option<usize>,
    retries: Option<u32>,
    retry_base: Option<RawDuration>,
    retry_base_ms: Option<u64>,
    retry_max: Option<RawDuration>,
    retry_max_ms: Option<u64>,
    shutdown_grace: Option<RawDuration>,
    shutdown_grace_ms: Option<u64>,
    receiver_timeout: Option<RawDuration>,
    receiver_timeout_ms: Option<u64>,
    unknown_grace: Option<RawDuration>,
    unknown_grace_ms: Option<u64>,
}

/// A duration key as written: a string with its unit (`"30s"`), or, by mistake, a bare number
/// (kept apart so the error can point at the `_ms`/`_secs` key that takes one).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Text(String),
    Number(i64),
}

/// The unit of a duration key's older, numeric spelling (`lease_ms`, `dead_ttl_secs`).
#[derive(Clone, Copy)]
enum Unit {
    Millis,
    Secs,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::Millis => "_ms",
            Unit::Secs => "_secs",
        }
    }

    fn of(self, n: u64) -> Duration {
        match self {
            Unit::Millis => Duration::from_millis(n),
            Unit::Secs => Duration::from_secs(n),
        }
    }
}

/// Reads a duration given either as `key = "30s"` (humantime: `300ms`, `30s`, `5m`, `14d`,
/// `1h 30m`) or as the older `key_ms = 30000` / `key_secs = ...`; both at once is an error, as
/// one would silently win. `path` is the key's table (`queues.default.`, `worker.`).
fn duration(
    path: &str,
    key: &str,
    text: Option<RawDuration>,
    unit: Unit,
    number: Option<u64>,
) -> Result<Option<Duration>, String> {
    let old = format!("{key}{}", unit.suffix());
    match (text, number) {
        (None, None) => Ok(None),
        (None, Some(n)) => Ok(Some(unit.of(n))),
        (Some(_), Some(_)) => Err(format!(
            "`{path}{key}` and `{path}{old}` are both set; keep one (`{key} = \"30s\"` takes a unit, `{old}` a number)"
        )),
        (Some(RawDuration::Number(n)), None) => Err(format!(
            "`{path}{key}`: `{n}` has no unit; write a duration such as `{key} = \"30s\"` or `\"300ms\"`, or use `{old} = {n}`"
        )),
        (Some(RawDuration::Text(t)), None) => humantime::parse_duration(&t).map(Some).map_err(|e| {
            format!(
                "`{path}{key}`: `{t}` is not a duration ({e}); write it with a unit, such as `\"300ms\"`, `\"30s\"`, `\"5m\"` or `\"14d\"`"
            )
        }),
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut queues = BTreeMap::new();
        queues.insert("default".to_string(), QueueConfig::new(DEFAULT_URL));
        Config {
            source: "defaults".into(),
            runmode: Runmode::Async,
            codec: Codec::Bincode,
            worker_addr: DEFAULT_WORKER_ADDR.parse().expect("valid address"),
            admin_hosts: Vec::new(),
            queues,
            worker: WorkerConfig::default(),
            outbox: OutboxConfig::default(),
        }
    }
}

impl Config {
    /// Loads the configuration of this process: the file named by `SIGNALQUEUE_CONFIG`, or
    /// `signalqueue.toml` in the working directory if it exists, or the defaults; then the
    /// `SIGNALQUEUE_URL` and `SIGNALQUEUE_RUNMODE` overrides. Every error names its origin.
    pub fn load() -> Result<Config, Error> {
        let explicit = std::env::var_os("SIGNALQUEUE_CONFIG").map(PathBuf::from);
        let mut config = match &explicit {
            Some(path) => Self::from_file(path)?,
            None if Path::new(DEFAULT_FILE).exists() => Self::from_file(Path::new(DEFAULT_FILE))?,
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    /// Reads one file (no environment overrides).
    pub fn from_file(path: &Path) -> Result<Config, Error> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            origin: origin.clone(),
            message: format!(
                "cannot read the file ({e}); fix the path in SIGNALQUEUE_CONFIG or create it"
            ),
        })?;
        Self::from_toml(&text, &origin)
    }

    /// Parses a TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, Error> {
        let err = |message: String| Error::Config {
            origin: origin.to_string(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut config = Config {
            source: origin.to_string(),
            ..Config::default()
        };
        if let Some(r) = raw.runmode {
            config.runmode = r.parse().map_err(|m| err(format!("`runmode`: {m}")))?;
        }
        if let Some(c) = raw.codec {
            config.codec = Codec::parse(&c).ok_or_else(|| {
                err(format!(
                    "`codec`: unknown codec `{c}`; use `bincode` or `json`"
                ))
            })?;
        }
        if let Some(a) = raw.worker_addr {
            config.worker_addr = a.parse().map_err(|_| {
                err(format!(
                    "`worker_addr`: `{a}` is not an address; write it as `127.0.0.1:11231`"
                ))
            })?;
        }
        config.admin_hosts = raw.admin_hosts;
        if !raw.queues.contains_key("default") {
            return Err(err(
                "`queues.default` is missing; a default queue is required, e.g.\n[queues.default]\nurl = \"sqlite://signalqueue.db\"".into(),
            ));
        }
        config.queues.clear();
        for (name, q) in raw.queues {
            EngineUrl::parse(&q.url).map_err(|m| err(format!("`queues.{name}.url`: {m}")))?;
            let mut queue = QueueConfig::new(q.url);
            queue.url_origin = format!("{origin} (`queues.{name}.url`)");
            let path = format!("queues.{name}.");
            if let Some(d) =
                duration(&path, "interval", q.interval, Unit::Millis, q.interval_ms).map_err(err)?
            {
                if d < Duration::from_millis(1) {
                    return Err(err(format!(
                        "`queues.{name}.interval`: must be at least 1ms"
                    )));
                }
                queue.interval = d;
            }
            if let Some(d) =
                duration(&path, "lease", q.lease, Unit::Millis, q.lease_ms).map_err(err)?
            {
                if d < Duration::from_millis(100) {
                    return Err(err(format!(
                        "`queues.{name}.lease`: {} is too short; use at least 100ms",
                        humantime::format_duration(d)
                    )));
                }
                queue.lease = d;
            }
            if let Some(n) = q.dead_max {
                queue.dead_max = n;
            }
            if let Some(d) =
                duration(&path, "dead_ttl", q.dead_ttl, Unit::Secs, q.dead_ttl_secs).map_err(err)?
            {
                queue.dead_ttl = d;
            }
            queue.unknown_grace = duration(
                &path,
                "unknown_grace",
                q.unknown_grace,
                Unit::Millis,
                q.unknown_grace_ms,
            )
            .map_err(err)?;
            config.queues.insert(name, queue);
        }
        if let Some(w) = raw.worker {
            let d = &mut config.worker;
            if let Some(c) = w.concurrency {
                if c == 0 {
                    return Err(err("`worker.concurrency`: must be at least 1".into()));
                }
                d.concurrency = c;
            }
            if let Some(r) = w.retries {
                d.retries = r;
            }
            let path = "worker.";
            let ms = Unit::Millis;
            if let Some(t) =
                duration(path, "retry_base", w.retry_base, ms, w.retry_base_ms).map_err(err)?
            {
                d.retry_base = t;
            }
            if let Some(t) =
                duration(path, "retry_max", w.retry_max, ms, w.retry_max_ms).map_err(err)?
            {
                d.retry_max = t;
            }
            if let Some(t) = duration(
                path,
                "shutdown_grace",
                w.shutdown_grace,
                ms,
                w.shutdown_grace_ms,
            )
            .map_err(err)?
            {
                d.shutdown_grace = t;
            }
            if let Some(t) = duration(
                path,
                "receiver_timeout",
                w.receiver_timeout,
                ms,
                w.receiver_timeout_ms,
            )
            .map_err(err)?
            {
                if t < Duration::from_millis(1) {
                    return Err(err(
                        "`worker.receiver_timeout`: must be at least 1ms; leave it out for no limit"
                            .into(),
                    ));
                }
                d.receiver_timeout = Some(t);
            }
            if let Some(t) = duration(
                path,
                "unknown_grace",
                w.unknown_grace,
                ms,
                w.unknown_grace_ms,
            )
            .map_err(err)?
            {
                d.unknown_grace = t;
            }
        }
        if let Some(o) = raw.outbox {
            let mut urls: Vec<String> = o
                .url
                .into_iter()
                .chain(o.urls.unwrap_or_default())
                .collect();
            urls.dedup();
            if urls.is_empty() {
                return Err(err(
                    "`outbox`: name the app's database with `url = \"postgres://USER@HOST/DATABASE\"` (or `sqlite://PATH`)".into(),
                ));
            }
            for url in &urls {
                check_outbox_url(url).map_err(|m| err(format!("`outbox.url`: {m}")))?;
            }
            config.outbox.urls = urls;
            if let Some(relay) = o.relay {
                config.outbox.relay = relay;
            }
            if let Some(batch) = o.batch {
                if batch == 0 {
                    return Err(err("`outbox.batch`: must be at least 1".into()));
                }
                config.outbox.batch = batch;
            }
        }
        Ok(config)
    }

    /// Applies `SIGNALQUEUE_URL`, `SIGNALQUEUE_RUNMODE` and `SIGNALQUEUE_CODEC` as read by `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        if let Some(url) = var("SIGNALQUEUE_URL").filter(|u| !u.is_empty()) {
            EngineUrl::parse(&url).map_err(|message| Error::Config {
                origin: "SIGNALQUEUE_URL".into(),
                message,
            })?;
            let queue = self
                .queues
                .entry("default".into())
                .or_insert_with(|| QueueConfig::new(url.clone()));
            queue.url = url;
            queue.url_origin = "SIGNALQUEUE_URL".into();
        }
        if let Some(url) = var("SIGNALQUEUE_OUTBOX_URL").filter(|u| !u.is_empty()) {
            check_outbox_url(&url).map_err(|message| Error::Config {
                origin: "SIGNALQUEUE_OUTBOX_URL".into(),
                message,
            })?;
            self.outbox.urls = vec![url];
        }
        if let Some(r) = var("SIGNALQUEUE_RUNMODE").filter(|r| !r.is_empty()) {
            self.runmode = r.parse().map_err(|message| Error::Config {
                origin: "SIGNALQUEUE_RUNMODE".into(),
                message,
            })?;
        }
        if let Some(c) = var("SIGNALQUEUE_CODEC").filter(|c| !c.is_empty()) {
            self.codec = Codec::parse(&c).ok_or_else(|| Error::Config {
                origin: "SIGNALQUEUE_CODEC".into(),
                message: format!("unknown codec `{c}`; use `bincode` or `json`"),
            })?;
        }
        Ok(())
    }

    /// The settings of queue `name`, or an error naming the configured ones.
    pub fn queue(&self, name: &str) -> Result<&QueueConfig, Error> {
        self.queues.get(name).ok_or_else(|| Error::Config {
            origin: self.source.clone(),
            message: format!(
                "no queue named `{name}`; the configured queues are: {}",
                self.queues
                    .keys()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

/// An outbox lives in the app's database: PostgreSQL or SQLite.
fn check_outbox_url(url: &str) -> Result<(), String> {
    let parsed = EngineUrl::parse(url)?;
    match parsed.scheme.as_str() {
        "postgres" | "postgresql" | "sqlite" => Ok(()),
        other => Err(format!(
            "an outbox lives in the app's database, and `{other}://` is not one; use `postgres://USER@HOST:PORT/DATABASE` or `sqlite://PATH`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg_err(text: &str) -> String {
        Config::from_toml(text, "signalqueue.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_the_documented_example() {
        let c = Config::from_toml(
            r#"
runmode = "async"
worker_addr = "127.0.0.1:11231"
[queues.default]
url = "redis://127.0.0.1:6379/0"
interval_ms = 300
lease_ms = 30000
[queues.emails]
url = "sqlite://signalqueue.db"
"#,
            "signalqueue.toml",
        )
        .unwrap();
        assert_eq!(c.runmode, Runmode::Async);
        assert_eq!(c.queues["default"].url, "redis://127.0.0.1:6379/0");
        assert_eq!(c.queues["default"].lease, Duration::from_secs(30));
        assert_eq!(c.queues["emails"].url, "sqlite://signalqueue.db");
        assert_eq!(
            c.queues["emails"].url_origin,
            "signalqueue.toml (`queues.emails.url`)"
        );
    }

    #[test]
    fn errors_name_the_file_the_key_and_what_is_allowed() {
        let e = cfg_err("[queues.emails]\nurl = \"sqlite://x.db\"\n");
        assert!(e.contains("signalqueue.toml"), "{e}");
        assert!(e.contains("`queues.default` is missing"), "{e}");

        let e = cfg_err("[queues.default]\nurl = \"kafka://x\"\n");
        assert!(e.contains("`queues.default.url`"), "{e}");
        assert!(e.contains("unknown engine `kafka://`"), "{e}");
        assert!(e.contains("sqlite://PATH"), "{e}");

        let e = cfg_err("[queues.default]\nurl = \"no-scheme\"\n");
        assert!(e.contains("is not a queue URL"), "{e}");

        let e = cfg_err("runmode = \"fast\"\n[queues.default]\nurl = \"memory://\"\n");
        assert!(e.contains("`runmode`: unknown runmode `fast`"), "{e}");
        assert!(e.contains("`sync` or `async`"), "{e}");

        let e = cfg_err("colour = 1\n[queues.default]\nurl = \"memory://\"\n");
        assert!(e.contains("unknown field `colour`"), "{e}");
    }

    #[test]
    fn worker_settings() {
        let c = Config::from_toml(
            "[queues.default]\nurl = \"memory://\"\n[worker]\nconcurrency = 8\nreceiver_timeout_ms = 1500\n",
            "signalqueue.toml",
        )
        .unwrap();
        assert_eq!(c.worker.concurrency, 8);
        assert_eq!(c.worker.receiver_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(Config::default().worker.receiver_timeout, None);
        let e =
            cfg_err("[queues.default]\nurl = \"memory://\"\n[worker]\nreceiver_timeout_ms = 0\n");
        assert!(
            e.contains("`worker.receiver_timeout`: must be at least 1ms"),
            "{e}"
        );
    }

    #[test]
    fn unknown_grace_is_worker_wide_or_per_queue() {
        let c = Config::from_toml(
            "[queues.default]\nurl = \"memory://\"\n[queues.emails]\nurl = \"memory://\"\nunknown_grace = \"2s\"\n[worker]\nunknown_grace = \"1h\"\n",
            "signalqueue.toml",
        )
        .unwrap();
        assert_eq!(c.worker.unknown_grace, Duration::from_secs(3600));
        assert_eq!(c.queues["default"].unknown_grace, None);
        assert_eq!(
            c.queues["emails"].unknown_grace,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            Config::default().worker.unknown_grace,
            Duration::from_secs(15 * 60)
        );
        let e = cfg_err("[queues.default]\nurl = \"memory://\"\nunknown_grace = \"soon\"\n");
        assert!(
            e.contains("`queues.default.unknown_grace`: `soon` is not a duration"),
            "{e}"
        );
    }

    #[test]
    fn durations_are_strings_with_units_and_the_old_numeric_keys_still_work() {
        let c = Config::from_toml(
            r#"
[queues.default]
url = "memory://"
lease = "30s"
interval = "300ms"
dead_ttl = "14d"
[worker]
retry_base = "500ms"
retry_max = "10m"
shutdown_grace = "1m 30s"
receiver_timeout = "2s"
"#,
            "signalqueue.toml",
        )
        .unwrap();
        let q = &c.queues["default"];
        assert_eq!(q.lease, Duration::from_secs(30));
        assert_eq!(q.interval, Duration::from_millis(300));
        assert_eq!(q.dead_ttl, Duration::from_secs(14 * 86_400));
        assert_eq!(c.worker.retry_base, Duration::from_millis(500));
        assert_eq!(c.worker.retry_max, Duration::from_secs(600));
        assert_eq!(c.worker.shutdown_grace, Duration::from_secs(90));
        assert_eq!(c.worker.receiver_timeout, Some(Duration::from_secs(2)));

        let c = Config::from_toml(
            "[queues.default]\nurl = \"memory://\"\nlease_ms = 2500\ndead_ttl_secs = 60\n[worker]\nretry_base_ms = 20\n",
            "signalqueue.toml",
        )
        .unwrap();
        assert_eq!(c.queues["default"].lease, Duration::from_millis(2500));
        assert_eq!(c.queues["default"].dead_ttl, Duration::from_secs(60));
        assert_eq!(c.worker.retry_base, Duration::from_millis(20));
    }

    #[test]
    fn the_reference_s_example_parses() {
        let doc = include_str!("../../docs/configuration.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("docs/configuration.md has a toml example");
        let c = Config::from_toml(example, "docs/configuration.md").unwrap();
        assert_eq!(
            c.queues["default"].dead_ttl,
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(c.worker.retry_max, WorkerConfig::default().retry_max);
    }

    #[test]
    fn duration_mistakes_name_the_keys() {
        let e =
            cfg_err("[queues.default]\nurl = \"memory://\"\nlease = \"30s\"\nlease_ms = 30000\n");
        assert!(
            e.contains("`queues.default.lease` and `queues.default.lease_ms` are both set"),
            "{e}"
        );
        let e = cfg_err("[queues.default]\nurl = \"memory://\"\n[worker]\nretry_base = \"fast\"\n");
        assert!(
            e.contains("`worker.retry_base`: `fast` is not a duration"),
            "{e}"
        );
        let e = cfg_err("[queues.default]\nurl = \"memory://\"\nlease = 30000\n");
        assert!(e.contains("`30000` has no unit"), "{e}");
        assert!(e.contains("`lease_ms = 30000`"), "{e}");
        let e = cfg_err("[queues.default]\nurl = \"memory://\"\nlease = \"50ms\"\n");
        assert!(
            e.contains("`queues.default.lease`: 50ms is too short"),
            "{e}"
        );
    }

    #[test]
    fn environment_overrides() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "SIGNALQUEUE_URL" => Some("redis://127.0.0.1:6379/3".into()),
            "SIGNALQUEUE_RUNMODE" => Some("SQ_SYNC".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.queues["default"].url, "redis://127.0.0.1:6379/3");
        assert_eq!(c.queues["default"].url_origin, "SIGNALQUEUE_URL");
        assert_eq!(c.runmode, Runmode::Sync);
        assert_eq!(Config::default().queues["default"].url_origin, "defaults");

        let e = Config::default()
            .apply_env(|k| (k == "SIGNALQUEUE_RUNMODE").then(|| "SQ_FAST".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("SIGNALQUEUE_RUNMODE"), "{e}");
        assert!(e.contains("unknown runmode `SQ_FAST`"), "{e}");
    }

    #[test]
    fn outbox_settings() {
        let c = Config::from_toml(
            "[queues.default]\nurl = \"memory://\"\n[outbox]\nurl = \"sqlite://app.db\"\nbatch = 50\n",
            "signalqueue.toml",
        )
        .unwrap();
        assert_eq!(c.outbox.urls, ["sqlite://app.db"]);
        assert_eq!(c.outbox.batch, 50);
        assert!(c.outbox.relay);
        assert!(Config::default().outbox.urls.is_empty());
        let e =
            cfg_err("[queues.default]\nurl = \"memory://\"\n[outbox]\nurl = \"redis://h:1/0\"\n");
        assert!(e.contains("`outbox.url`"), "{e}");
        assert!(e.contains("app's database"), "{e}");
        let e = cfg_err("[queues.default]\nurl = \"memory://\"\n[outbox]\nrelay = false\n");
        assert!(e.contains("name the app's database"), "{e}");
    }

    #[test]
    fn defaults_to_the_embedded_engine() {
        let c = Config::default();
        assert_eq!(c.queues["default"].url, "sqlite://signalqueue.db");
        assert_eq!(c.worker_addr.port(), 11231);
    }
}
