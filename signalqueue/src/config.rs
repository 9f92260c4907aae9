//! Configuration: `signalqueue.toml` plus `SIGNALQUEUE_*` environment variables.
//!
//! The successor of the original's `SQ_QUEUES`, `SQ_RUNMODE` and `SQ_WORKER_PORT`:
//! ```toml
//! runmode = "async"                 # or "sync"; SIGNALQUEUE_RUNMODE overrides
//! codec = "bincode"                 # or "json"
//! worker_addr = "127.0.0.1:11231"   # the worker's admin HTTP address
//! [queues.default]                  # required, as in the original
//! url = "redis://127.0.0.1:6379/0"  # SIGNALQUEUE_URL overrides the default queue's URL
//! interval_ms = 300                 # SQLite: how often an idle worker looks anyway (due retries)
//! lease_ms = 30000                  # how long a claim lasts without renewal
//! [queues.emails]
//! url = "sqlite://signalqueue.db"
//! ```
//! With no file and no variables, the default queue is `sqlite://signalqueue.db`: the embedded
//! engine, no server needed.

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
pub struct Config {
    /// Where it came from (a file path, or "defaults"), for messages.
    pub source: String,
    /// Whether `send` queues or runs inline.
    pub runmode: Runmode,
    /// The codec new signals are encoded with.
    pub codec: Codec,
    /// The worker's admin HTTP address.
    pub worker_addr: SocketAddr,
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
pub struct QueueConfig {
    /// The engine URL.
    pub url: String,
    /// Polling interval where the engine polls.
    pub interval: Duration,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// How many dead letters to keep at most.
    pub dead_max: u64,
    /// How long dead letters are kept at most.
    pub dead_ttl: Duration,
}

impl QueueConfig {
    /// A queue at `url` with default settings.
    pub fn new(url: impl Into<String>) -> Self {
        let defaults = EngineOptions::new("");
        QueueConfig {
            url: url.into(),
            interval: defaults.poll_interval,
            lease: Duration::from_secs(30),
            dead_max: defaults.dead_max,
            dead_ttl: defaults.dead_ttl,
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
    interval_ms: Option<u64>,
    lease_ms: Option<u64>,
    dead_max: Option<u64>,
    dead_ttl_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    concurrency: Option<usize>,
    retries: Option<u32>,
    retry_base_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    receiver_timeout_ms: Option<u64>,
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
        if !raw.queues.contains_key("default") {
            return Err(err(
                "`queues.default` is missing; a default queue is required, e.g.\n[queues.default]\nurl = \"sqlite://signalqueue.db\"".into(),
            ));
        }
        config.queues.clear();
        for (name, q) in raw.queues {
            EngineUrl::parse(&q.url).map_err(|m| err(format!("`queues.{name}.url`: {m}")))?;
            let mut queue = QueueConfig::new(q.url);
            if let Some(ms) = q.interval_ms {
                if ms == 0 {
                    return Err(err(format!(
                        "`queues.{name}.interval_ms`: must be at least 1 (milliseconds)"
                    )));
                }
                queue.interval = Duration::from_millis(ms);
            }
            if let Some(ms) = q.lease_ms {
                if ms < 100 {
                    return Err(err(format!(
                        "`queues.{name}.lease_ms`: {ms} is too short; use at least 100 (milliseconds)"
                    )));
                }
                queue.lease = Duration::from_millis(ms);
            }
            if let Some(n) = q.dead_max {
                queue.dead_max = n;
            }
            if let Some(s) = q.dead_ttl_secs {
                queue.dead_ttl = Duration::from_secs(s);
            }
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
            if let Some(ms) = w.retry_base_ms {
                d.retry_base = Duration::from_millis(ms);
            }
            if let Some(ms) = w.retry_max_ms {
                d.retry_max = Duration::from_millis(ms);
            }
            if let Some(ms) = w.shutdown_grace_ms {
                d.shutdown_grace = Duration::from_millis(ms);
            }
            if let Some(ms) = w.receiver_timeout_ms {
                if ms == 0 {
                    return Err(err(
                        "`worker.receiver_timeout_ms`: must be at least 1; leave it out for no limit"
                            .into(),
                    ));
                }
                d.receiver_timeout = Some(Duration::from_millis(ms));
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
            self.queues
                .entry("default".into())
                .and_modify(|q| q.url = url.clone())
                .or_insert_with(|| QueueConfig::new(url));
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
            e.contains("`worker.receiver_timeout_ms`: must be at least 1"),
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
        assert_eq!(c.runmode, Runmode::Sync);

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
