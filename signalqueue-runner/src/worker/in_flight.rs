//! The claims one queue's worker holds: what the lease renewer renews and what shutdown gives
//! back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use futures_util::future::AbortHandle;
use signalqueue::engine::ClaimToken;

/// Where a claim is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Its receivers run (or its retry or dead letter is being written).
    Running,
    /// Done; its acknowledgement waits in the acker's batch. Still renewed, never released.
    Acking,
}

#[derive(Debug)]
struct Slot {
    stage: Stage,
    /// The renewer found the lease gone: renewing it again is pointless.
    lost: bool,
    /// Its outcome (retry or dead letter) is being written: a renewal may find the lease
    /// already gone because that write landed, which is the end of the claim, not a loss.
    settling: bool,
    abort: Option<AbortHandle>,
    /// When the lease was last known to hold: the claim, then each renewal the engine
    /// accepted; tells a lease that ran out from one the engine lost (`lease_loss.rs`).
    held_since: Instant,
}

/// One queue's claims, by token.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    slots: Mutex<HashMap<ClaimToken, Slot>>,
    /// How many of them are [`Stage::Running`]; changed under the lock, read without it.
    running: AtomicUsize,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<ClaimToken, Slot>> {
        // A panic under this lock leaves a map of plain values: still usable.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A claim was just made; `abort` ends its handling (shutdown may need to).
    pub(crate) fn insert(&self, token: ClaimToken, abort: AbortHandle) {
        let mut slots = self.lock();
        let before = slots.insert(
            token,
            Slot {
                stage: Stage::Running,
                lost: false,
                settling: false,
                abort: Some(abort),
                held_since: Instant::now(),
            },
        );
        self.count_out(before.as_ref());
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts out a slot that left the map, or left [`Stage::Running`].
    fn count_out(&self, slot: Option<&Slot>) {
        if slot.is_some_and(|s| s.stage == Stage::Running) {
            self.running.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The engine accepted a renewal of `token` asked for at `asked`.
    pub(crate) fn renewed(&self, token: &ClaimToken, asked: Instant) {
        if let Some(slot) = self.lock().get_mut(token) {
            slot.held_since = slot.held_since.max(asked);
        }
    }

    /// When `token`'s lease was last known to hold.
    pub(crate) fn held_since(&self, token: &ClaimToken) -> Option<Instant> {
        self.lock().get(token).map(|slot| slot.held_since)
    }

    /// The claim's work is done; only its acknowledgement is left.
    pub(crate) fn acking(&self, token: &ClaimToken) {
        if let Some(slot) = self.lock().get_mut(token) {
            self.count_out(Some(slot));
            slot.stage = Stage::Acking;
            slot.abort = None;
        }
    }

    /// The claim's retry or dead letter is about to be written.
    pub(crate) fn settling(&self, token: &ClaimToken) {
        if let Some(slot) = self.lock().get_mut(token) {
            slot.settling = true;
        }
    }

    /// The claim is finished (acknowledged, retried, dead-lettered or released); returns when
    /// its lease was last known to hold.
    pub(crate) fn remove(&self, token: &ClaimToken) -> Option<Instant> {
        let slot = self.lock().remove(token);
        self.count_out(slot.as_ref());
        slot.map(|slot| slot.held_since)
    }

    /// The tokens whose leases are still worth renewing.
    pub(crate) fn renewable(&self) -> Vec<ClaimToken> {
        self.lock()
            .iter()
            .filter(|(_, s)| !s.lost)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// The engine said this lease is gone. Returns whether the claim was lost while its
    /// receivers still ran. A renewal races with the claim's own outcome: the list of claims to
    /// renew is taken, then the ack, retry or dead letter of one of them lands before the
    /// renewal does, which finds that lease gone. Such a claim is finished, not lost (and were
    /// its lease really lost, the engine's refusal of that outcome says so), so the answer is
    /// `false` for a claim whose outcome is being written or was written already.
    pub(crate) fn mark_lost(&self, token: &ClaimToken) -> bool {
        match self.lock().get_mut(token) {
            Some(slot) => {
                slot.lost = true;
                slot.stage == Stage::Running && !slot.settling
            }
            None => false,
        }
    }

    /// Takes every claim whose work is unfinished, aborting its task: what shutdown releases.
    pub(crate) fn abort_running(&self) -> Vec<ClaimToken> {
        let mut slots = self.lock();
        let running: Vec<ClaimToken> = slots
            .iter()
            .filter(|(_, s)| s.stage == Stage::Running)
            .map(|(t, _)| t.clone())
            .collect();
        for token in &running {
            if let Some(slot) = slots.remove(token) {
                self.count_out(Some(&slot));
                if let Some(abort) = slot.abort {
                    abort.abort();
                }
            }
        }
        running
    }

    /// How many claims' work is unfinished (read without the lock: a moment's count).
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
