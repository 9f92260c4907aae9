//! One queue's claim loop: waits for free slots, claims that many entries, and starts a task
//! for each. While the queue is busy, most claims are made by the acker instead, in the call
//! that acknowledges a finished batch, for that batch's slots (`ack.rs`). A claimed batch runs
//! in a few tasks, its entries concurrently within them (`start`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
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
        let batch = claimed
            .into_iter()
            .map(|c| {
                let permit = permits.pop().expect("never more claimed than slots held");
                (c, permit)
            })
            .collect();
        start(&lane, &shared, batch, &acks);
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

/// Starts handling a claimed batch, one slot per entry (from the claim loop, or from the acker
/// when it refills a finished batch's slots).
///
/// The entries run concurrently, each on its own, but in at most one task per runtime thread
/// rather than one task each: spawning and waking a task per entry was most of what a no-op
/// signal cost the worker (`docs/benchmarks.md`). A slow or blocked entry still holds only its
/// own slot (the task polls every entry as it is woken), each can be aborted alone at shutdown
/// (`InFlight::abort_running`), and a panic in the worker's own code ends only its entry.
pub(crate) fn start(
    lane: &Arc<Lane>,
    shared: &Arc<Shared>,
    batch: Vec<(Claimed, OwnedSemaphorePermit)>,
    acks: &UnboundedSender<AckItem>,
) {
    if batch.is_empty() {
        return;
    }
    let tasks = shared.threads.clamp(1, batch.len());
    let per_task = batch.len().div_ceil(tasks);
    let mut batch = batch.into_iter();
    loop {
        let entries: FuturesUnordered<_> = batch
            .by_ref()
            .take(per_task)
            .map(|(claimed, permit)| {
                let (abort, registration) = AbortHandle::new_pair();
                lane.in_flight.insert(claimed.token.clone(), abort);
                Abortable::new(
                    handle_entry(lane.clone(), shared.clone(), claimed, permit, acks.clone()),
                    registration,
                )
            })
            .collect();
        if entries.is_empty() {
            break;
        }
        // Tracked, so the drain can wait for every handling task (an aborted entry counts out
        // when its future is dropped, its task when every entry is done).
        shared.tasks.spawn(async move {
            let mut entries = entries;
            while entries.next().await.is_some() {}
        });
    }
}

/// Handles one claimed entry in its slot, until its outcome is written (or, for an
/// acknowledgement, handed to the acker).
async fn handle_entry(
    lane: Arc<Lane>,
    shared: Arc<Shared>,
    claimed: Claimed,
    permit: OwnedSemaphorePermit,
    acks: UnboundedSender<AckItem>,
) {
    // The slot goes to `settle` (and, for an acknowledgement, on to the acker); should this
    // entry be aborted or panic first, dropping it frees the slot.
    let slot = permit;
    let cx = Context {
        registry: shared.registry,
        settings: &shared.settings,
        metrics: &shared.metrics,
        queue: &lane.name,
        unknown_grace: lane.unknown_grace,
    };
    let work = async {
        // Receivers that send signals use the worker's queues, not a second runtime.
        let decision = shared.runtime.scope(handle(&claimed, &cx)).await;
        settle(&lane, &shared, &claimed, decision, &acks, slot).await;
    };
    // Receivers' panics are caught by the dispatcher; this catches the worker's own, so a bug
    // here cannot leave a claim renewed forever by an entry that is gone. The lease then
    // expires, and an entry that keeps doing this ends as poison.
    if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
        lane.in_flight.remove(&claimed.token);
        tracing::error!(
            queue = %lane.name,
            key = %claimed.token.key,
            "handling a signal panicked in the worker itself: {}; it comes back when its lease expires",
            signalqueue::__private::panic_message(panic.as_ref())
        );
    }
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
