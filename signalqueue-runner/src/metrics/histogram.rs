//! A histogram of durations with fixed buckets, recorded with atomics only: observing one is a
//! few relaxed additions, never a lock, so receivers on every thread record without meeting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the buckets, shared by every duration the worker measures: from
/// half a millisecond (a no-op receiver) to five minutes (a queue that waited).
pub const BUCKETS: [f64; 18] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

/// Per-bucket counts (not cumulative), the overflow, and the sum in microseconds.
#[derive(Debug, Default)]
pub(crate) struct AtomicHistogram {
    buckets: [AtomicU64; BUCKETS.len()],
    overflow: AtomicU64,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct HistogramSnapshot {
    /// `(upper bound, count in that bucket)`, the last bound `+Inf`.
    pub(crate) buckets: Vec<(f64, u64)>,
    pub(crate) sum_seconds: f64,
    pub(crate) count: u64,
}

impl AtomicHistogram {
    pub(crate) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        match BUCKETS.iter().position(|bound| secs <= *bound) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.overflow.fetch_add(1, Ordering::Relaxed),
        };
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| (*bound, n.load(Ordering::Relaxed)))
            .collect();
        buckets.push((f64::INFINITY, self.overflow.load(Ordering::Relaxed)));
        // The count is the buckets' sum, so that the two always agree in one scrape.
        let count = buckets.iter().map(|(_, n)| n).sum();
        HistogramSnapshot {
            buckets,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count,
        }
    }
}

impl HistogramSnapshot {
    /// The `q` quantile (0 to 1), interpolated inside its bucket as Prometheus's
    /// `histogram_quantile` does; `None` without observations. Past the last finite bound it
    /// answers that bound: the histogram knows no more.
    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let mut below = 0u64;
        let mut lower = 0.0;
        for (upper, n) in &self.buckets {
            if *n > 0 && (below + n) as f64 >= rank {
                if upper.is_infinite() {
                    return Some(Duration::from_secs_f64(lower));
                }
                let within = (rank - below as f64) / *n as f64;
                return Some(Duration::from_secs_f64(lower + (upper - lower) * within));
            }
            below += n;
            if upper.is_finite() {
                lower = *upper;
            }
        }
        Some(Duration::from_secs_f64(lower))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let h = AtomicHistogram::default();
        assert_eq!(h.snapshot().quantile(0.5), None);
        for _ in 0..99 {
            h.observe(Duration::from_micros(300)); // first bucket, up to 0.5 ms
        }
        h.observe(Duration::from_millis(200)); // the (0.1, 0.25] bucket
        let s = h.snapshot();
        assert_eq!(s.count, 100);
        let p50 = s.quantile(0.5).unwrap();
        assert!(p50 <= Duration::from_micros(500), "{p50:?}");
        let p100 = s.quantile(1.0).unwrap();
        assert!(
            p100 > Duration::from_millis(100) && p100 <= Duration::from_millis(250),
            "{p100:?}"
        );
        h.observe(Duration::from_secs(900));
        assert_eq!(h.snapshot().buckets.last(), Some(&(f64::INFINITY, 1)));
        assert_eq!(
            h.snapshot().quantile(1.0),
            Some(Duration::from_secs(300)),
            "past the last bound: that bound"
        );
    }
}
