//! Measurements: one JSON object per line on stdout (for scripts and the smoke test), and a
//! human summary on stderr.

use std::collections::BTreeMap;

use serde::Serialize;

/// One measurement, as printed.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Measurement {
    /// What was measured (`send_seq`, `drain_noop`, `latency_5k`...).
    pub(crate) name: String,
    /// `redis`, `sqlite`, or `redis-benchmark` for the server's own figures.
    pub(crate) engine: String,
    /// Signals (or operations) per run.
    pub(crate) n: u64,
    /// The median over runs (for latencies: the pooled p50).
    pub(crate) median: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) p99: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) p999: Option<f64>,
    /// `signals/s`, `ops/s`, `ms`, `MiB`.
    pub(crate) unit: &'static str,
    /// How many runs the median is taken over.
    pub(crate) runs: usize,
    /// Each run's figure, in order.
    pub(crate) values: Vec<f64>,
    /// The 1-minute load average when the measurement ended: the machine is shared.
    pub(crate) load1: f64,
    /// This figure divided by Redis's own (`redis-benchmark`) measured in the same run.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) fraction_of: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

impl Measurement {
    /// A rate or size measured `values.len()` times.
    pub(crate) fn runs(
        name: impl Into<String>,
        engine: impl ToString,
        n: u64,
        unit: &'static str,
        values: Vec<f64>,
    ) -> Measurement {
        Measurement {
            name: name.into(),
            engine: engine.to_string(),
            n,
            median: median(&values),
            p50: None,
            p99: None,
            p999: None,
            unit,
            runs: values.len(),
            values,
            load1: load1(),
            fraction_of: BTreeMap::new(),
            note: None,
        }
    }

    /// A latency distribution from samples pooled over `runs` runs, in milliseconds.
    pub(crate) fn latency(
        name: impl Into<String>,
        engine: impl ToString,
        runs: usize,
        samples_ns: &mut [u64],
    ) -> Measurement {
        samples_ns.sort_unstable();
        let ms = |p: f64| percentile(samples_ns, p) as f64 / 1e6;
        let mut m = Measurement::runs(name, engine, samples_ns.len() as u64, "ms", Vec::new());
        m.runs = runs;
        m.median = ms(0.5);
        m.p50 = Some(ms(0.5));
        m.p99 = Some(ms(0.99));
        m.p999 = Some(ms(0.999));
        m
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Prints the JSON line on stdout and a summary line on stderr.
    pub(crate) fn emit(&self) {
        println!(
            "{}",
            serde_json::to_string(self).expect("a measurement always serializes")
        );
        let figure = match (self.p99, self.p999) {
            (Some(p99), Some(p999)) => format!(
                "p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms",
                self.median, p99, p999
            ),
            _ => format!("{} {}", human(self.median), self.unit),
        };
        let spread = if self.values.len() > 1 {
            let lo = self.values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = self.values.iter().copied().fold(0.0, f64::max);
            format!("  [{}..{}]", human(lo), human(hi))
        } else {
            String::new()
        };
        let fractions: Vec<String> = self
            .fraction_of
            .iter()
            .map(|(k, v)| format!("{v:.2} of {k}"))
            .collect();
        eprintln!(
            "{:<7} {:<22} {:>36}{}  n={} runs={} load={:.2}{}{}",
            self.engine,
            self.name,
            figure,
            spread,
            self.n,
            self.runs,
            self.load1,
            if fractions.is_empty() {
                String::new()
            } else {
                format!("  ({})", fractions.join(", "))
            },
            self.note
                .as_deref()
                .map_or_else(String::new, |n| format!("  [{n}]")),
        );
    }
}

/// The median; 0 for no values.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The `p` quantile of sorted samples (nearest rank); 0 for none.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The 1-minute load average (0 where `/proc/loadavg` is missing).
pub(crate) fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// `123456.7` as `123,457`; small numbers keep two decimals.
fn human(x: f64) -> String {
    if x.abs() < 100.0 {
        return format!("{x:.2}");
    }
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 && c.is_ascii_digit() {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let s: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&s, 0.5), 500);
        assert_eq!(percentile(&s, 0.99), 990);
        assert_eq!(percentile(&s, 0.999), 999);
        assert_eq!(human(1234567.0), "1,234,567");
    }
}
