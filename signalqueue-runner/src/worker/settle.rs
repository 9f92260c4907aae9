//! Telling the engine what became of a claim: acknowledgements go to the batching acker;
//! retries, dead letters and give-backs are written here (several at once as one split), engine errors retried until they succeed (or
//! shutdown gives up on the claim and its lease brings it back).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Instant;

use signalqueue::engine::{Claimed, DeadLetter, EngineError, Outgoing};
use signalqueue::EnvelopeId;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::OwnedSemaphorePermit;

use crate::worker::ack::AckItem;
use crate::worker::backoff::engine_backoff;
use crate::worker::handle::{Decision, Disposition, Pieces};
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
        Disposition::Pieces(pieces) => {
            // For the log lines: not formatted for an acknowledgement, the common case.
            let id = decision
                .id
                .map_or_else(|| format!("key {}", token.key), |id| id.to_string());
            lane.in_flight.settling(token);
            let kept = write_pieces(lane, claimed, decision.id, &pieces).await;
            let held_since = lane.in_flight.remove(token);
            if !kept {
                lease_lost(lane, held_since, &decision.signal, &id, pieces.what());
                SignalResult::LeaseLost
            } else {
                record(
                    lane,
                    shared,
                    &decision.signal,
                    decision.metric_signal,
                    &id,
                    pieces,
                )
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

impl Pieces {
    /// What the write was, for the warning when it is refused.
    fn what(&self) -> &'static str {
        match (self.retries.len(), self.dead.len(), &self.given_back) {
            (1, 0, None) => "retry",
            (0, 1, None) => "dead letter",
            (0, 0, Some(_)) => "give-back",
            _ => "split into retries and dead letters",
        }
    }
}

/// Writes the pieces in one engine call: a lone retry or dead letter as such (a retry keeps the
/// entry's key and its count of deliveries), anything else as one split, so either all of it
/// is written or, the lease lost, none of it.
async fn write_pieces(
    lane: &Lane,
    claimed: &Claimed,
    id: Option<EnvelopeId>,
    pieces: &Pieces,
) -> bool {
    let token = &claimed.token;
    match (&pieces.retries[..], &pieces.dead[..], &pieces.given_back) {
        ([retry], [], None) => {
            with_retries(lane, "retry", || {
                lane.engine.retry(token, &retry.payload, retry.not_before)
            })
            .await
        }
        ([], [dead], None) => {
            with_retries(lane, "dead-letter", || {
                lane.engine.dead_letter(token, &dead.payload, &dead.reason)
            })
            .await
        }
        _ => {
            let now = std::time::SystemTime::now();
            // The pieces keep the signal's id: receivers see the same `Delivery::id` on every
            // attempt, whichever entry carries it (`docs/wire-format.md`).
            let id = id.unwrap_or_default();
            let entries: Vec<Outgoing> =
                pieces
                    .retries
                    .iter()
                    .map(|r| Outgoing::new(id, r.payload.clone()).not_before(Some(r.not_before)))
                    .chain(pieces.given_back.iter().map(|g| {
                        Outgoing::new(id, g.payload.clone()).not_before(Some(now + g.delay))
                    }))
                    .collect();
            let dead: Vec<DeadLetter> = pieces
                .dead
                .iter()
                .map(|d| DeadLetter::new(d.payload.clone(), d.reason.clone()))
                .collect();
            with_retries(lane, "split", || lane.engine.split(token, &entries, &dead)).await
        }
    }
}

/// Counts, logs and describes pieces the engine took.
fn record(
    lane: &Lane,
    shared: &Shared,
    signal: &str,
    metric_signal: &str,
    id: &str,
    pieces: Pieces,
) -> SignalResult {
    let mut parts = Vec::new();
    for retry in pieces.retries {
        shared.metrics.record_retry(metric_signal, &retry.receiver);
        shared.totals.retried.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            queue = %lane.name,
            signal,
            id,
            receiver = %retry.receiver,
            attempt = retry.next_attempt,
            in_ms = retry.delay.as_millis() as u64,
            "receiver failed; retrying it"
        );
        parts.push(SignalResult::Retried {
            receivers: vec![retry.receiver],
            next_attempt: retry.next_attempt,
            delay: retry.delay,
        });
    }
    for dead in pieces.dead {
        shared
            .metrics
            .record_dead(metric_signal, dead.kind.as_str());
        shared.totals.dead.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            queue = %lane.name,
            signal,
            id,
            kind = dead.kind.as_str(),
            reason = %dead.reason,
            "dead-lettered"
        );
        parts.push(SignalResult::Dead {
            kind: dead.kind,
            reason: dead.reason,
        });
    }
    if let Some(back) = pieces.given_back {
        shared.metrics.record_given_back(&lane.name, back.unknown);
        shared
            .totals
            .given_back_unknown
            .fetch_add(1, Ordering::Relaxed);
        if let Some(n) = shared.unknown_warnings.note(&back.name) {
            let what = if back.unknown == "unknown_signal" {
                format!("signal `{}` is not linked into this worker", back.name)
            } else {
                format!(
                    "receivers {} are owed but not linked into this worker",
                    back.name
                )
            };
            tracing::warn!(
                queue = %lane.name,
                signal,
                given_back = n,
                "{what}: given back for a worker that has them (a rolling deploy?), {n} time(s) since the last warning; \
                 dead-lettered once `unknown_grace` has passed since the send"
            );
        }
        parts.push(SignalResult::GivenBack {
            unknown: back.unknown,
            delay: back.delay,
        });
    }
    if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        SignalResult::Split { parts }
    }
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
