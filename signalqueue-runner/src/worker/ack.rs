//! The acker: acknowledgements of finished claims, batched into as few engine calls as
//! possible without waiting to fill a batch (an idle worker acks each signal at once).
//!
//! A claim keeps its slot until its acknowledgement is written, not merely queued: until then
//! the entry is still leased to this worker, and a worker that reused the slot at once would
//! hold up to twice `concurrency` leases, all of which a `kill -9` makes run again. The slots
//! of one batch are refilled in the engine call that acknowledges it, or freed together, so the
//! claim loop sees them all free at once and claims them in one call (`claim_loop.rs`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use signalqueue::engine::{ClaimToken, Claimed};
use signalqueue::EnvelopeId;
use tokio::sync::mpsc::{UnboundedReceiver, WeakUnboundedSender};
use tokio::sync::OwnedSemaphorePermit;

use crate::worker::backoff::engine_backoff;
use crate::worker::claim_loop::{give_back, start};
use crate::worker::lease_loss;
use crate::worker::{Lane, Shared, SignalOutcome, SignalResult};

/// The most acknowledgements sent in one engine call.
pub(crate) const ACK_BATCH: usize = 256;

/// How many acknowledgement calls of one queue may be at the engine at once.
const CALLS_IN_FLIGHT: usize = 2;

/// A claim whose receivers all succeeded.
#[derive(Debug)]
pub(crate) struct AckItem {
    pub(crate) token: ClaimToken,
    pub(crate) signal: String,
    pub(crate) id: Option<EnvelopeId>,
    /// The claim's slot, freed once the engine answered for its acknowledgement.
    pub(crate) slot: OwnedSemaphorePermit,
}

/// Acknowledges what arrives on `rx` until every sender is gone and the channel is empty.
///
/// While the queue is busy, the slots of an acknowledged batch are refilled in the same engine
/// call ([`Engine::ack_and_claim`](signalqueue::engine::Engine::ack_and_claim)): the
/// acknowledgements are written, then as many entries claimed as the batch held slots, and
/// each starts at once in one of them. So the next claim no longer waits a round trip for the
/// previous acknowledgement, and the worker still never holds more leases than slots. The
/// claim loop (`claim_loop.rs`) claims only for slots freed otherwise: at start, after a
/// retry or a dead letter, and when a refill found too few entries.
pub(crate) async fn run_acker(
    lane: Arc<Lane>,
    shared: Arc<Shared>,
    mut rx: UnboundedReceiver<AckItem>,
    acks: WeakUnboundedSender<AckItem>,
) {
    let mut calls = tokio::task::JoinSet::new();
    let mut open = true;
    while open {
        let first = if calls.is_empty() {
            rx.recv().await
        } else {
            tokio::select! {
                item = rx.recv() => item,
                _ = calls.join_next() => continue,
            }
        };
        let Some(first) = first else { break };
        let mut batch = Vec::with_capacity(ACK_BATCH);
        batch.push(first);
        // Whatever finished while the last call was in flight goes in this one.
        take_ready(&mut rx, &mut batch);
        // While a call is at the engine, a batch sent now would only wait behind it there, and
        // take a call of its own for a few entries: it gathers instead, until this worker has
        // nothing of the queue still running (every entry it holds is done) or that call
        // answers. So a busy queue's two calls each carry about half its slots, rather than
        // one nearly all of them and the other a few, which made the worker and the engine
        // take turns. An acknowledgement waits at most one round trip more, as it did when
        // both calls were at the engine.
        while !calls.is_empty() && batch.len() < ACK_BATCH && lane.in_flight.running() > 0 {
            tokio::select! {
                item = rx.recv() => match item {
                    Some(item) => {
                        batch.push(item);
                        take_ready(&mut rx, &mut batch);
                    }
                    None => open = false,
                },
                _ = calls.join_next() => {}
            }
            if !open {
                break;
            }
        }
        calls.spawn(finish(lane.clone(), shared.clone(), batch, acks.clone()));
        // Two calls at once: one at the engine while the worker handles what the other
        // claimed, so neither side waits for the other.
        while calls.len() >= CALLS_IN_FLIGHT {
            let _ = calls.join_next().await;
        }
    }
    while calls.join_next().await.is_some() {}
}

/// Moves what already waits on `rx` into `batch`, up to [`ACK_BATCH`].
fn take_ready(rx: &mut UnboundedReceiver<AckItem>, batch: &mut Vec<AckItem>) {
    while batch.len() < ACK_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
}

