//! Lease renewal: slow is not dead. While a receiver runs, its claim's lease is extended, so a
//! receiver longer than the lease is not taken over by another worker.

use std::sync::Arc;
use std::time::Instant;

use crate::worker::lease_loss;
use crate::worker::Lane;

/// Renews every claim `lane` holds, in one engine call, every third of the lease: two renewals
/// can fail (a Redis blip) before a lease runs out. Runs until aborted.
pub(crate) async fn renew_leases(lane: Arc<Lane>) {
    let every = lane.lease / 3;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let tokens = lane.in_flight.renewable();
        if tokens.is_empty() {
            continue;
        }
        let asked = Instant::now();
        match lane.engine.renew(&tokens, lane.lease).await {
            Ok(answers) => {
                for (token, kept) in tokens.iter().zip(answers) {
                    if kept {
                        lane.in_flight.renewed(token, asked);
                        continue;
                    }
                    let held_since = lane.in_flight.held_since(token);
                    if lane.in_flight.mark_lost(token) {
                        tracing::warn!(
                            queue = %lane.name,
                            key = %token.key,
                            "lost the lease of a signal still being handled: {}; \
                             its outcome will be refused and another worker may run it again",
                            lease_loss::cause(held_since, lane.lease)
                        );
                    }
                }
            }
            Err(e) => {
                tracing::warn!(queue = %lane.name, error = %e, claims = tokens.len(), "cannot renew leases; trying again at the next tick");
            }
        }
    }
}
