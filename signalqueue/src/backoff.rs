//! One backoff for every loop that waits for something to come back (an engine, a server, a
//! listening connection, a queue the relay feeds): doubling from a first pause to a cap, with
//! each pause drawn at random from the upper half of its step ("equal jitter"). Many workers
//! that lost one Redis at the same instant then come back spread over time rather than in
//! lockstep, and none waits longer than the cap. Not public API: the worker uses it too.

use std::time::Duration;

use rand::Rng;

/// A backoff: see the module docs.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    /// Pauses from about `first`, doubling to about `max`.
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            step: first,
        }
    }

    /// Records a failure; returns how long to wait before trying again: between half the
    /// current step and the step, which then doubles (up to the cap).
    pub fn fail(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        step.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Records a success: the next failure starts from the first pause again.
    pub fn reset(&mut self) {
        self.step = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_its_jitter_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        for step_ms in [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 5000.0, 5000.0] {
            let ms = b.fail().as_secs_f64() * 1000.0;
            assert!(
                ms >= step_ms * 0.5 - 0.001 && ms <= step_ms + 0.001,
                "{ms} ms, expected within [{}, {step_ms}]",
                step_ms * 0.5
            );
        }
        b.reset();
        assert!(b.fail() <= Duration::from_millis(100));
    }

    #[test]
    fn two_backoffs_do_not_stay_in_lockstep() {
        let waits = |_| {
            let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
            (0..6).map(|_| b.fail()).collect::<Vec<_>>()
        };
        let runs: Vec<Vec<Duration>> = (0..8).map(waits).collect();
        assert!(runs.windows(2).any(|w| w[0] != w[1]), "{runs:?}");
    }
}
