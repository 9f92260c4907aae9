//! One queue's claim loop: waits for free slots, claims that many entries, and starts a task
//! for each. While the queue is busy, most claims are made by the acker instead, in the call
//! that acknowledges a finished batch, for that batch's slots (`ack.rs`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::FutureExt;
use signalqueue::engine::{ClaimToken, Claimed};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::OwnedSemaphorePermit;

use crate::worker::ack::AckItem;
use crate::worker::backoff::engine_backoff;
use crate::worker::handle::{handle, Context};
use crate::worker::settle::settle;
use crate::worker::{Lane, Shared};

/// The most entries asked for in one claim, however many slots are free.
pub(crate) const CLAIM_BATCH: usize = 256;

/// Claims and starts work on `lane` until the worker stops (or, when draining, until nothing
/// more is ready or the budget is spent). Never ends on an engine error.
pub(crate) async fn claim_loop(
    lane: Arc<Lane>,
    shared: Arc<Shared>,
    acks: UnboundedSender<AckItem>,
) {
    let mut backoff = engine_backoff();
    // After an empty claim the queue is idle: its next (blocking) claim holds one slot, not
    // every free one, so that an idle queue does not keep the slots from a busy one served by
    // the same worker while it waits. Once work shows up, claims size to the free slots again.
    // A queue starts out idle: at start-up nothing says it has work.
    let mut idle = true;
    loop {
        if shared.stop.is_stopped() {
            break;
        }
        let budget = lane
            .budget
            .as_ref()
            .map(|b| b.load(Ordering::SeqCst) as usize);
        if budget == Some(0) {
            break;
        }
        // A slot first: claiming more than can start at once would leave entries waiting under
        // lease, hidden from other workers that have room.
        let first = {
            let _waiting = Waiting::new(&lane, &shared);
            tokio::select! {
                permit = shared.permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = shared.stop.stopped() => break,
            }
        };
        let mut permits = vec![first];
        let most = if idle {
            1
        } else {
            budget.unwrap_or(CLAIM_BATCH).min(CLAIM_BATCH)
        };
        while permits.len() < most {
            match shared.permits.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }

        let claim = lane
            .engine
            .claim(permits.len(), lane.lease, shared.claim_wait);
        tokio::pin!(claim);
        // A claim is not cancelled on stop: an engine may have taken entries before the future
        // is dropped, which would then wait for their lease to expire. It finishes (within the
        // claim wait), and what it took is given back.
        let (result, stopping) = tokio::select! {
            r = &mut claim => (r, false),
            _ = shared.stop.stopped() => (claim.await, true),
        };
        let claimed = match result {
            Ok(c) => {
                backoff.reset();
                c
            }
            Err(e) => {
                let wait = backoff.fail();
                tracing::warn!(queue = %lane.name, error = %e, "cannot claim; trying again in {} ms", wait.as_millis());
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = shared.stop.stopped() => break,
                }
            }
        };
        if stopping || shared.stop.is_stopped() {
            give_back(&lane, claimed.iter().map(|c| c.token.clone()).collect()).await;
            break;
        }
        if let Some(b) = &lane.budget {
            b.fetch_sub(claimed.len() as u64, Ordering::SeqCst);
        }
        let nothing_ready = claimed.is_empty();
        idle = nothing_ready;
        for c in claimed {
            let permit = permits.pop().expect("never more claimed than slots held");
            start(&lane, &shared, c, permit, &acks);
        }
        if nothing_ready && lane.budget.is_some() {
            // Draining: nothing ready means done.
            break;
        }
    }
}

/// Marks a claim loop as waiting for a slot while it lives, so the ackers of other queues
/// leave their freed slots to it (`ack.rs`).
struct Waiting<'a> {
    lane: &'a Lane,
    shared: &'a Shared,
}

impl<'a> Waiting<'a> {
    fn new(lane: &'a Lane, shared: &'a Shared) -> Self {
        lane.waiting.store(true, Ordering::Relaxed);
        shared.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting { lane, shared }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.shared.waiting.fetch_sub(1, Ordering::Relaxed);
        self.lane.waiting.store(false, Ordering::Relaxed);
    }
}

/// Starts the task that handles one claimed entry, holding one slot (from the claim loop, or
/// from the acker when it refills a finished batch's slots).
pub(crate) fn start(
    lane: &Arc<Lane>,
    shared: &Arc<Shared>,
    claimed: Claimed,
    permit: OwnedSemaphorePermit,
    acks: &UnboundedSender<AckItem>,
) {
    let token = claimed.token.clone();
    lane.in_flight.insert(token.clone());
    let (lane2, shared2, acks) = (lane.clone(), shared.clone(), acks.clone());
    // Tracked, so the drain can wait for every handling task (an aborted one counts out when
    // it is dropped).
    let task = shared.tasks.spawn(async move {
        // The slot goes to `settle` (and, for an acknowledgement, on to the acker); should
        // this task be aborted or panic first, dropping it frees the slot.
        let slot = permit;
        let cx = Context {
            registry: shared2.registry,
            settings: &shared2.settings,
            metrics: &shared2.metrics,
            queue: &lane2.name,
            unknown_grace: lane2.unknown_grace,
        };
        let work = async {
            // Receivers that send signals use the worker's queues, not a second runtime.
            let decision = shared2.runtime.scope(handle(&claimed, &cx)).await;
            settle(&lane2, &shared2, &claimed, decision, &acks, slot).await;
        };
        // Receivers' panics are caught by the dispatcher; this catches the worker's own, so a
        // bug here cannot leave a claim renewed forever by a task that is gone. The lease then
        // expires, and an entry that keeps doing this ends as poison.
        if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
            lane2.in_flight.remove(&claimed.token);
            tracing::error!(
                queue = %lane2.name,
                key = %claimed.token.key,
                "handling a signal panicked in the worker itself: {}; it comes back when its lease expires",
                signalqueue::__private::panic_message(panic.as_ref())
            );
        }
    });
    lane.in_flight.set_abort(&token, task.abort_handle());
}

/// Releases claims unfinished, so they are claimable again at once.
pub(crate) async fn give_back(lane: &Lane, tokens: Vec<ClaimToken>) -> usize {
    if tokens.is_empty() {
        return 0;
    }
    let mut backoff = engine_backoff();
    // A few tries only: this runs at shutdown, and an unreleased claim still comes back when
    // its lease expires.
    for _ in 0..3 {
        match lane.engine.release(&tokens).await {
            Ok(()) => return tokens.len(),
            Err(e) => {
                tracing::warn!(queue = %lane.name, error = %e, "cannot give back {} claims", tokens.len());
                tokio::time::sleep(backoff.fail()).await;
            }
        }
    }
    tracing::error!(queue = %lane.name, "gave up giving back {} claims; they come back when their leases expire", tokens.len());
    0
}
