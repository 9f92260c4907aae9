//! `sq-bench`: how fast signalqueue is on this machine, on Redis, SQLite and PostgreSQL.
//!
//! ```sh
//! cargo run --release -p signalqueue-bench -- [--redis URL] [--postgres URL] [--only NAME,...] [--quick]
//! ```
//!
//! It measures `send` throughput (one task awaiting each send, 64 tasks, `send_many`), the
//! end-to-end drain of a 200k backlog by one worker process (no-op receiver, four receivers,
//! a 1 KiB argument, and one `INCR` on the same Redis per signal), latency from `send` to the receiver's start at a steady 5k signals/s,
//! idle wake-up, the worker's memory, and what a million delayed sends waiting cost the claims
//! of ready entries; on PostgreSQL also what `send_in` adds to the app's own one-row
//! transaction. It runs `redis-benchmark` against the same Redis and `pgbench` against the same
//! PostgreSQL, so those figures also come as fractions of what the server itself does here, now.
//!
//! One JSON object per measurement goes to stdout, a human summary to stderr. It starts
//! nothing but its own worker processes (this executable, re-executed as the worker) and, for
//! `send_64_pair` and `send_64_replicas`, a private Redis primary with one replica (killed
//! afterwards); it uses only the Redis it is given otherwise, on a private queue per run whose keys it deletes afterwards,
//! a temporary SQLite file, and private schemas on the PostgreSQL it is given, dropped
//! afterwards. `docs/benchmarks.md` has the method and the figures.

mod baseline;
mod drain;
mod latency;
mod pgbench;
mod relay;
mod replica_pair;
mod report;
mod scheduled;
mod send;
mod send_in;
mod signals;
mod target;
mod worker_process;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::baseline::Baselines;
use crate::drain::Variant;
use crate::latency::Samples;
use crate::report::{load1, Measurement};
use crate::target::{redact, Kind, Servers, Target};
use crate::worker_process::{WorkerProcess, WorkerSettings, ROLE_ENV};

/// Measures signalqueue's send throughput, drain rate, latency and worker memory.
#[derive(Parser, Debug)]
#[command(name = "sq-bench", version)]
struct Args {
    /// The Redis to measure against (only a private queue's keys are touched).
    #[arg(long, default_value = "redis://127.0.0.1:6379/0", value_name = "URL")]
    redis: String,
    /// The PostgreSQL to measure against, without `?schema=` (each run makes a private schema
    /// and drops it). Unreachable, it is skipped with a note unless `--only postgres` asks for it.
    #[arg(
        long,
        env = "SQ_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/test",
        value_name = "URL"
    )]
    postgres: String,
    /// Only these engines (`redis`, `sqlite`, `postgres`) and measurements (a name such as
    /// `send_seq`, or a prefix such as `drain`, `latency`, `redis_benchmark`, `pgbench`,
    /// `send_in`); comma-separated or repeated.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    only: Vec<String>,
    /// Small sizes and one run each: seconds instead of minutes (a smoke test, not figures).
    #[arg(long)]
    quick: bool,
    /// Runs per measurement (default: 5 for sends, 3 for drains and latencies; 1 with --quick).
    #[arg(long, value_name = "N")]
    runs: Option<usize>,
    /// `RUST_LOG` of the worker processes. The worker's own default, `info`, logs one line per
    /// receiver run (to a file here).
    #[arg(long, default_value = "info", value_name = "FILTER")]
    worker_log: String,
    /// The worker's `[worker] concurrency` (default: the worker's own default, 64).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
}

