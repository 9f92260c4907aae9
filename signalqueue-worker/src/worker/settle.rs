//! Telling the engine what became of a claim: acknowledgements go to the batching acker;
//! retries and dead letters are written here, engine errors retried until they succeed (or
//! shutdown gives up on the claim and its lease brings it back).

use std::future::Future;
use std::time::Instant;

use signalqueue::engine::{Claimed, EngineError};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::OwnedSemaphorePermit;

use crate::worker::ack::AckItem;
use crate::worker::backoff::engine_backoff;
use crate::worker::handle::{Decision, Disposition};
use crate::worker::lease_loss;
use crate::worker::{Lane, Shared, SignalOutcome, SignalResult};

/// Applies `decision` to the claim. `slot` is the claim's slot: an acknowledgement hands it
/// to the acker, which frees it once the engine has answered; otherwise it is freed when the
/// retry or dead letter is written (when this returns).
pub(crate) async fn settle(
    lane: &Lane,
    shared: &Shared,
    claimed: &Claimed,
    decision: Decision,
    acks: &UnboundedSender<AckItem>,
    slot: OwnedSemaphorePermit,
) {
    let token = &claimed.token;
    let id = decision
        .id
        .map_or_else(|| format!("key {}", token.key), |id| id.to_string());
    let result = match decision.disposition {
        Disposition::Ack => {
            lane.in_flight.acking(token);
            let item = AckItem {
                token: token.clone(),
                signal: decision.signal,
                id: decision.id,
                slot,
            };
            if let Err(unsent) = acks.send(item) {
                // Only possible if the acker died: leave the entry to its lease.
                tracing::error!(queue = %lane.name, key = %unsent.0.token.key, "the acker is gone; this signal will run again when its lease expires");
            }
            // The acker reports the outcome once the engine took the acknowledgement.
            return;
        }
        Disposition::Retry {
            payload,
            not_before,
            delay,
            receivers,
            next_attempt,
        } => {
            lane.in_flight.settling(token);
            let kept = with_retries(lane, "retry", || {
                lane.engine.retry(token, &payload, not_before)
            })
            .await;
            let held_since = lane.in_flight.remove(token);
            if !kept {
                lease_lost(lane, held_since, &decision.signal, &id, "retry");
                SignalResult::LeaseLost
            } else {
                for r in &receivers {
                    shared.metrics.record_retry(&decision.signal, r);
                }
                shared
                    .totals
                    .retried
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    queue = %lane.name,
                    signal = %decision.signal,
                    id = %id,
                    receivers = %receivers.join(", "),
                    attempt = next_attempt,
                    in_ms = delay.as_millis() as u64,
                    "receivers failed; retrying them"
                );
                SignalResult::Retried {
                    receivers,
                    next_attempt,
                    delay,
                }
            }
        }
        Disposition::Dead {
            payload,
            reason,
            kind,
        } => {
            lane.in_flight.settling(token);
            let kept = with_retries(lane, "dead-letter", || {
                lane.engine.dead_letter(token, &payload, &reason)
            })
            .await;
            let held_since = lane.in_flight.remove(token);
            if !kept {
                lease_lost(lane, held_since, &decision.signal, &id, "dead letter");
                SignalResult::LeaseLost
            } else {
                shared.metrics.record_dead(&decision.signal, kind.as_str());
                shared
                    .totals
                    .dead
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    queue = %lane.name,
                    signal = %decision.signal,
                    id = %id,
                    kind = kind.as_str(),
                    reason = %reason,
                    "dead-lettered"
                );
                SignalResult::Dead { kind, reason }
            }
        }
    };
    drop(slot);
    shared.report(SignalOutcome {
        queue: lane.name.clone(),
        signal: decision.signal,
        id: decision.id,
        result,
    });
}

fn lease_lost(lane: &Lane, held_since: Option<Instant>, signal: &str, id: &str, what: &str) {
    tracing::warn!(
        queue = %lane.name,
        signal,
        id,
        "the {what} was refused: this claim's lease is gone: {}; another claim of the signal decides its fate",
        lease_loss::cause(held_since, lane.lease)
    );
}

/// Calls `op` until the engine answers, backing off while it fails; returns its answer.
async fn with_retries<F, Fut>(lane: &Lane, what: &str, mut op: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, EngineError>>,
{
    let mut backoff = engine_backoff();
    loop {
        match op().await {
            Ok(answer) => return answer,
            Err(e) => {
                let wait = backoff.fail();
                tracing::warn!(queue = %lane.name, error = %e, "cannot write a {what}; trying again in {} ms", wait.as_millis());
                tokio::time::sleep(wait).await;
            }
        }
    }
}
