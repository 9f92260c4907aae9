//! `shop-worker` processes on a queue named by URL: a sandbox whose configuration leaves the
//! queue's URL to `SIGNALQUEUE_URL`, so the same tests drive the worker binary against any
//! engine (a private Redis, a schema of PostgreSQL), and this process opens the same queue to
//! send and to count.

use std::process::Command;
use std::time::{Duration, Instant};

use signalqueue::engine::{redact_url, Counts, EngineOptions, SharedEngine};
use signalqueue::{Config, Runtime};

use super::{Out, Running, Sandbox, DEADLINE};

/// The two-line worker binary (`tests/src/bin/shop-worker.rs`).
pub const BIN: &str = env!("CARGO_BIN_EXE_shop-worker");

/// A sandbox whose worker processes reach the queue at `url` through `SIGNALQUEUE_URL`.
pub struct Bench {
    /// The processes' working directory, with `signalqueue.toml` and the journal.
    pub sb: Sandbox,
    /// The default queue's real URL.
    pub url: String,
}

impl Bench {
    /// A sandbox whose configuration gives the default queue `lease_ms` and quick retries. The
    /// configured URL is a SQLite file that must stay unused: the queue's real URL is `url`,
    /// given to every process as `SIGNALQUEUE_URL`.
    pub fn new(url: String, lease_ms: u64) -> Bench {
        let sb = Sandbox::new(Some(&format!(
            "[queues.default]\nurl = \"sqlite://not-used.db\"\nlease_ms = {lease_ms}\n\
             [worker]\nretry_base_ms = 20\nretry_max_ms = 200\nshutdown_grace_ms = 120000\n"
        )));
        Bench { sb, url }
    }

    /// A `shop-worker` command in the sandbox, on the queue at `url`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.sb.command(BIN, args);
        cmd.env("SIGNALQUEUE_URL", &self.url);
        cmd
    }

    /// Starts `shop-worker run` with `concurrency` slots (and `--halt-when-exhausted`).
    pub fn worker(&self, concurrency: usize, halt: bool) -> Running {
        let concurrency = concurrency.to_string();
        let mut args = vec!["run", "127.0.0.1:0", "--concurrency", &concurrency];
        if halt {
            args.push("--halt-when-exhausted");
        }
        Running::spawn(self.command(&args))
    }

    /// Runs a `shop-worker` command to completion.
    pub fn run(&self, args: &[&str]) -> Out {
        Running::spawn(self.command(args)).wait()
    }

    /// The queues as the worker sees them, for sending from this process.
    pub async fn runtime(&self) -> Runtime {
        let mut config = Config::from_file(&self.sb.file("signalqueue.toml")).expect("config");
        config
            .apply_env(|k| (k == "SIGNALQUEUE_URL").then(|| self.url.clone()))
            .expect("SIGNALQUEUE_URL");
        Runtime::from_config(&config).await.expect("open queues")
    }

    /// The default queue, opened from this process.
    pub async fn engine(&self) -> SharedEngine {
        signalqueue::engine::open(&self.url, EngineOptions::new("default"))
            .await
            .expect("open the queue")
    }

    /// The default queue's counts.
    pub async fn counts(&self) -> Counts {
        self.engine().await.counts().await.expect("counts")
    }

    /// Waits until the queue holds nothing pending, scheduled or in flight.
    pub async fn wait_settled(&self) -> Counts {
        let engine = self.engine().await;
        let start = Instant::now();
        loop {
            if let Ok(c) = engine.counts().await {
                if c.pending + c.scheduled + c.in_flight == 0 {
                    return c;
                }
                assert!(start.elapsed() < DEADLINE, "the queue never settled: {c:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A worker's banner names the queue's engine: the one from `SIGNALQUEUE_URL` (its
    /// kind and its URL as logs show it), and the configured SQLite file was never made.
    pub fn assert_served(&self, out: &Out) {
        // The banner names the engine's kind, then its URL: the kind is the scheme, except
        // for the cluster forms (`redis-cluster://` is a `redis` engine on a cluster).
        let scheme = self.url.split("://").next().unwrap_or_default();
        let kind = scheme.strip_suffix("-cluster").unwrap_or(scheme);
        let line = format!("queue default: {kind} {}", redact_url(&self.url));
        assert!(out.stdout.contains(&line), "{line}: {}", out.stdout);
        assert!(!self.sb.file("not-used.db").exists());
    }
}
