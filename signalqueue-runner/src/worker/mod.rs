//! The worker as a library type: claims signals from its queues and runs their receivers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), signalqueue_runner::Error> {
//! use signalqueue_runner::Worker;
//!
//! let config = signalqueue::Config::load()?;
//! let summary = Worker::builder()
//!     .config(&config)
//!     .queue("default")
//!     .concurrency(16)
//!     .shutdown(async { let _ = tokio::signal::ctrl_c().await; })
//!     .build()
//!     .run()
//!     .await?;
//! println!("handled {}", summary.handled);
//! # Ok(()) }
//! ```
//!
//! How it works, per queue: a claim loop waits for free slots (`concurrency` in all, shared by
//! the queues) and claims that many entries in one call, waiting up to a second for work (a
//! blocking read on Redis, polling at the queue's interval on SQLite). Each entry is handled by
//! its own future (a claimed batch shares one task per runtime thread; `handle.rs` decides,
//! `settle.rs` tells the engine), so a slow receiver holds only its own slot. A renewer extends
//! every held lease each third of the lease (`lease.rs`); an acker acknowledges finished
//! entries in batches (`ack.rs`). Engine errors never end the worker: every engine call backs
//! off and tries again.
//!
//! Delivery is at least once: an entry is removed only when its acknowledgement is accepted,
//! so a worker that dies mid-way leaves its claims to come back when their leases expire, and
//! they may run twice. Receivers should be idempotent.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signalqueue::config::{QueueConfig, WorkerConfig};
use signalqueue::engine::SharedEngine;
use signalqueue::{Config, EnvelopeId, Registry, Runtime};
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::metrics::Metrics;

mod ack;
mod backoff;
mod claim_loop;
mod handle;
mod heartbeat;
mod in_flight;
mod lease;
mod lease_loss;
pub(crate) mod relay;
mod scheduler;
mod settle;
pub(crate) mod shutdown;
mod unknown;

pub use self::handle::DeadKind;
pub use self::shutdown::os_signals;

use self::in_flight::InFlight;
use self::shutdown::Stop;

/// How long a claim waits for work when none is ready (a blocking read where the engine has
/// one). Short enough that a stop, which lets the current claim finish, is quick.
pub const DEFAULT_CLAIM_WAIT: Duration = Duration::from_secs(1);

/// When a worker stops by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Halt {
    /// Only when told to (the shutdown future).
    #[default]
    Never,
    /// Once its queues have nothing pending, scheduled or in flight, and this worker is
    /// handling nothing (`--halt-when-exhausted`: scripts and tests).
    WhenExhausted,
    /// Once it handled the entries that were ready when it started (`dequeue`): retries it
    /// schedules are left for later.
    WhenDrained,
}

/// What became of one signal (given to [`WorkerBuilder::on_outcome`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SignalOutcome {
    /// The queue it came from.
    pub queue: String,
    /// Its wire name (`<malformed>` when the entry was not an envelope).
    pub signal: String,
    /// Its id, when the entry was an envelope.
    pub id: Option<EnvelopeId>,
    /// What happened.
    pub result: SignalResult,
}

/// How one signal's handling ended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SignalResult {
    /// Every receiver owed it succeeded and the engine took the acknowledgement.
    Handled,
    /// A receiver failed; it runs again later, in an entry of its own.
    #[non_exhaustive]
    Retried {
        /// The receiver that runs again (one: each failed receiver is retried on its own).
        receivers: Vec<String>,
        /// The attempt they run as.
        next_attempt: u32,
        /// How long until then.
        delay: Duration,
    },
    /// Given up on and kept as a dead letter.
    #[non_exhaustive]
    Dead {
        /// Why, in one word.
        kind: DeadKind,
        /// Why, for people.
        reason: String,
    },
    /// Given back unhandled, without counting an attempt, for a worker that knows its signal
    /// or links the receivers it owes (a rolling deploy); dead-lettered once `unknown_grace`
    /// has passed since it was sent.
    #[non_exhaustive]
    GivenBack {
        /// What this worker does not know: `unknown_signal` or `unknown_receiver`.
        unknown: &'static str,
        /// How long until it may be claimed again.
        delay: Duration,
    },
    /// The signal's receivers parted ways: each part is what became of one of them (or of the
    /// receivers given back), written together.
    #[non_exhaustive]
    Split {
        /// `Retried`, `Dead` and `GivenBack` results, one per new entry or dead letter.
        parts: Vec<SignalResult>,
    },
    /// The claim's lease was lost before the outcome was written; another claim decides.
    LeaseLost,
}

