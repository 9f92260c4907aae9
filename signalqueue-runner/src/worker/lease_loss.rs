//! Why the engine no longer held a claim's lease, for the warnings that report it.
//!
//! Two different things end a lease early, and the operator's fix differs: the lease ran out
//! (the worker stalled, or could not reach the engine, for longer than the lease: raise the
//! lease or find the stall), or the engine lost it while it still had time to run (a failover
//! to a replica that had not received the claim or its last renewal, a restart that lost data,
//! a purge). The worker tells them apart by when it last knew the lease held: the claim, or the
//! last renewal the engine accepted. If the lease had time left by that reckoning, it did not
//! run out.

use std::time::{Duration, Instant};

/// The words for why a lease was gone, given when the worker last knew it held (`None`: not
/// known) and the lease.
pub(crate) fn cause(held_since: Option<Instant>, lease: Duration) -> &'static str {
    // Leases run on the engine's clock, from when it served the claim or renewal, a little
    // after the worker's instant: a loss this close to the end is counted as running out.
    let margin = (lease / 10).min(Duration::from_secs(1));
    match held_since {
        Some(held) if held.elapsed() + margin < lease => {
            "the engine lost the lease before it ran out (a failover to a replica that had not \
             received the claim or its renewal, a restart that lost data, or a purge)"
        }
        _ => {
            "the lease ran out (the worker stalled, or could not reach the engine, for longer \
             than the lease)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_with_time_left_was_lost_by_the_engine() {
        let lease = Duration::from_secs(30);
        let now = Instant::now();
        assert!(cause(Some(now), lease).starts_with("the engine lost the lease"));
        let long_ago = now.checked_sub(Duration::from_secs(31));
        if let Some(long_ago) = long_ago {
            assert!(cause(Some(long_ago), lease).starts_with("the lease ran out"));
        }
        let at_the_end = now.checked_sub(Duration::from_millis(29_500));
        if let Some(at_the_end) = at_the_end {
            assert!(cause(Some(at_the_end), lease).starts_with("the lease ran out"));
        }
        assert!(cause(None, lease).starts_with("the lease ran out"));
    }
}
