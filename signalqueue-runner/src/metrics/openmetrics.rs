//! `/metrics` in the OpenMetrics text format, encoded by `prometheus-client` from the
//! worker's own atomics ([`super::Metrics`]) and the gauges read at scrape time (queue depths,
//! outboxes). The library does the format: names, types, escaping, cumulative buckets, `# EOF`.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use signalqueue::engine::Counts;

use super::{HistogramSnapshot, Metrics, RunResult, DEAD_KINDS};

/// The content type of what [`encode`] writes.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One outbox's gauges.
#[derive(Clone, Debug)]
pub(crate) struct OutboxGauges {
    /// The outbox's database, password removed (the label).
    pub(crate) url: String,
    /// Rows waiting; `None` when the database did not answer.
    pub(crate) depth: Option<u64>,
    /// How long the oldest row has waited, in seconds.
    pub(crate) oldest_age_seconds: Option<f64>,
}

/// What one scrape shows besides the counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gauges {
    /// Each served queue's counts, or why they could not be read.
    pub(crate) queues: Vec<(String, Result<Counts, String>)>,
    /// The outboxes the worker relays.
    pub(crate) outboxes: Vec<OutboxGauges>,
}

/// The whole exposition: the counters of `metrics` and the scrape's `gauges`.
pub(crate) fn encode(metrics: Arc<Metrics>, gauges: Gauges) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape { metrics, gauges }));
    let mut out = String::with_capacity(8 * 1024);
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

#[derive(Debug)]
struct Scrape {
    metrics: Arc<Metrics>,
    gauges: Gauges,
}

fn counter(e: &mut MetricEncoder<'_>, labels: &impl EncodeLabelSet, n: u64) -> fmt::Result {
    e.encode_family(labels)?
        .encode_counter::<NoLabelSet, u64, u64>(&n, None)
}

