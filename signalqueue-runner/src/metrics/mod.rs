//! What the worker counts, for `/metrics`, the status page and the console's receivers view
//! and charts.
//!
//! The run loop records; the admin HTTP server reads. Every signal and receiver linked into
//! the worker gets its counters when [`Metrics`] is made, in a table that never changes
//! afterwards, so recording is a map lookup and relaxed atomic additions: no lock on the
//! per-signal path. Label values come only from that table: a wire name read from a queue
//! entry that is not linked in counts under `unknown`, so a queue full of garbage cannot grow
//! the metrics without bound. `/metrics` is encoded by `prometheus-client` (OpenMetrics text,
//! see `metrics/openmetrics.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use signalqueue::Registry;

mod histogram;
pub mod history;
pub(crate) mod openmetrics;

pub use self::histogram::BUCKETS as LATENCY_BUCKETS;
use self::histogram::{AtomicHistogram, HistogramSnapshot};
use self::history::{History, Point};

/// The label value that stands for every signal or receiver name not linked into the worker.
pub const UNKNOWN: &str = "unknown";

/// Why signals are dead-lettered, in one word each (the `reason` label).
const DEAD_KINDS: [&str; 5] = [
    "receiver",
    "decode",
    "unknown_signal",
    "malformed",
    "poison",
];

/// How one receiver run ended, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunResult {
    /// The receiver succeeded.
    Succeeded,
    /// It returned an error.
    Failed,
    /// It panicked.
    Panicked,
}

impl RunResult {
    /// The label value used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Succeeded => "succeeded",
            RunResult::Failed => "failed",
            RunResult::Panicked => "panicked",
        }
    }

    const ALL: [RunResult; 3] = [RunResult::Succeeded, RunResult::Failed, RunResult::Panicked];

    fn index(self) -> usize {
        self as usize
    }
}

/// The counters of one signal.
#[derive(Debug, Default)]
struct SignalStats {
    handled: AtomicU64,
    /// Send (or due time) to the first receiver starting.
    latency: AtomicHistogram,
    /// By [`DEAD_KINDS`].
    dead: [AtomicU64; DEAD_KINDS.len()],
    /// By receiver name.
    receivers: HashMap<&'static str, ReceiverStats>,
}

/// The counters of one receiver of one signal.
#[derive(Debug, Default)]
struct ReceiverStats {
    /// By [`RunResult::index`].
    runs: [AtomicU64; 3],
    retries: AtomicU64,
    duration: AtomicHistogram,
    /// The last failure: when, and the error. Written only when a run fails.
    last_error: Mutex<Option<(SystemTime, String)>>,
}

/// One receiver as the console shows it ([`Metrics::receivers`]).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReceiverView {
    /// The signal's wire name.
    pub signal: &'static str,
    /// The receiver's name.
    pub receiver: &'static str,
    /// Runs since the worker started, by outcome.
    pub succeeded: u64,
    /// Runs that returned an error.
    pub failed: u64,
    /// Runs that panicked.
    pub panicked: u64,
    /// Failed runs scheduled for another attempt.
    pub retries: u64,
    /// Median run time in milliseconds, estimated from the duration histogram; `None`
    /// before the first run.
    pub p50_ms: Option<f64>,
    /// 99th percentile run time in milliseconds, likewise.
    pub p99_ms: Option<f64>,
    /// The last failure's error, and when (RFC 3339).
    pub last_error: Option<String>,
    /// When the last failure happened.
    pub last_error_at: Option<String>,
}

