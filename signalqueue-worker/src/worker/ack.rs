//! The acker: acknowledgements of finished claims, batched into as few engine calls as
//! possible without waiting to fill a batch (an idle worker acks each signal at once).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use signalqueue::engine::ClaimToken;
use signalqueue::EnvelopeId;
use tokio::sync::mpsc::UnboundedReceiver;

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
        for (item, accepted) in batch
            .drain(..)
            .zip(answers.into_iter().chain(std::iter::repeat(false)))
        {
            let held_since = lane.in_flight.remove(&item.token);
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
    }
}
