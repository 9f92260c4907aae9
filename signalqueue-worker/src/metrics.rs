//! What the worker counts, for `/metrics` (Prometheus text format) and the status page.
//!
//! The run loop records; the admin HTTP server reads. Counters are keyed by signal and
//! receiver names, which are few and fixed at link time, so the maps stay small.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
}

/// Upper bounds (seconds) of the send-to-start latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0,
];

/// The worker's counters. Share it in an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (signal, receiver, result) -> runs.
    runs: BTreeMap<(String, String, RunResult), u64>,
    /// (signal, receiver) -> retries scheduled.
    retries: BTreeMap<(String, String), u64>,
    /// (signal, reason kind) -> dead letters.
    dead: BTreeMap<(String, String), u64>,
    /// (queue, what was not known) -> entries given back for a worker that knows them. Keyed
    /// by the configured queue and a fixed word, never by a name read from an entry: those
    /// are whatever producers wrote, and would make the label set unbounded.
    given_back: BTreeMap<(String, &'static str), u64>,
    /// signal -> signals fully handled and acknowledged.
    handled: BTreeMap<String, u64>,
    /// signal -> latency histogram (bucket counts, sum in seconds, count).
    latency: BTreeMap<String, Histogram>,
    /// Total handled, and a recent window for "handled per second".
    handled_total: u64,
    window: Vec<(Instant, u64)>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }
}

impl Metrics {
    /// Fresh counters.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One receiver run.
    pub fn record_run(&self, signal: &str, receiver: &str, result: RunResult) {
        *self
            .lock()
            .runs
            .entry((signal.to_string(), receiver.to_string(), result))
            .or_default() += 1;
    }

    /// A failed receiver scheduled for another attempt.
    pub fn record_retry(&self, signal: &str, receiver: &str) {
        *self
            .lock()
            .retries
            .entry((signal.to_string(), receiver.to_string()))
            .or_default() += 1;
    }

    /// A signal dead-lettered; `kind` says why in one word (`receiver`, `decode`,
    /// `unknown_signal`, `malformed`, `poison`).
    pub fn record_dead(&self, signal: &str, kind: &str) {
        *self
            .lock()
            .dead
            .entry((signal.to_string(), kind.to_string()))
            .or_default() += 1;
    }

    /// An entry given back unhandled on `queue` (the configured name), because this worker
    /// does not know its signal (`unknown_signal`) or does not link a receiver it owes
    /// (`unknown_receiver`).
    pub fn record_given_back(&self, queue: &str, what: &'static str) {
        *self
            .lock()
            .given_back
            .entry((queue.to_string(), what))
            .or_default() += 1;
    }

    /// A signal whose receivers all finished, acknowledged.
    pub fn record_handled(&self, signal: &str) {
        let mut inner = self.lock();
        *inner.handled.entry(signal.to_string()).or_default() += 1;
        inner.handled_total += 1;
    }