/// The worker's counters. Share it in an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// By signal wire name; built once, read without locks.
    signals: HashMap<&'static str, SignalStats>,
    /// Everything recorded under a name not linked in.
    unknown: SignalStats,
    handled_total: AtomicU64,
    failed_total: AtomicU64,
    history: Mutex<History>,
    /// (queue, what was not known) -> entries given back for a worker that knows them. Keyed
    /// by the configured queue and a fixed word, never by a name read from an entry. Behind a
    /// lock: only entries this worker cannot handle come here, never the per-signal path.
    given_back: Mutex<std::collections::BTreeMap<(String, &'static str), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Counters for every signal and receiver linked into this binary.
    pub fn new() -> Self {
        let registry = Registry::global();
        Metrics::for_names(registry.signals().map(|def| {
            (
                def.name,
                registry
                    .receivers(def.name)
                    .iter()
                    .map(|r| r.name)
                    .collect(),
            )
        }))
    }

    /// Counters for these signals and their receivers (what [`Metrics::new`] reads from the
    /// registry).
    fn for_names(names: impl IntoIterator<Item = (&'static str, Vec<&'static str>)>) -> Self {
        let signals = names
            .into_iter()
            .map(|(signal, receivers)| {
                let stats = SignalStats {
                    receivers: receivers
                        .into_iter()
                        .map(|r| (r, ReceiverStats::default()))
                        .collect(),
                    ..SignalStats::default()
                };
                (signal, stats)
            })
            .collect();
        let mut unknown = SignalStats::default();
        unknown.receivers.insert(UNKNOWN, ReceiverStats::default());
        Metrics {
            started: Instant::now(),
            signals,
            unknown,
            handled_total: AtomicU64::new(0),
            failed_total: AtomicU64::new(0),
            history: Mutex::new(History::default()),
            given_back: Mutex::default(),
        }
    }

    fn signal(&self, name: &str) -> &SignalStats {
        self.signals.get(name).unwrap_or(&self.unknown)
    }

    fn receiver(&self, signal: &str, receiver: &str) -> &ReceiverStats {
        let stats = self.signal(signal);
        stats
            .receivers
            .get(receiver)
            .or_else(|| self.unknown.receivers.get(UNKNOWN))
            .expect("the unknown receiver is always there")
    }

    /// One receiver run, how long it took, and its error when it failed.
    pub fn record_run(
        &self,
        signal: &str,
        receiver: &str,
        result: RunResult,
        elapsed: Duration,
        error: Option<&str>,
    ) {
        let stats = self.receiver(signal, receiver);
        stats.runs[result.index()].fetch_add(1, Ordering::Relaxed);
        stats.duration.observe(elapsed);
        if result != RunResult::Succeeded {
            self.failed_total.fetch_add(1, Ordering::Relaxed);
            let error = error.unwrap_or(result.as_str()).to_string();
            *lock(&stats.last_error) = Some((SystemTime::now(), error));
        }
    }

    /// A failed receiver scheduled for another attempt.
    pub fn record_retry(&self, signal: &str, receiver: &str) {
        self.receiver(signal, receiver)
            .retries
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A signal dead-lettered; `kind` says why in one word (`receiver`, `decode`,
    /// `unknown_signal`, `malformed`, `poison`).
    pub fn record_dead(&self, signal: &str, kind: &str) {
        // Kinds are the worker's own words; one it does not list counts as `receiver`, the
        // most general, rather than growing the labels.
        let i = DEAD_KINDS.iter().position(|k| *k == kind).unwrap_or(0);
        self.signal(signal).dead[i].fetch_add(1, Ordering::Relaxed);
    }

    /// An entry given back unhandled on `queue` (the configured name), because this worker
    /// does not know its signal (`unknown_signal`) or does not link a receiver it owes
    /// (`unknown_receiver`).
    pub fn record_given_back(&self, queue: &str, what: &'static str) {
        *lock(&self.given_back)
            .entry((queue.to_string(), what))
            .or_default() += 1;
    }

    /// Entries given back, by (queue, what was unknown), for the encoder.
    fn given_back(&self) -> Vec<((String, &'static str), u64)> {
        lock(&self.given_back)
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }

    /// A signal whose receivers all finished, acknowledged.
    pub fn record_handled(&self, signal: &str) {
        self.signal(signal).handled.fetch_add(1, Ordering::Relaxed);
        self.handled_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Time from `send` to the first receiver starting.
    pub fn record_latency(&self, signal: &str, latency: Duration) {
        self.signal(signal).latency.observe(latency);
    }

    /// Signals handled since start.
    pub fn handled_total(&self) -> u64 {
        self.handled_total.load(Ordering::Relaxed)
    }

    /// Receiver runs that failed or panicked since start.
    pub fn failed_total(&self) -> u64 {
        self.failed_total.load(Ordering::Relaxed)
    }

    /// Adds the totals as of now to the chart history (the admin server's sampler calls it
    /// about twice a second; a point per second is kept).
    pub fn sample_history(&self) {
        let (handled, failed) = (self.handled_total(), self.failed_total());
        lock(&self.history).sample(SystemTime::now(), handled, failed);
    }

    /// Handled and failed per second over the last hour, oldest first (sampled by
    /// [`Metrics::sample_history`]).
    pub fn history(&self) -> Vec<Point> {
        lock(&self.history).points()
    }

    /// The counters alone in OpenMetrics text, as `/metrics` shows them (which adds the
    /// queues' and outboxes' gauges read at scrape time).
    pub fn render_counters(self: &std::sync::Arc<Self>) -> String {
        openmetrics::encode(self.clone(), openmetrics::Gauges::default())
    }

    /// How long the worker has run.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Signals handled since start, by signal wire name (the admin page sums them per queue).
    pub fn handled_by_signal(&self) -> HashMap<&'static str, u64> {
        self.signals
            .iter()
            .map(|(name, s)| (*name, s.handled.load(Ordering::Relaxed)))
            .collect()
    }

    /// Every receiver with its runs, failures, durations and last error, by signal then
    /// receiver name.
    pub fn receivers(&self) -> Vec<ReceiverView> {
        let mut out: Vec<ReceiverView> = self
            .signals
            .iter()
            .flat_map(|(signal, stats)| {
                stats
                    .receivers
                    .iter()
                    .map(move |(receiver, r)| r.view(signal, receiver))
            })
            .collect();
        out.sort_by(|a, b| (a.signal, a.receiver).cmp(&(b.signal, b.receiver)));
        out
    }

    /// Everything by label, for the encoder: `(signal, stats)` with the unknown last.
    fn all_signals(&self) -> impl Iterator<Item = (&'static str, &SignalStats)> {
        let mut named: Vec<_> = self.signals.iter().map(|(n, s)| (*n, s)).collect();
        named.sort_by_key(|(n, _)| *n);
        named.into_iter().chain([(UNKNOWN, &self.unknown)])
    }
}

impl ReceiverStats {
    fn view(&self, signal: &'static str, receiver: &'static str) -> ReceiverView {
        let runs = |r: RunResult| self.runs[r.index()].load(Ordering::Relaxed);
        let durations = self.duration.snapshot();
        let ms = |q: f64| durations.quantile(q).map(|d| d.as_secs_f64() * 1000.0);
        let last = lock(&self.last_error).clone();
        ReceiverView {
            signal,
            receiver,
            succeeded: runs(RunResult::Succeeded),
            failed: runs(RunResult::Failed),
            panicked: runs(RunResult::Panicked),
            retries: self.retries.load(Ordering::Relaxed),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            last_error_at: last
                .as_ref()
                .map(|(t, _)| humantime::format_rfc3339_millis(*t).to_string()),
            last_error: last.map(|(_, e)| e),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read access for the encoder, which lives in its own module.
impl SignalStats {
    fn latency(&self) -> HistogramSnapshot {
        self.latency.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        Metrics::for_names([("s", vec!["r"])])
    }

    #[test]
    fn receivers_show_runs_failures_durations_and_the_last_error() {
        let m = metrics();
        m.record_run(
            "s",
            "r",
            RunResult::Succeeded,
            Duration::from_millis(3),
            None,
        );
        m.record_run(
            "s",
            "r",
            RunResult::Failed,
            Duration::from_millis(4),
            Some("boom"),
        );
        m.record_retry("s", "r");
        let views = m.receivers();
        assert_eq!(views.len(), 1);
        let r = &views[0];
        assert_eq!((r.succeeded, r.failed, r.panicked, r.retries), (1, 1, 0, 1));
        assert_eq!(r.last_error.as_deref(), Some("boom"));
        assert!(r.last_error_at.is_some());
        let p50 = r.p50_ms.unwrap();
        assert!(p50 > 2.0 && p50 <= 5.0, "{p50}");
        assert_eq!(m.failed_total(), 1);
    }

    #[test]
    fn names_not_linked_in_collapse_into_unknown() {
        let m = metrics();
        for n in 0..100 {
            m.record_dead(&format!("garbage-{n}"), "unknown_signal");
            m.record_run(
                &format!("garbage-{n}"),
                "x",
                RunResult::Failed,
                Duration::ZERO,
                None,
            );
        }
        m.record_handled("s");
        assert_eq!(m.handled_total(), 1);
        assert_eq!(m.handled_by_signal().get("s"), Some(&1));
        assert_eq!(m.handled_by_signal().len(), 1);
        assert_eq!(m.unknown.dead[2].load(Ordering::Relaxed), 100);
        assert_eq!(
            m.receivers().len(),
            1,
            "unknown receivers are not listed as receivers"
        );
    }
}