/// What a worker did, when it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Signals handled and acknowledged.
    pub handled: u64,
    /// Retries scheduled (one per failed receiver with retries left).
    pub retried: u64,
    /// Dead letters written (one per receiver given up on, or per entry that cannot run).
    pub dead: u64,
    /// Entries given back unhandled, for a worker that knows their signal or links the
    /// receivers they owe (a rolling deploy; not the claims released at shutdown).
    pub given_back_unknown: u64,
    /// Claims given back unfinished at shutdown.
    pub released: u64,
}

type Hook = Arc<dyn Fn(&SignalOutcome) + Send + Sync>;
type ShutdownFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Builds a [`Worker`].
#[must_use = "a builder does nothing until `.build().run()`"]
pub struct WorkerBuilder {
    runtime: Option<Runtime>,
    config: Option<Config>,
    queues: Vec<String>,
    concurrency: Option<usize>,
    settings: Option<WorkerConfig>,
    lease: Option<Duration>,
    claim_wait: Duration,
    shutdown: Option<ShutdownFuture>,
    halt: Halt,
    metrics: Option<Arc<Metrics>>,
    registry: Option<&'static Registry>,
    on_outcome: Option<Hook>,
    relay: Option<bool>,
}

impl std::fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("queues", &self.queues)
            .field("concurrency", &self.concurrency)
            .field("halt", &self.halt)
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    /// The queues (engines) to work on. Without it, [`run`](Worker::run) opens the queues of
    /// the configuration.
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Takes the worker settings (`[worker]`: concurrency, retries, backoff, shutdown grace)
    /// and each queue's lease from `config`; its queues are opened unless a runtime is given.
    pub fn config(mut self, config: &Config) -> Self {
        self.config = Some(config.clone());
        self
    }

    /// Serves queue `name` (repeatable). Default: `default`.
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        self.queues.push(name.into());
        self
    }

    /// How many signals are handled at once, across all the queues served (default: the
    /// configuration's, else 64).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Overrides the configuration's `[worker]` settings.
    pub fn settings(mut self, settings: WorkerConfig) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Uses this lease for every queue instead of the configured ones.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// How long one claim waits for work when none is ready (default
    /// [`DEFAULT_CLAIM_WAIT`]).
    pub fn claim_wait(mut self, wait: Duration) -> Self {
        self.claim_wait = wait;
        self
    }

    /// Stops the worker gracefully when `signal` completes: no new claims, in-flight signals
    /// get the shutdown grace period to finish, the rest are given back.
    pub fn shutdown(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// When the worker stops by itself (default: never).
    pub fn halt(mut self, halt: Halt) -> Self {
        self.halt = halt;
        self
    }

    /// Shorthand for [`Halt::WhenExhausted`] (or [`Halt::Never`] with `false`).
    pub fn halt_when_exhausted(self, yes: bool) -> Self {
        self.halt(if yes {
            Halt::WhenExhausted
        } else {
            Halt::Never
        })
    }

    /// Records into these counters (shared with the admin server) instead of fresh ones.
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Looks signals and receivers up here instead of in [`Registry::global`].
    pub fn registry(mut self, registry: &'static Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Calls `hook` with every signal's outcome (progress displays, tests).
    pub fn on_outcome(mut self, hook: impl Fn(&SignalOutcome) + Send + Sync + 'static) -> Self {
        self.on_outcome = Some(Arc::new(hook));
        self
    }

    /// Whether this worker relays its runtime's outboxes into their queues (default: the
    /// configuration's `[outbox] relay`, true unless set otherwise).
    pub fn relay_outboxes(mut self, yes: bool) -> Self {
        self.relay = Some(yes);
        self
    }

    /// The worker.
    pub fn build(self) -> Worker {
        Worker {
            metrics: self.metrics.clone().unwrap_or_default(),
            builder: self,
        }
    }
}

/// A worker: see the module docs.
#[derive(Debug)]
pub struct Worker {
    builder: WorkerBuilder,
    metrics: Arc<Metrics>,
}

/// What every task of a worker shares.
pub(crate) struct Shared {
    pub(crate) registry: &'static Registry,
    pub(crate) settings: WorkerConfig,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) runtime: Runtime,
    pub(crate) stop: Stop,
    pub(crate) permits: Arc<Semaphore>,
    /// The handling tasks, each working on some of a claimed batch's entries.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    /// How many tasks a claimed batch is spread over at most: the runtime's threads.
    pub(crate) threads: usize,
    pub(crate) claim_wait: Duration,
    pub(crate) totals: Totals,
    /// Rate-limits the warnings about entries given back.
    pub(crate) unknown_warnings: unknown::WarnLimiter,
    /// How many claim loops wait for a free slot (`Lane::waiting`), so that no queue keeps
    /// refilling its slots while another waits for one (`ack.rs`).
    pub(crate) waiting: AtomicUsize,
    on_outcome: Option<Hook>,
}