    /// Time from `send` to the first receiver starting.
    pub fn record_latency(&self, signal: &str, latency: Duration) {
        let secs = latency.as_secs_f64();
        let mut inner = self.lock();
        let h = inner.latency.entry(signal.to_string()).or_default();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Signals handled since start.
    pub fn handled_total(&self) -> u64 {
        self.lock().handled_total
    }

    /// Signals handled per second over the last few seconds (call it periodically: each call
    /// adds a sample).
    pub fn handled_per_second(&self) -> f64 {
        let now = Instant::now();
        let mut inner = self.lock();
        let total = inner.handled_total;
        inner.window.push((now, total));
        inner
            .window
            .retain(|(t, _)| now.duration_since(*t) <= Duration::from_secs(10));
        match inner.window.first() {
            Some((t, n)) if now.duration_since(*t) > Duration::from_millis(200) => {
                (total - n) as f64 / now.duration_since(*t).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// How long the worker has run.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The counters in Prometheus text exposition format, with the queues' depths.
    pub fn render_prometheus(&self, queues: &[(String, signalqueue::engine::Counts)]) -> String {
        use std::fmt::Write;
        let inner = self.lock();
        let mut out = String::new();
        let esc = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };

        out.push_str("# HELP signalqueue_receiver_runs_total Receiver runs, by outcome.\n# TYPE signalqueue_receiver_runs_total counter\n");
        for ((s, r, res), n) in &inner.runs {
            let _ = writeln!(
                out,
                "signalqueue_receiver_runs_total{{signal=\"{}\",receiver=\"{}\",outcome=\"{}\"}} {n}",
                esc(s),
                esc(r),
                res.as_str()
            );
        }
        out.push_str("# HELP signalqueue_retries_total Failed receivers scheduled for another attempt.\n# TYPE signalqueue_retries_total counter\n");
        for ((s, r), n) in &inner.retries {
            let _ = writeln!(
                out,
                "signalqueue_retries_total{{signal=\"{}\",receiver=\"{}\"}} {n}",
                esc(s),
                esc(r)
            );
        }
        out.push_str("# HELP signalqueue_dead_letters_total Signals dead-lettered, by reason.\n# TYPE signalqueue_dead_letters_total counter\n");
        for ((s, k), n) in &inner.dead {
            let _ = writeln!(
                out,
                "signalqueue_dead_letters_total{{signal=\"{}\",reason=\"{}\"}} {n}",
                esc(s),
                esc(k)
            );
        }
        out.push_str("# HELP signalqueue_given_back_total Entries given back unhandled, for a worker that knows their signal or receiver (a rolling deploy), by queue and what was unknown.\n# TYPE signalqueue_given_back_total counter\n");
        for ((q, what), n) in &inner.given_back {
            let _ = writeln!(
                out,
                "signalqueue_given_back_total{{queue=\"{}\",unknown=\"{what}\"}} {n}",
                esc(q)
            );
        }
        out.push_str("# HELP signalqueue_handled_total Signals whose receivers all finished.\n# TYPE signalqueue_handled_total counter\n");
        for (s, n) in &inner.handled {
            let _ = writeln!(
                out,
                "signalqueue_handled_total{{signal=\"{}\"}} {n}",
                esc(s)
            );
        }
        out.push_str("# HELP signalqueue_send_to_start_seconds Time from send to the first receiver starting.\n# TYPE signalqueue_send_to_start_seconds histogram\n");
        for (s, h) in &inner.latency {
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "signalqueue_send_to_start_seconds_bucket{{signal=\"{}\",le=\"{bound}\"}} {}",
                    esc(s),
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "signalqueue_send_to_start_seconds_bucket{{signal=\"{}\",le=\"+Inf\"}} {}",
                esc(s),
                h.count
            );
            let _ = writeln!(
                out,
                "signalqueue_send_to_start_seconds_sum{{signal=\"{}\"}} {}",
                esc(s),
                h.sum
            );
            let _ = writeln!(
                out,
                "signalqueue_send_to_start_seconds_count{{signal=\"{}\"}} {}",
                esc(s),
                h.count
            );
        }
        out.push_str("# HELP signalqueue_queue_depth Entries in a queue, by state.\n# TYPE signalqueue_queue_depth gauge\n");
        for (q, c) in queues {
            for (state, n) in [
                ("pending", c.pending),
                ("scheduled", c.scheduled),
                ("in_flight", c.in_flight),
                ("dead", c.dead),
            ] {
                let _ = writeln!(
                    out,
                    "signalqueue_queue_depth{{queue=\"{}\",state=\"{state}\"}} {n}",
                    esc(q)
                );
            }
        }
        out
    }

    /// Signals handled since start, by signal wire name (the admin page sums them per queue).
    pub fn handled_by_signal(&self) -> BTreeMap<String, u64> {
        self.lock().handled.clone()
    }

    /// [`Metrics::render_prometheus`] for queues whose counts may have failed to read, plus
    /// the process gauges: `signalqueue_queue_up` says which engines answered (a queue whose
    /// depth is missing is otherwise indistinguishable from an empty one), and
    /// `signalqueue_uptime_seconds`/`signalqueue_build_info` tell restarts and versions apart.
    pub fn render_prometheus_with_health(
        &self,
        queues: &[(String, Result<signalqueue::engine::Counts, String>)],
    ) -> String {
        use std::fmt::Write;
        let depths: Vec<(String, signalqueue::engine::Counts)> = queues
            .iter()
            .filter_map(|(q, c)| c.as_ref().ok().map(|c| (q.clone(), *c)))
            .collect();
        let mut out = self.render_prometheus(&depths);
        out.push_str("# HELP signalqueue_queue_up Whether the queue's engine answered the last depth read (1) or not (0).\n# TYPE signalqueue_queue_up gauge\n");
        for (q, c) in queues {
            let _ = writeln!(
                out,
                "signalqueue_queue_up{{queue=\"{}\"}} {}",
                escape_label(q),
                u8::from(c.is_ok())
            );
        }
        let _ = writeln!(
            out,
            "# HELP signalqueue_uptime_seconds Seconds since the worker started.\n# TYPE signalqueue_uptime_seconds gauge\nsignalqueue_uptime_seconds {:.3}",
            self.uptime().as_secs_f64()
        );
        let _ = writeln!(
            out,
            "# HELP signalqueue_build_info The worker's version; always 1.\n# TYPE signalqueue_build_info gauge\nsignalqueue_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// Escapes a Prometheus label value (backslash, quote, newline).
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.record_run("s", "r", RunResult::Succeeded);
        m.record_run("s", "r", RunResult::Failed);
        m.record_retry("s", "r");
        m.record_dead("s", "receiver");
        m.record_handled("s");
        m.record_given_back("default", "unknown_signal");
        m.record_latency("s", Duration::from_millis(3));
        let text = m.render_prometheus(&[(
            "default".into(),
            signalqueue::engine::Counts {
                pending: 4,
                ..Default::default()
            },
        )]);
        assert!(text.contains(
            "signalqueue_receiver_runs_total{signal=\"s\",receiver=\"r\",outcome=\"failed\"} 1"
        ));
        assert!(text.contains("signalqueue_retries_total{signal=\"s\",receiver=\"r\"} 1"));
        assert!(text.contains(
            "signalqueue_given_back_total{queue=\"default\",unknown=\"unknown_signal\"} 1"
        ));
        assert!(
            text.contains("signalqueue_send_to_start_seconds_bucket{signal=\"s\",le=\"0.002\"} 0")
        );
        assert!(
            text.contains("signalqueue_send_to_start_seconds_bucket{signal=\"s\",le=\"0.005\"} 1")
        );
        assert!(text.contains("signalqueue_queue_depth{queue=\"default\",state=\"pending\"} 4"));
        assert_eq!(m.handled_total(), 1);
    }

    #[test]
    fn health_rendering_marks_unreachable_queues_and_keeps_their_depth_out() {
        let m = Metrics::new();
        m.record_handled("s");
        m.record_handled("s");
        assert_eq!(m.handled_by_signal().get("s"), Some(&2));
        let text = m.render_prometheus_with_health(&[
            ("up".into(), Ok(signalqueue::engine::Counts::default())),
            ("down".into(), Err("cannot reach redis".into())),
        ]);
        assert!(
            text.contains("signalqueue_queue_up{queue=\"up\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("signalqueue_queue_up{queue=\"down\"} 0"),
            "{text}"
        );
        assert!(text.contains("signalqueue_queue_depth{queue=\"up\",state=\"dead\"} 0"));
        assert!(
            !text.contains("signalqueue_queue_depth{queue=\"down\""),
            "{text}"
        );
        assert!(text.contains("signalqueue_uptime_seconds "), "{text}");
        assert!(text.contains("signalqueue_build_info{version=\""), "{text}");
    }
}
