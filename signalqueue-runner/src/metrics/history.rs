//! The last hour of handled and failed counts, one point a second, for the console's charts.
//! Sampled by the admin server (about twice a second), never on the per-signal path.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far back the charts go.
pub const SPAN: Duration = Duration::from_secs(3600);

/// One second of the chart: signals handled and receiver runs failed during it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Point {
    /// The second, in Unix seconds.
    pub t: u64,
    /// Signals whose receivers all finished in that second.
    pub handled: u64,
    /// Receiver runs that failed or panicked in that second.
    pub failed: u64,
}

/// Totals seen at each second; the chart is their differences.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// `(unix second, handled total, failed total)`, oldest first.
    totals: VecDeque<(u64, u64, u64)>,
}

impl History {
    /// Records the totals as of `now` (several calls in one second keep the last).
    pub(crate) fn sample(&mut self, now: SystemTime, handled: u64, failed: u64) {
        let t = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match self.totals.back_mut() {
            Some(last) if last.0 == t => *last = (t, handled, failed),
            Some(last) if last.0 > t => {} // the clock stepped back: keep what we have
            _ => self.totals.push_back((t, handled, failed)),
        }
        let oldest = t.saturating_sub(SPAN.as_secs() + 1);
        while self.totals.front().is_some_and(|p| p.0 < oldest) {
            self.totals.pop_front();
        }
    }

    /// Per-second points over the last hour, oldest first. A gap between samples (the server
    /// was busy) is spread evenly over the seconds it covers, so the chart keeps its scale.
    pub(crate) fn points(&self) -> Vec<Point> {
        let mut out = Vec::with_capacity(self.totals.len());
        for pair in self.totals.iter().collect::<Vec<_>>().windows(2) {
            let (t0, h0, f0) = *pair[0];
            let (t1, h1, f1) = *pair[1];
            let secs = (t1 - t0).max(1);
            let (dh, df) = (h1.saturating_sub(h0), f1.saturating_sub(f0));
            for i in 0..secs {
                // The remainder goes to the last second, so the points sum to the totals.
                let last = i + 1 == secs;
                out.push(Point {
                    t: t0 + i + 1,
                    handled: dh / secs + if last { dh % secs } else { 0 },
                    failed: df / secs + if last { df % secs } else { 0 },
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn points_are_per_second_differences_and_keep_an_hour() {
        let mut h = History::default();
        h.sample(at(100), 0, 0);
        h.sample(at(101), 5, 1);
        h.sample(at(101), 7, 1); // the same second: the last sample counts
        h.sample(at(104), 13, 4); // three seconds at once: spread
        let points = h.points();
        assert_eq!(
            points,
            vec![
                Point {
                    t: 101,
                    handled: 7,
                    failed: 1
                },
                Point {
                    t: 102,
                    handled: 2,
                    failed: 1
                },
                Point {
                    t: 103,
                    handled: 2,
                    failed: 1
                },
                Point {
                    t: 104,
                    handled: 2,
                    failed: 1
                },
            ]
        );
        // More than an hour later the old seconds are gone.
        h.sample(at(5000), 20, 4);
        h.sample(at(5001), 21, 6);
        assert_eq!(
            h.points(),
            vec![Point {
                t: 5001,
                handled: 1,
                failed: 2
            }]
        );
    }
}