fn main() -> ExitCode {
    // Re-executed by `WorkerProcess::start`: be the worker, with the bench's receivers linked.
    if std::env::var_os(ROLE_ENV).is_some() {
        return signalqueue_runner::main();
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(Bench::new(args).run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sizes of one bench: full, or `--quick`.
struct Sizes {
    send_runs: usize,
    drain_runs: usize,
    latency_runs: usize,
    send_seq: (u64, u64, u64),
    send_concurrent: (u64, u64, u64),
    send_many: u64,
    /// The app's transactions per `send_in` run, sequential and with `send_in::CLIENTS`.
    send_in: (u64, u64),
    /// Rows in the outbox the relay empties.
    relay: u64,
    drain: u64,
    latency_secs: f64,
    idle: (usize, usize, usize),
    /// Delayed entries waiting, and ready ones claimed past them (`scheduled_1m`).
    scheduled: (u64, usize),
    settle: Duration,
}

impl Sizes {
    fn new(quick: bool, runs: Option<usize>) -> Sizes {
        // (Redis, SQLite, PostgreSQL) where they differ: a SQLite or PostgreSQL send is one
        // fsync'd transaction.
        let mut s = if quick {
            Sizes {
                send_runs: 1,
                drain_runs: 1,
                latency_runs: 1,
                send_seq: (300, 30, 30),
                send_concurrent: (2_048, 256, 256),
                send_many: 5_000,
                send_in: (30, 80),
                relay: 1_000,
                drain: 2_000,
                latency_secs: 0.2,
                idle: (10, 3, 5),
                scheduled: (20_000, 1_000),
                settle: Duration::from_millis(300),
            }
        } else {
            Sizes {
                send_runs: 5,
                drain_runs: 3,
                latency_runs: 3,
                send_seq: (20_000, 500, 2_000),
                send_concurrent: (102_400, 6_400, 25_600),
                send_many: 200_000,
                send_in: (2_000, 8_000),
                relay: 100_000,
                drain: 200_000,
                latency_secs: 3.0,
                idle: (200, 30, 200),
                scheduled: (1_000_000, 10_000),
                settle: Duration::from_secs(1),
            }
        };
        if let Some(n) = runs {
            let n = n.max(1);
            (s.send_runs, s.drain_runs, s.latency_runs) = (n, n, n);
        }
        s
    }

    fn pick<T: Copy>(sizes: (T, T, T), kind: Kind) -> T {
        match kind {
            Kind::Redis => sizes.0,
            Kind::Sqlite => sizes.1,
            Kind::Postgres => sizes.2,
        }
    }
}

struct Bench {
    args: Args,
    servers: Servers,
    sizes: Sizes,
    engines: Vec<Kind>,
    /// Whether `--only` named the engines (then an unreachable PostgreSQL is an error).
    engines_named: bool,
    names: Vec<String>,
    worker: WorkerSettings,
}

/// The servers' own figures, for the fractions: `redis-benchmark`'s and `pgbench`'s.
#[derive(Default)]
struct Scales {
    redis: Baselines,
    pgbench: Baselines,
}

impl Bench {
    fn new(args: Args) -> Bench {
        let (engines, names): (Vec<String>, Vec<String>) = args
            .only
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .partition(|s| s == "redis" || s == "sqlite" || s == "postgres");
        let engines_named = !engines.is_empty();
        let engines = [Kind::Redis, Kind::Sqlite, Kind::Postgres]
            .into_iter()
            .filter(|k| engines.is_empty() || engines.contains(&k.to_string()))
            .collect();
        Bench {
            servers: Servers {
                redis: args.redis.clone(),
                postgres: args.postgres.clone(),
            },
            engines_named,
            sizes: Sizes::new(args.quick, args.runs),
            worker: WorkerSettings {
                log: args.worker_log.clone(),
                concurrency: args.concurrency,
            },
            engines,
            names,
            args,
        }
    }

    fn wanted(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|f| name.starts_with(f.as_str()))
    }

    async fn run(mut self) -> Result<(), String> {
        self.describe_machine().await;
        if self.engines.contains(&Kind::Postgres) {
            if let Err(why) = postgres_settings(&self.args.postgres).await {
                if self.engines_named {
                    return Err(why);
                }
                eprintln!("note: skipping PostgreSQL: {why} (--postgres URL, or SQ_BENCH_POSTGRES, names another)");
                self.engines.retain(|&k| k != Kind::Postgres);
            }
        }
        let mut scales = Scales::default();
        let mut baselines = Baselines::new();
        if self.engines.contains(&Kind::Redis) && self.wanted("redis_benchmark") {
            let runs = if self.args.quick { 1 } else { 3 };
            match baseline::measure(&self.args.redis, runs, self.args.quick) {
                Ok(b) => {
                    for (name, values) in &b {
                        let how = match name.as_str() {
                            n if n.ends_with("_p16") => "pipelined 16 deep, 50 clients",
                            n if n.ends_with("_c1") => "1 client awaiting each reply",
                            _ => "unpipelined, 50 clients",
                        };
                        Measurement::runs(
                            format!("redis_benchmark_{name}"),
                            "redis",
                            0,
                            "ops/s",
                            values.clone(),
                        )
                        .note(format!("redis-benchmark -t lpush,rpop, {how}"))
                        .emit();
                    }
                    baselines = b;
                }
                Err(why) => eprintln!("note: no redis-benchmark figures: {why}"),
            }
            cleanup_benchmark_list(&self.args.redis).await;
        }
        scales.redis = baselines;
        if self.engines.contains(&Kind::Postgres) && self.wanted("pgbench") {
            let runs = if self.args.quick { 1 } else { 3 };
            match pgbench::measure(&self.args.postgres, runs, self.args.quick).await {
                Ok(b) => {
                    for (name, values) in &b {
                        let clients = name.rsplit('c').next().unwrap_or("?");
                        Measurement::runs(
                            format!("pgbench_{name}"),
                            "postgres",
                            0,
                            "tx/s",
                            values.clone(),
                        )
                        .note(format!(
                            "pgbench -M prepared -c {clients}: one committed one-row INSERT per transaction"
                        ))
                        .emit();
                    }
                    scales.pgbench = b;
                }
                Err(why) => eprintln!("note: no pgbench figures: {why}"),
            }
        }
        for &kind in &self.engines {
            self.sends(kind, &scales).await?;
            if kind == Kind::Postgres {
                self.send_in_overhead(&scales).await?;
            }
            self.drains(kind, &scales).await?;
            self.latencies(kind).await?;
            self.scheduled(kind).await?;
        }
        if self.engines.contains(&Kind::Postgres) && self.wanted("outbox_relay") {
            let n = self.sizes.relay;
            let mut values = Vec::new();
            for _ in 0..self.sizes.drain_runs {
                values.push(relay::relay(&self.servers, n, &self.worker).await?);
            }
            Measurement::runs("outbox_relay", Kind::Postgres, n, "rows/s", values)
                .note("rows committed to a PostgreSQL outbox by send_many_in (1000 a transaction), relayed by one worker process into a SQLite queue it drains meanwhile; until the outbox is empty")
                .emit();
        }
        if self.engines.contains(&Kind::Postgres) && self.wanted("outbox_relay_latency") {
            let count = Sizes::pick(self.sizes.idle, Kind::Postgres);
            let mut got = relay::latency(&self.servers, count, Duration::from_millis(30)).await?;
            Measurement::latency("outbox_relay_latency", Kind::Postgres, 1, &mut got)
                .note("one send_in at a time, 30 ms apart, into an outbox whose relay is idle: from COMMIT sent (its flush included) to the entry in its queue (in memory, in the relay's process)")
                .emit();
        }
        eprintln!("load average at the end: {:.2}", load1());
        Ok(())
    }

    /// The machine and the Redis server, for the record.
    async fn describe_machine(&self) {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        eprintln!(
            "sq-bench{}: {cores} cores, load average {:.2}",
            if self.args.quick { " --quick" } else { "" },
            load1()
        );
        if self.engines.contains(&Kind::Redis) {
            match redis_settings(&self.args.redis).await {
                Ok(s) => eprintln!("redis {}: {s}", redact(&self.args.redis)),
                Err(e) => eprintln!("redis {}: {e}", redact(&self.args.redis)),
            }
        }
        if self.engines.contains(&Kind::Postgres) {
            match postgres_settings(&self.args.postgres).await {
                Ok(s) => eprintln!("postgres {}: {s}", redact(&self.args.postgres)),
                Err(e) => eprintln!("postgres {}: {e}", redact(&self.args.postgres)),
            }
        }
    }

    async fn sends(&self, kind: Kind, scales: &Scales) -> Result<(), String> {
        let s = &self.sizes;
        let runs = s.send_runs;
        let url = &self.servers;
        if self.wanted("send_seq") {
            let n = Sizes::pick(s.send_seq, kind);
            let mut values = Vec::new();
            for _ in 0..runs {
                let t = Target::fresh(kind, url).await?;
                let rate = send::sequential(&t, n).await;
                t.cleanup().await?;
                values.push(rate?);
            }
            let m = Measurement::runs("send_seq", kind, n, "signals/s", values)
                .note("one task awaiting each send, multi-thread runtime");
            emit(m, kind, scales, &["lpush_c1", "insert_c1"]);
        }
        if self.wanted("send_seq_current_thread") {
            let n = Sizes::pick(s.send_seq, kind);
            let mut values = Vec::new();
            for _ in 0..runs {
                values.push(send::sequential_current_thread(kind, url.clone(), n)?);
            }
            let m = Measurement::runs("send_seq_current_thread", kind, n, "signals/s", values)
                .note("one task awaiting each send, current-thread runtime");
            emit(m, kind, scales, &["lpush_c1", "insert_c1"]);
        }
        if kind == Kind::Redis && self.wanted("redis_crate_rpush_seq") {
            let n = s.send_seq.0;
            let mut values = Vec::new();
            for _ in 0..runs {
                values.push(send::raw_redis_sequential(&url.redis, n).await?);
            }
            let m = Measurement::runs("redis_crate_rpush_seq", kind, n, "ops/s", values).note(
                "the redis crate alone: one task awaiting each RPUSH on a multiplexed connection",
            );
            emit(m, kind, scales, &["lpush_c1"]);
        }
        if self.wanted("send_64") {
            let n = Sizes::pick(s.send_concurrent, kind);
            let mut values = Vec::new();
            for _ in 0..runs {
                let t = Target::fresh(kind, url).await?;
                let rate = send::concurrent(&t, n).await;
                t.cleanup().await?;
                values.push(rate?);
            }
            let m = Measurement::runs("send_64", kind, n, "signals/s", values)
                .note("64 tasks sending at once");
            emit(m, kind, scales, &["lpush", "insert_c16", "insert_c64"]);
        }
        if kind == Kind::Redis && (self.wanted("send_64_pair") || self.wanted("send_64_replicas")) {
            self.sends_with_replicas().await?;
        }
        if self.wanted("send_many") {
            let n = s.send_many;
            let mut values = Vec::new();
            for _ in 0..runs {
                let t = Target::fresh(kind, url).await?;
                let rate = send::batched(&t, n).await;
                t.cleanup().await?;
                values.push(rate?);
            }
            let m = Measurement::runs("send_many", kind, n, "signals/s", values)
                .note("send_many, batches of 1000");
            emit(m, kind, scales, &["lpush_p16"]);
        }
        Ok(())
    }

    /// `send_64` on a private primary with one replica: without (`send_64_pair`) and with
    /// `?replicas=1` (`send_64_replicas`, every group of sends waits for the replica), in
    /// alternating runs on the same two servers, so the difference is the cost of `WAIT`.
    async fn sends_with_replicas(&self) -> Result<(), String> {
        let pair = replica_pair::ReplicaPair::start()?;
        let n = Sizes::pick(self.sizes.send_concurrent, Kind::Redis);
        let variants = [
            ("send_64_pair", "", "64 tasks sending at once to a private primary with one replica"),
            // The documented default timeout: the pair is warmed up first (`replica_pair.rs`).
            (
                "send_64_replicas",
                "?replicas=1&replica_timeout_ms=500",
                "the same with `?replicas=1`: each group of concurrent sends waits for the replica (one `WAIT` per group)",
            ),
        ];
        let mut values = vec![Vec::new(); variants.len()];
        for _ in 0..self.sizes.send_runs {
            for (i, (name, query, _)) in variants.iter().enumerate() {
                if !self.wanted(name) {
                    continue;
                }
                let servers = Servers {
                    redis: format!("{}{query}", pair.url()),
                    postgres: self.servers.postgres.clone(),
                };
                let t = Target::fresh(Kind::Redis, &servers).await?;
                let rate = send::concurrent(&t, n).await;
                t.cleanup().await?;
                values[i].push(rate?);
            }
        }
        for ((name, _, note), values) in variants.iter().zip(values) {
            if !values.is_empty() {
                Measurement::runs(*name, Kind::Redis, n, "signals/s", values)
                    .note(*note)
                    .emit();
            }
        }
        Ok(())
    }

    /// The app's own one-row transaction, alone and with a `send_in`, alternating transaction
    /// by transaction on each connection (so a slow moment of the machine hits both), a fresh
    /// schema per run: both rates, and how much longer a transaction takes with `send_in`.
    async fn send_in_overhead(&self, scales: &Scales) -> Result<(), String> {
        let s = &self.sizes;
        for (name, clients, n) in [
            ("send_in_seq", 1, s.send_in.0),
            ("send_in_8", send_in::CLIENTS, s.send_in.1),
        ] {
            if !self.wanted(name) {
                continue;
            }
            let (mut alone, mut with, mut added) = (Vec::new(), Vec::new(), Vec::new());
            let mut added_ms = Vec::new();
            for _ in 0..s.send_runs {
                let t = Target::fresh(Kind::Postgres, &self.servers).await?;
                let rates = async {
                    send_in::prepare(&t).await?;
                    send_in::transactions(&t, clients, n * 2).await
                }
                .await;
                t.cleanup().await?;
                let (a, w) = rates?;
                alone.push(a);
                with.push(w);
                added.push((a / w - 1.0) * 100.0);
                // Each connection runs one transaction at a time, so a transaction of a kind
                // takes `clients / rate` seconds.
                added_ms.push((1.0 / w - 1.0 / a) * clients as f64 * 1000.0);
            }
            let how = if clients == 1 {
                "one connection".to_string()
            } else {
                format!("{clients} connections at once")
            };
            let m = Measurement::runs(format!("{name}_app_only"), Kind::Postgres, n, "tx/s", alone)
                .note(format!("the app's BEGIN; one-row INSERT; COMMIT, {how}"));
            emit(m, Kind::Postgres, scales, &["insert_c1"]);
            let m = Measurement::runs(name, Kind::Postgres, n, "tx/s", with).note(format!(
                "the same transaction with one send_in into the queue's table, {how}"
            ));
            emit(m, Kind::Postgres, scales, &["insert_c1"]);
            Measurement::runs(format!("{name}_added"), Kind::Postgres, n, "%", added)
                .note("how much longer a transaction takes with send_in: app-only rate / with rate - 1, per run")
                .emit();
            Measurement::runs(format!("{name}_added_ms"), Kind::Postgres, n, "ms", added_ms)
                .note("the same in time: what send_in adds to one transaction, whatever the disk's flush takes, per run")
                .emit();
        }
        Ok(())
    }

    async fn drains(&self, kind: Kind, scales: &Scales) -> Result<(), String> {
        let s = &self.sizes;
        for variant in [Variant::Noop, Variant::Fanout, Variant::Kib, Variant::Incr] {
            if !self.wanted(variant.name()) {
                continue;
            }
            if matches!(variant, Variant::Incr) && kind != Kind::Redis {
                // Its receiver's round trip is to the queue's own Redis.
                continue;
            }
            let mut rates = Vec::new();
            let mut peaks = Vec::new();
            let (mut worker_cpu, mut server_cpu) = (Vec::new(), Vec::new());
            for _ in 0..s.drain_runs {
                let d = drain::drain(kind, &self.servers, variant, s.drain, &self.worker).await?;
                rates.push(d.rate);
                peaks.extend(d.memory.map(|m| m.peak_mib));
                worker_cpu.extend(d.worker_cpu_us);
                server_cpu.extend(d.server_cpu_us);
            }
            let m =
                Measurement::runs(variant.name(), kind, s.drain, "signals/s", rates).note(format!(
                    "one worker process, concurrency {}, acknowledged; worker log {}",
                    self.worker
                        .concurrency
                        .map_or_else(|| "default".to_string(), |n| n.to_string()),
                    self.worker.log
                ));
            emit(m, kind, scales, &["rpop", "rpop_p16"]);
            if !peaks.is_empty() {
                Measurement::runs(
                    format!("{}_worker_rss_peak", variant.name()),
                    kind,
                    s.drain,
                    "MiB",
                    peaks,
                )
                .note("VmHWM of the worker process at the end of the drain")
                .emit();
            }
            // What each signal costs in CPU: unlike rates, barely moved by a busy machine,
            // and it says which side bounds the drain.
            let server_note = match kind {
                Kind::Postgres => "CPU time of every postgres server process per signal over the drain (the server is shared: others' queries count too)",
                _ => "CPU time of redis-server per signal over the drain",
            };
            for (what, values, note) in [
                (
                    "worker_cpu".to_string(),
                    worker_cpu,
                    "CPU time of the worker process per signal",
                ),
                (format!("{kind}_cpu"), server_cpu, server_note),
            ] {
                if !values.is_empty() {
                    Measurement::runs(
                        format!("{}_{what}", variant.name()),
                        kind,
                        s.drain,
                        "us/signal",
                        values,
                    )
                    .note(note)
                    .emit();
                }
            }
        }
        Ok(())
    }

    /// Idle memory, steady-rate latency and idle wake-up, with one worker on one queue.
    async fn latencies(&self, kind: Kind) -> Result<(), String> {
        let want_rss = self.wanted("worker_rss_idle");
        let want_steady = self.wanted("latency_5k");
        let want_idle = self.wanted("idle_wakeup");
        if !(want_rss || want_steady || want_idle) {
            return Ok(());
        }
        let s = &self.sizes;
        let target = Target::fresh(kind, &self.servers).await?;
        let result = async {
            let worker = WorkerProcess::start(&target, &self.worker)?;
            let mut samples = Samples::new(worker.samples.clone());
            tokio::time::sleep(s.settle).await;
            if want_rss {
                if let Some(m) = worker.memory() {
                    Measurement::runs("worker_rss_idle", kind, 0, "MiB", vec![m.now_mib])
                        .note(format!(
                            "VmRSS of an idle worker; peak so far (VmHWM) {:.1} MiB",
                            m.peak_mib
                        ))
                        .emit();
                }
            }
            if want_steady {
                let mut all = Vec::new();
                for _ in 0..s.latency_runs {
                    let got = latency::steady(
                        &target,
                        &mut samples,
                        5000.0,
                        Duration::from_secs_f64(s.latency_secs),
                    )
                    .await?;
                    all.extend(got);
                    tokio::time::sleep(s.settle / 2).await;
                }
                Measurement::latency("latency_5k", kind, s.latency_runs, &mut all)
                    .note("send to receiver start at a steady 5k signals/s, samples pooled")
                    .emit();
            }
            if want_idle {
                let count = Sizes::pick(s.idle, kind);
                let (mut got, mut after_send) =
                    latency::idle_wakeups(&target, &mut samples, count, Duration::from_millis(30))
                        .await?;
                let note = match kind {
                    Kind::Redis => "queue empty, worker blocked in BLMOVE; one send, 30 ms apart",
                    Kind::Sqlite => {
                        "queue empty; a worker in another process, checking for commits every 5 ms"
                    }
                    Kind::Postgres => {
                        "queue empty, worker waiting on LISTEN; the insert trigger's NOTIFY at commit wakes it"
                    }
                };
                Measurement::latency("idle_wakeup", kind, 1, &mut got)
                    .note(note)
                    .emit();
                Measurement::latency("idle_wakeup_after_send", kind, 1, &mut after_send)
                    .note("the same samples from the moment the send returned (its commit done) to the receiver's start")
                    .emit();
            }
            worker.stop()
        }
        .await;
        target.cleanup().await?;
        result
    }

    /// `scheduled_1m`: claim and ack of ready entries on a fresh queue, then again with a
    /// million delayed entries waiting; the second should cost what the first did.
    async fn scheduled(&self, kind: Kind) -> Result<(), String> {
        if !self.wanted("scheduled_1m") {
            return Ok(());
        }
        let (backlog, ready) = self.sizes.scheduled;
        let target = Target::fresh(kind, &self.servers).await?;
        let result = async {
            let mut empty: Vec<f64> = Vec::new();
            let mut waiting = Vec::new();
            for _ in 0..self.sizes.latency_runs {
                empty.push(scheduled::claim_cost(&target.engine, ready).await?);
            }
            let built = std::time::Instant::now();
            scheduled::add_backlog(&target.engine, backlog).await?;
            let built = built.elapsed();
            for _ in 0..self.sizes.latency_runs {
                waiting.push(scheduled::claim_cost(&target.engine, ready).await?);
            }
            let without = report::median(&empty);
            Measurement::runs("scheduled_1m_claim", kind, ready as u64, "us/signal", waiting)
                .note(format!(
                    "claim ({} at a time) and ack of ready entries with {backlog} delayed entries waiting (enqueued in {:.1} s); {without:.1} us/signal with none",
                    scheduled::CLAIM,
                    built.as_secs_f64()
                ))
                .emit();
            Ok(())
        }
        .await;
        target.cleanup().await?;
        result
    }
}

/// Prints `m` with its fractions of the named baselines of its engine's server
/// (`redis-benchmark`'s for Redis, `pgbench`'s for PostgreSQL; names not measured are skipped).
fn emit(mut m: Measurement, kind: Kind, scales: &Scales, of: &[&str]) {
    let (baselines, prefix) = match kind {
        Kind::Redis => (&scales.redis, "redis_benchmark"),
        Kind::Postgres => (&scales.pgbench, "pgbench"),
        Kind::Sqlite => return m.emit(),
    };
    for name in of {
        if let Some(b) = baseline::get(baselines, name) {
            m.fraction_of
                .insert(format!("{prefix}_{name}"), m.median / b);
        }
    }
    m.emit();
}

/// Version and durability settings of the PostgreSQL server; `Err` when it is unreachable.
async fn postgres_settings(url: &str) -> Result<String, String> {
    let client = target::pg_connect(url).await?;
    let mut out = String::new();
    for key in [
        "server_version",
        "synchronous_commit",
        "fsync",
        "wal_sync_method",
        "shared_buffers",
        "max_connections",
    ] {
        let rows = client
            .simple_query(&format!("SHOW {key}"))
            .await
            .map_err(|e| e.to_string())?;
        for row in rows {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = row {
                if !out.is_empty() {
                    out.push_str(", ");
                }
                out.push_str(&format!("{key} {}", row.get(0).unwrap_or("?")));
            }
        }
    }
    Ok(out)
}

/// `redis-benchmark -t lpush,rpop` pushes to and pops from `mylist`; its pops empty it again,
/// but a run cut short would leave it. Delete it if it holds what the benchmark pushes.
async fn cleanup_benchmark_list(url: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    // The benchmark's elements are the three bytes `xxx` (its default payload).
    let head: Option<Vec<u8>> = redis::cmd("LINDEX")
        .arg("mylist")
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap_or(None);
    if head.as_deref() == Some(b"xxx") {
        let _ = redis::cmd("DEL")
            .arg("mylist")
            .query_async::<()>(&mut conn)
            .await;
    }
}

/// Version and persistence settings of the Redis server.
async fn redis_settings(url: &str) -> Result<String, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("unreachable ({e})"))?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let version = target::info_field(&info, "redis_version").unwrap_or("?");
    let mut out = format!("version {version}");
    for key in ["appendonly", "appendfsync", "save"] {
        // CONFIG may be renamed or refused on a managed server: then say nothing.
        if let Ok(pair) = redis::cmd("CONFIG")
            .arg("GET")
            .arg(key)
            .query_async::<Vec<String>>(&mut conn)
            .await
        {
            if let Some(value) = pair.get(1) {
                out.push_str(&format!(", {key} {value:?}"));
            }
        }
    }
    Ok(out)
}