/// Acknowledges one batch, refilling its slots when the queue is busy.
async fn finish(
    lane: Arc<Lane>,
    shared: Arc<Shared>,
    batch: Vec<AckItem>,
    acks: WeakUnboundedSender<AckItem>,
) {
    let mut tokens = Vec::with_capacity(batch.len());
    let mut done = Vec::with_capacity(batch.len());
    // One permit for the whole batch: what is not refilled is freed at once, so the claim
    // loop wakes once, to every slot of the batch, rather than to the first of them.
    let mut slots: Option<OwnedSemaphorePermit> = None;
    for item in batch {
        tokens.push(item.token);
        done.push((item.signal, item.id));
        match &mut slots {
            Some(all) => all.merge(item.slot),
            None => slots = Some(item.slot),
        }
    }
    let mut slots = slots.expect("a batch is never empty");
    let refill = if may_refill(&lane, &shared) {
        acks.upgrade()
    } else {
        None
    };
    let (answers, claimed) = acknowledge(
        &lane,
        &tokens,
        refill.as_ref().map_or(0, |_| slots.num_permits()),
    )
    .await;
    for ((token, (signal, id)), accepted) in tokens
        .into_iter()
        .zip(done)
        .zip(answers.into_iter().chain(std::iter::repeat(false)))
    {
        let held_since = lane.in_flight.remove(&token);
        let result = if accepted {
            shared.metrics.record_handled(&signal);
            shared.totals.handled.fetch_add(1, Ordering::Relaxed);
            SignalResult::Handled
        } else {
            tracing::warn!(
                queue = %lane.name,
                signal = %signal,
                id = %id.map_or_else(|| token.key.clone(), |i| i.to_string()),
                "acknowledgement refused: {}, so the signal may run again elsewhere",
                lease_loss::cause(held_since, lane.lease)
            );
            SignalResult::LeaseLost
        };
        shared.report_with(|| SignalOutcome {
            queue: lane.name.clone(),
            signal,
            id,
            result,
        });
    }
    if !claimed.is_empty() {
        if shared.stop.is_stopped() {
            // The stop came while the claim was on its way: what it took goes back.
            give_back(&lane, claimed.iter().map(|c| c.token.clone()).collect()).await;
        } else if let Some(acks) = &refill {
            let batch = claimed
                .into_iter()
                .map(|c| {
                    let slot = slots.split(1).expect("never more claimed than slots held");
                    (c, slot)
                })
                .collect();
            start(&lane, &shared, batch, acks);
        }
    }
    drop(slots);
}

/// Whether a finished batch's slots may take new entries of this queue at once: not once the
/// worker stops, nor when draining a counted budget (`dequeue`, whose claim loop counts what
/// it takes), nor while another queue's claim loop waits for a slot (it gets these instead,
/// so a busy queue cannot keep every slot from the others).
fn may_refill(lane: &Lane, shared: &Shared) -> bool {
    let own = usize::from(lane.waiting.load(Ordering::Relaxed));
    !shared.stop.is_stopped()
        && lane.budget.is_none()
        && shared.waiting.load(Ordering::Relaxed) <= own
}

/// Writes the acknowledgements of `tokens` (and, when `refill` is not 0, claims up to that
/// many entries in the same call): the engine's answer per token, and what was claimed.
/// Keeps trying while the engine fails: the receivers ran, and a lost ack only means they run
/// again after the lease expires. Shutdown bounds how long this may go on.
async fn acknowledge(
    lane: &Lane,
    tokens: &[ClaimToken],
    refill: usize,
) -> (Vec<bool>, Vec<Claimed>) {
    let mut backoff = engine_backoff();
    if refill > 0 {
        match lane.engine.ack_and_claim(tokens, refill, lane.lease).await {
            Ok(both) => {
                let claimed = both.claimed.unwrap_or_else(|e| {
                    // The slots go back to the claim loop, which backs off on its own errors.
                    tracing::warn!(queue = %lane.name, error = %e, "cannot claim after acknowledging");
                    Vec::new()
                });
                return (both.acked, claimed);
            }
            Err(e) => {
                // Acknowledged or not, nothing was claimed: plain acknowledgements from here.
                let wait = backoff.fail();
                tracing::warn!(queue = %lane.name, error = %e, pending = tokens.len(), "cannot acknowledge; trying again in {} ms", wait.as_millis());
                tokio::time::sleep(wait).await;
            }
        }
    }
    loop {
        match lane.engine.ack(tokens).await {
            Ok(answers) => return (answers, Vec::new()),
            Err(e) => {
                let wait = backoff.fail();
                tracing::warn!(queue = %lane.name, error = %e, pending = tokens.len(), "cannot acknowledge; trying again in {} ms", wait.as_millis());
                tokio::time::sleep(wait).await;
            }
        }
    }
}