fn histogram(
    e: &mut MetricEncoder<'_>,
    labels: &impl EncodeLabelSet,
    h: &HistogramSnapshot,
) -> fmt::Result {
    e.encode_family(labels)?.encode_histogram::<NoLabelSet>(
        h.sum_seconds,
        h.count,
        &h.buckets,
        None,
    )
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let m = &self.metrics;
        let signals: Vec<_> = m.all_signals().collect();
        let receivers = || {
            signals.iter().flat_map(|(signal, stats)| {
                let mut rs: Vec<_> = stats.receivers.iter().collect();
                rs.sort_by_key(|(name, _)| **name);
                rs.into_iter().map(move |(name, r)| (*signal, *name, r))
            })
        };

        let mut e = enc.encode_descriptor(
            "signalqueue_receiver_runs",
            "Receiver runs, by outcome.",
            None,
            MetricType::Counter,
        )?;
        for (signal, receiver, r) in receivers() {
            for result in RunResult::ALL {
                let n = r.runs[result.index()].load(Ordering::Relaxed);
                if n > 0 {
                    let labels = [
                        ("signal", signal),
                        ("receiver", receiver),
                        ("outcome", result.as_str()),
                    ];
                    counter(&mut e, &labels, n)?;
                }
            }
        }
        let mut e = enc.encode_descriptor(
            "signalqueue_receiver_duration_seconds",
            "How long each receiver run took.",
            None,
            MetricType::Histogram,
        )?;
        for (signal, receiver, r) in receivers() {
            let h = r.duration.snapshot();
            if h.count > 0 {
                histogram(&mut e, &[("signal", signal), ("receiver", receiver)], &h)?;
            }
        }
        let mut e = enc.encode_descriptor(
            "signalqueue_retries",
            "Failed receivers scheduled for another attempt.",
            None,
            MetricType::Counter,
        )?;
        for (signal, receiver, r) in receivers() {
            let n = r.retries.load(Ordering::Relaxed);
            if n > 0 {
                counter(&mut e, &[("signal", signal), ("receiver", receiver)], n)?;
            }
        }
        let mut e = enc.encode_descriptor(
            "signalqueue_dead_letters",
            "Signals dead-lettered, by reason.",
            None,
            MetricType::Counter,
        )?;
        for (signal, stats) in &signals {
            for (kind, n) in DEAD_KINDS.iter().zip(&stats.dead) {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    counter(&mut e, &[("signal", *signal), ("reason", *kind)], n)?;
                }
            }
        }
        let mut e = enc.encode_descriptor(
            "signalqueue_given_back",
            "Entries given back unhandled, for a worker that knows their signal or receiver (a rolling deploy), by queue and what was unknown.",
            None,
            MetricType::Counter,
        )?;
        for ((queue, what), n) in m.given_back() {
            counter(&mut e, &[("queue", queue.as_str()), ("unknown", what)], n)?;
        }
        let mut e = enc.encode_descriptor(
            "signalqueue_handled",
            "Signals whose receivers all finished.",
            None,
            MetricType::Counter,
        )?;
        for (signal, stats) in &signals {
            let n = stats.handled.load(Ordering::Relaxed);
            if n > 0 {
                counter(&mut e, &[("signal", *signal)], n)?;
            }
        }
        let mut e = enc.encode_descriptor(
            "signalqueue_send_to_start_seconds",
            "Time from send (or a delayed send's due time) to the first receiver starting.",
            None,
            MetricType::Histogram,
        )?;
        for (signal, stats) in &signals {
            let h = stats.latency();
            if h.count > 0 {
                histogram(&mut e, &[("signal", *signal)], &h)?;
            }
        }

        let mut e = enc.encode_descriptor(
            "signalqueue_queue_depth",
            "Entries in a queue, by state.",
            None,
            MetricType::Gauge,
        )?;
        for (queue, counts) in &self.gauges.queues {
            let Ok(c) = counts else { continue };
            for (state, n) in [
                ("pending", c.pending),
                ("scheduled", c.scheduled),
                ("in_flight", c.in_flight),
                ("dead", c.dead),
            ] {
                e.encode_family(&[("queue", queue.as_str()), ("state", state)])?
                    .encode_gauge(&n)?;
            }
        }
        let mut e = enc.encode_descriptor(
            "signalqueue_queue_up",
            "Whether the queue's engine answered the last depth read (1) or not (0).",
            None,
            MetricType::Gauge,
        )?;
        for (queue, counts) in &self.gauges.queues {
            e.encode_family(&[("queue", queue.as_str())])?
                .encode_gauge(&u64::from(counts.is_ok()))?;
        }
        let outboxes = &self.gauges.outboxes;
        if !outboxes.is_empty() {
            let mut e = enc.encode_descriptor(
                "signalqueue_outbox_depth",
                "Rows waiting in the outbox to be relayed.",
                None,
                MetricType::Gauge,
            )?;
            for o in outboxes {
                if let Some(depth) = o.depth {
                    e.encode_family(&[("outbox", o.url.as_str())])?
                        .encode_gauge(&depth)?;
                }
            }
            let mut e = enc.encode_descriptor(
                "signalqueue_outbox_oldest_age_seconds",
                "How long the oldest row of the outbox has waited.",
                None,
                MetricType::Gauge,
            )?;
            for o in outboxes {
                if let Some(age) = o.oldest_age_seconds {
                    e.encode_family(&[("outbox", o.url.as_str())])?
                        .encode_gauge(&age)?;
                }
            }
            let mut e = enc.encode_descriptor(
                "signalqueue_outbox_up",
                "Whether the outbox's database answered (1) or not (0).",
                None,
                MetricType::Gauge,
            )?;
            for o in outboxes {
                e.encode_family(&[("outbox", o.url.as_str())])?
                    .encode_gauge(&u64::from(o.depth.is_some()))?;
            }
        }
        enc.encode_descriptor(
            "signalqueue_uptime_seconds",
            "Seconds since the worker started.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&m.uptime().as_secs_f64())?;
        enc.encode_descriptor(
            "signalqueue_build",
            "The worker's version.",
            None,
            MetricType::Info,
        )?
        .encode_info(&[("version", env!("CARGO_PKG_VERSION"))])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Arc::new(Metrics::for_names([("s", vec!["r"])]));
        m.record_run(
            "s",
            "r",
            RunResult::Succeeded,
            Duration::from_millis(1),
            None,
        );
        m.record_run(
            "s",
            "r",
            RunResult::Failed,
            Duration::from_millis(30),
            Some("x"),
        );
        m.record_retry("s", "r");
        m.record_dead("s", "receiver");
        m.record_dead("not-linked", "unknown_signal");
        m.record_handled("s");
        m.record_latency("s", Duration::from_millis(3));
        m.record_given_back("default", "unknown_signal");
        let text = encode(
            m,
            Gauges {
                queues: vec![
                    ("default".into(), Ok(Counts::new(4, 0, 0, 0))),
                    ("down".into(), Err("cannot reach redis".into())),
                ],
                outboxes: vec![],
            },
        );
        for line in [
            "signalqueue_receiver_runs_total{signal=\"s\",receiver=\"r\",outcome=\"failed\"} 1",
            "signalqueue_retries_total{signal=\"s\",receiver=\"r\"} 1",
            "signalqueue_dead_letters_total{signal=\"s\",reason=\"receiver\"} 1",
            "signalqueue_dead_letters_total{signal=\"unknown\",reason=\"unknown_signal\"} 1",
            "signalqueue_handled_total{signal=\"s\"} 1",
            "signalqueue_send_to_start_seconds_bucket{le=\"0.002\",signal=\"s\"} 0",
            "signalqueue_send_to_start_seconds_bucket{le=\"0.005\",signal=\"s\"} 1",
            "signalqueue_receiver_duration_seconds_count{signal=\"s\",receiver=\"r\"} 2",
            "signalqueue_queue_depth{queue=\"default\",state=\"pending\"} 4",
            "signalqueue_queue_up{queue=\"default\"} 1",
            "signalqueue_queue_up{queue=\"down\"} 0",
            "signalqueue_build_info{version=\"0.1.0\"} 1",
            "signalqueue_given_back_total{queue=\"default\",unknown=\"unknown_signal\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
        assert!(
            !text.contains("signalqueue_queue_depth{queue=\"down\""),
            "{text}"
        );
        assert!(!text.contains("not-linked"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
