//! The acker: acknowledgements of finished claims, batched into as few engine calls as
//! possible without waiting to fill a batch (an idle worker acks each signal at once).
//!
//! A claim keeps its slot until its acknowledgement is written, not merely queued: until then
//! the entry is still leased to this worker, and a worker that reused the slot at once would
//! hold up to twice `concurrency` leases, all of which a `kill -9` makes run again. The slots
//! of one batch are freed together, so the claim loop sees them all free at once and claims
//! them in one call (`claim_loop.rs`), as it did when they were freed one by one earlier.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use signalqueue::engine::ClaimToken;
use signalqueue::EnvelopeId;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::OwnedSemaphorePermit;

use crate::worker::backoff::engine_backoff;
use crate::worker::lease_loss;
use crate::worker::{Lane, Shared, SignalOutcome, SignalResult};

/// The most acknowledgements sent in one engine call.
pub(crate) const ACK_BATCH: usize = 256;

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
pub(crate) async fn run_acker(
    lane: Arc<Lane>,
    shared: Arc<Shared>,
    mut rx: UnboundedReceiver<AckItem>,
) {
    let mut batch = Vec::with_capacity(ACK_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        // Whatever finished while the last call was in flight goes in this one.
        while batch.len() < ACK_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let tokens: Vec<ClaimToken> = batch.iter().map(|i| i.token.clone()).collect();
        let mut backoff = engine_backoff();
        let answers = loop {
            match lane.engine.ack(&tokens).await {
                Ok(answers) => break answers,
                Err(e) => {
                    // Keep trying: the receivers ran, and a lost ack only means they run
                    // again after the lease expires. Shutdown bounds how long this may go on.
                    let wait = backoff.fail();
                    tracing::warn!(queue = %lane.name, error = %e, pending = tokens.len(), "cannot acknowledge; trying again in {} ms", wait.as_millis());
                    tokio::time::sleep(wait).await;
                }
            }
        };
        // One permit for the whole batch, dropped after the loop: the claim loop wakes once,
        // to every slot of the batch, rather than to the first of them.
        let mut slots: Option<OwnedSemaphorePermit> = None;
        for (item, accepted) in batch
            .drain(..)
            .zip(answers.into_iter().chain(std::iter::repeat(false)))
        {
            let held_since = lane.in_flight.remove(&item.token);
            match &mut slots {
                Some(all) => all.merge(item.slot),
                None => slots = Some(item.slot),
            }
            let result = if accepted {
                shared.metrics.record_handled(&item.signal);
                shared.totals.handled.fetch_add(1, Ordering::Relaxed);
                SignalResult::Handled
            } else {
                tracing::warn!(
                    queue = %lane.name,
                    signal = %item.signal,
                    id = %item.id.map_or_else(|| item.token.key.clone(), |i| i.to_string()),
                    "acknowledgement refused: {}, so the signal may run again elsewhere",
                    lease_loss::cause(held_since, lane.lease)
                );
                SignalResult::LeaseLost
            };
            shared.report(SignalOutcome {
                queue: lane.name.clone(),
                signal: item.signal,
                id: item.id,
                result,
            });
        }
        drop(slots);
    }
}