#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) handled: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead: AtomicU64,
    pub(crate) given_back_unknown: AtomicU64,
    pub(crate) released: AtomicU64,
}

impl Shared {
    pub(crate) fn report(&self, outcome: SignalOutcome) {
        if let Some(hook) = &self.on_outcome {
            hook(&outcome);
        }
    }

    /// [`Shared::report`], building the outcome only when someone listens.
    pub(crate) fn report_with(&self, outcome: impl FnOnce() -> SignalOutcome) {
        if let Some(hook) = &self.on_outcome {
            hook(&outcome());
        }
    }
}

/// One served queue.
pub(crate) struct Lane {
    pub(crate) name: String,
    pub(crate) engine: SharedEngine,
    pub(crate) lease: Duration,
    /// How long after its send an entry this worker cannot handle is given back.
    pub(crate) unknown_grace: Duration,
    pub(crate) in_flight: InFlight,
    /// When draining: how many more entries to claim.
    pub(crate) budget: Option<AtomicU64>,
    /// This queue's claim loop waits for a free slot (counted in `Shared::waiting`).
    pub(crate) waiting: AtomicBool,
}

impl Worker {
    /// A builder.
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder {
            runtime: None,
            config: None,
            queues: Vec::new(),
            concurrency: None,
            settings: None,
            lease: None,
            claim_wait: DEFAULT_CLAIM_WAIT,
            shutdown: None,
            halt: Halt::Never,
            metrics: None,
            registry: None,
            on_outcome: None,
            relay: None,
        }
    }

    /// The worker's counters (for the admin server).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Runs until the shutdown future completes (or the halt condition holds), then drains:
    /// in-flight signals get the shutdown grace period, what is left is given back.
    ///
    /// Fails only at the start: a queue that is not configured, or a configuration or engine
    /// that cannot be opened. Later engine errors are logged and retried.
    pub async fn run(self) -> Result<Summary, Error> {
        let b = self.builder;
        let config = match (&b.config, &b.runtime) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(_)) => None,
            (None, None) => Some(Config::load()?),
        };
        let runtime = match b.runtime {
            Some(rt) => rt,
            None => Runtime::from_config(config.as_ref().expect("loaded above")).await?,
        };
        let mut settings = b
            .settings
            .or_else(|| config.as_ref().map(|c| c.worker.clone()))
            .unwrap_or_default();
        if let Some(n) = b.concurrency {
            settings.concurrency = n;
        }
        let queues = if b.queues.is_empty() {
            vec!["default".to_string()]
        } else {
            b.queues
        };

        let mut lanes = Vec::new();
        for name in &queues {
            let engine = runtime
                .queue(name)
                .cloned()
                .ok_or_else(|| Error::UnknownQueue {
                    queue: name.clone(),
                    configured: runtime
                        .queues()
                        .map(|(n, _)| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            let lease = b.lease.unwrap_or_else(|| {
                config
                    .as_ref()
                    .and_then(|c| c.queues.get(name))
                    .map_or_else(|| QueueConfig::new("").lease, |q| q.lease)
            });
            let unknown_grace = config
                .as_ref()
                .and_then(|c| c.queues.get(name))
                .and_then(|q| q.unknown_grace)
                .unwrap_or(settings.unknown_grace);
            let budget = match b.halt {
                Halt::WhenDrained => Some(AtomicU64::new(
                    engine
                        .counts()
                        .await
                        .map_err(|source| Error::Engine {
                            queue: name.clone(),
                            source,
                        })?
                        .pending,
                )),
                _ => None,
            };
            lanes.push(Arc::new(Lane {
                name: name.clone(),
                engine,
                lease,
                unknown_grace,
                in_flight: InFlight::default(),
                budget,
                waiting: AtomicBool::new(false),
            }));
        }

        let shared = Arc::new(Shared {
            registry: b.registry.unwrap_or_else(Registry::global),
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            metrics: self.metrics,
            runtime,
            stop: Stop::new(),
            tasks: tokio_util::task::TaskTracker::new(),
            threads: tokio::runtime::Handle::current().metrics().num_workers(),
            claim_wait: if b.halt == Halt::WhenDrained {
                Duration::ZERO
            } else {
                b.claim_wait
            },
            totals: Totals::default(),
            unknown_warnings: unknown::WarnLimiter::default(),
            waiting: AtomicUsize::new(0),
            on_outcome: b.on_outcome,
        });

        let relay = b
            .relay
            .unwrap_or_else(|| config.as_ref().is_none_or(|c| c.outbox.relay));
        let batch = config.as_ref().map_or(500, |c| c.outbox.batch);
        let relays = relay.then(|| relay::Relays::start(&shared.runtime, batch));
        // Draining what is there (`dequeue`) adds no ticks; every other run offers them.
        let schedulers = (b.halt != Halt::WhenDrained).then(|| {
            scheduler::Schedulers::start(
                &shared.runtime,
                shared.registry,
                &queues,
                shared.stop.clone(),
            )
        });

        let mut background = Vec::new();
        if let Some(signal) = b.shutdown {
            let stop = shared.stop.clone();
            background.push(tokio::spawn(async move {
                signal.await;
                stop.trigger();
            }));
        }
        let mut ackers = Vec::new();
        let mut loops = Vec::new();
        for lane in &lanes {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            // Weak: the acker starts tasks that send to it, but must still see the channel
            // close once the claim loop and every task are done.
            ackers.push(tokio::spawn(ack::run_acker(
                lane.clone(),
                shared.clone(),
                rx,
                tx.downgrade(),
            )));
            background.push(tokio::spawn(lease::renew_leases(lane.clone())));
            loops.push(tokio::spawn(claim_loop::claim_loop(
                lane.clone(),
                shared.clone(),
                tx,
            )));
        }
        // Draining what is there (`dequeue`) is not a worker the console should list.
        let heartbeat = (b.halt != Halt::WhenDrained)
            .then(|| tokio::spawn(heartbeat::beat(lanes.clone(), shared.clone())));
        if b.halt == Halt::WhenExhausted {
            background.push(tokio::spawn(watch_exhausted(
                lanes.clone(),
                shared.clone(),
                relay,
            )));
        }

        for l in loops {
            if let Err(e) = l.await {
                tracing::error!("a claim loop ended abnormally: {e}");
            }
        }
        drain(&shared, &lanes).await;
        for lane in &lanes {
            let unfinished = lane.in_flight.abort_running();
            if !unfinished.is_empty() {
                tracing::warn!(
                    queue = %lane.name,
                    "giving back {} signals whose receivers did not finish within the shutdown grace period",
                    unfinished.len()
                );
                let n = claim_loop::give_back(lane, unfinished).await;
                shared
                    .totals
                    .released
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        // Aborted tasks end at their next await; a receiver running on the blocking pool
        // cannot be interrupted, and its outcome is dropped (its claim was given back).
        let _ = tokio::time::timeout(Duration::from_secs(5), shared.tasks.wait()).await;
        for acker in ackers {
            let abort = acker.abort_handle();
            if tokio::time::timeout(Duration::from_secs(10), acker)
                .await
                .is_err()
            {
                abort.abort();
                tracing::error!("gave up acknowledging after 10 s; those signals run again when their leases expire");
            }
        }
        for task in background {
            task.abort();
        }
        if let Some(heartbeat) = heartbeat {
            // It saw the stop and is leaving its queues (bounded by its own timeouts).
            let _ = heartbeat.await;
        }
        if let Some(relays) = relays {
            relays.stop().await;
        }
        if let Some(schedulers) = schedulers {
            schedulers.stop().await;
        }
        let t = &shared.totals;
        Ok(Summary {
            handled: t.handled.load(Ordering::Relaxed),
            retried: t.retried.load(Ordering::Relaxed),
            dead: t.dead.load(Ordering::Relaxed),
            given_back_unknown: t.given_back_unknown.load(Ordering::Relaxed),
            released: t.released.load(Ordering::Relaxed),
        })
    }
}

/// Waits for the handling tasks: all of them when the worker stopped by itself, at most the
/// shutdown grace period (from the stop) when it was told to stop.
async fn drain(shared: &Shared, lanes: &[Arc<Lane>]) {
    // The claim loops have ended: no handling task starts after this.
    shared.tasks.close();
    loop {
        match shared.stop.stopped_at() {
            Some(at) => {
                let deadline = at + shared.settings.shutdown_grace;
                let idle = tokio::time::timeout_at(deadline.into(), shared.tasks.wait())
                    .await
                    .is_ok();
                if !idle {
                    tracing::warn!(
                        "shutdown grace period ({} ms) is over with {} signals still being handled",
                        shared.settings.shutdown_grace.as_millis(),
                        lanes.iter().map(|l| l.in_flight.running()).sum::<usize>()
                    );
                }
                return;
            }
            None => {
                tokio::select! {
                    _ = shared.tasks.wait() => return,
                    _ = shared.stop.stopped() => {}
                }
            }
        }
    }
}

/// Stops the worker once its queues hold nothing pending, scheduled or in flight, it is
/// handling nothing, and (when it relays them) its outboxes are empty.
async fn watch_exhausted(lanes: Vec<Arc<Lane>>, shared: Arc<Shared>, relaying: bool) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'watch: loop {
        tick.tick().await;
        if !shared.tasks.is_empty() || lanes.iter().any(|l| l.in_flight.len() > 0) {
            continue;
        }
        let mut depths = BTreeMap::new();
        for lane in &lanes {
            match lane.engine.counts().await {
                Ok(c) if c.pending + c.scheduled + c.in_flight == 0 => {
                    depths.insert(lane.name.clone(), c);
                }
                Ok(_) => continue 'watch,
                Err(e) => {
                    tracing::warn!(queue = %lane.name, error = %e, "cannot count entries");
                    continue 'watch;
                }
            }
        }
        for outbox in shared.runtime.outboxes().iter().filter(|_| relaying) {
            match outbox.stats().await {
                Ok(stats) if stats.depth == 0 => {}
                Ok(_) => continue 'watch,
                Err(e) => {
                    tracing::warn!(outbox = %outbox.describe(), error = %e, "cannot count the outbox");
                    continue 'watch;
                }
            }
        }
        tracing::info!(
            "queues exhausted ({}); stopping",
            depths.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        shared.stop.trigger();
        return;
    }
}
