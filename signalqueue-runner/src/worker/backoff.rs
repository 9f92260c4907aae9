//! Delays: between a failed receiver's attempts, and between tries of an engine that failed.

use std::time::Duration;

use rand::Rng;
use signalqueue::__private::Backoff;

/// The delay before attempt `failed_attempt + 1` of a receiver that failed on
/// `failed_attempt` (from 1): `base * 2^(failed_attempt - 1)`, capped at `max`, then moved by up
/// to 25% either way.
///
/// The jitter spreads retries of signals that failed together (an outage of something the
/// receivers call), so they do not all come back at the same instant and fail together again.
pub(crate) fn retry_delay(failed_attempt: u32, base: Duration, max: Duration) -> Duration {
    let exponent = failed_attempt.saturating_sub(1).min(31);
    let raw = base.saturating_mul(1u32 << exponent).min(max);
    let factor: f64 = rand::rng().random_range(0.75..=1.25);
    raw.mul_f64(factor)
}

/// Backs off while an engine keeps failing (Redis restarting, a disk full): about 100 ms,
/// doubling to about 5 s, with jitter so that many workers do not retry in lockstep; one success
/// starts over. The engines reconnect by themselves, so the worker only has to keep trying
/// without hammering them.
pub(crate) fn engine_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_within_jitter_and_are_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for (attempt, expected_ms) in [
            (1, 100.0),
            (2, 200.0),
            (3, 400.0),
            (4, 800.0),
            (5, 1000.0),
            (40, 1000.0),
        ] {
            for _ in 0..50 {
                let d = retry_delay(attempt, base, max).as_secs_f64() * 1000.0;
                assert!(
                    d >= expected_ms * 0.75 - 0.001 && d <= expected_ms * 1.25 + 0.001,
                    "attempt {attempt}: {d} ms, expected {expected_ms} ms +/- 25%"
                );
            }
        }
    }
}
