//! `memory://NAME`: an in-process engine for tests and single-process apps.
//!
//! It keeps the whole engine contract (leases, fences, retries, dead letters) so that code
//! tested against it behaves the same on a durable engine; it only forgets everything when the
//! process exits. Engines are shared by name within a process: two `memory://jobs` URLs open the
//! same queue, so a sender and an embedded worker meet.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::engine::ticks::TICKS_KEPT;
use crate::engine::{
    unix_ms, Beat, Browse, ClaimToken, Claimed, Counts, DeadEntry, DeadLetter, Engine, EngineError,
    EngineOptions, Entry, Heartbeats, Outgoing, SharedEngine, Ticks,
};

mod browse;

/// The in-memory engine. Open one with `memory://NAME` or [`MemoryEngine::new`].
pub struct MemoryEngine {
    name: String,
    options: EngineOptions,
    state: Mutex<State>,
    arrived: Notify,
}

#[derive(Default)]
struct State {
    next_key: u64,
    next_fence: u64,
    /// Entries by key.
    entries: HashMap<u64, Stored>,
    /// Keys ready to claim, oldest first.
    ready: VecDeque<u64>,
    /// Keys waiting for a time (retries, delayed sends), by (time, key).
    scheduled: BTreeMap<(SystemTime, u64), ()>,
    /// Claimed keys with their leases.
    in_flight: HashMap<u64, Lease>,
    dead: VecDeque<(u64, DeadEntry)>,
    /// The ticks of periodic signals enqueued, by schedule: the latest [`TICKS_KEPT`] of each.
    ticks: HashMap<String, BTreeSet<u64>>,
    /// Workers' heartbeats: worker -> (what it said, when the beat expires).
    beats: HashMap<String, (Vec<u8>, Instant)>,
}

struct Stored {
    payload: Vec<u8>,
    deliveries: u32,
}

/// One claim of an entry.
struct Lease {
    /// When the lease ends, for expiry (immune to wall-clock jumps).
    until: Instant,
    /// The fence of the claim.
    fence: u64,
    /// When the lease ends and when the claim was made, on the wall clock, for browsing. The
    /// holder is always this process ([`consumer_id`]): the queue lives in its memory.
    until_wall: SystemTime,
    since: SystemTime,
}

impl Lease {
    fn new(fence: u64, lease: Duration, now: Instant, wall: SystemTime) -> Lease {
        Lease {
            until: now + lease,
            fence,
            until_wall: wall + lease,
            since: wall,
        }
    }
}

impl MemoryEngine {
    /// A new, private in-memory engine.
    pub fn new(options: EngineOptions) -> Arc<MemoryEngine> {
        Arc::new(MemoryEngine {
            name: String::new(),
            options,
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
        })
    }

    /// The process-wide engine called `name` (created on first use).
    pub fn named(name: &str, options: EngineOptions) -> SharedEngine {
        static ALL: OnceLock<Mutex<HashMap<String, Arc<MemoryEngine>>>> = OnceLock::new();
        let mut all = ALL.get_or_init(Default::default).lock().expect("poisoned");
        let key = format!("{name}/{}", options.queue);
        all.entry(key)
            .or_insert_with(|| {
                let mut engine = MemoryEngine::new(options);
                Arc::get_mut(&mut engine).expect("fresh").name = name.to_string();
                engine
            })
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written in a way that
        // matters more than losing the process's queue, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// Adds one entry: ready now, or waiting with the retries for its due time.
    fn push(&mut self, item: &Outgoing, now: SystemTime) {
        let key = self.next_key;
        self.next_key += 1;
        self.entries.insert(
            key,
            Stored {
                payload: item.payload.clone(),
                deliveries: 0,
            },
        );
        // A delayed send waits with the retries, by due time; a claim naps at most 50 ms, so
        // it is claimed within that of its time.
        match item.delayed_until(now) {
            Some(due) => {
                self.scheduled.insert((due, key), ());
            }
            None => self.ready.push_back(key),
        }
    }

    /// Makes due retries and expired leases claimable again.
    fn promote(&mut self, now: Instant, wall: SystemTime) {
        let due: Vec<(SystemTime, u64)> = self
            .scheduled
            .range(..=(wall, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            self.scheduled.remove(&k);
            self.ready.push_back(k.1);
        }
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, lease)| lease.until <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            self.in_flight.remove(&k);
            // Expired claims go first: they are the oldest work.
            self.ready.push_front(k);
        }
    }

    /// Ends a claim if `token` still owns it.
    fn take_claim(&mut self, token: &ClaimToken, now: Instant) -> Option<u64> {
        let key: u64 = token.key.parse().ok()?;
        match self.in_flight.get(&key) {
            Some(lease) if lease.fence == token.fence && lease.until > now => {
                self.in_flight.remove(&key);
                Some(key)
            }
            _ => None,
        }
    }

    /// Adds one dead letter under a fresh key.
    fn bury(&mut self, payload: &[u8], reason: &str) {
        let key = self.next_key;
        self.next_key += 1;
        self.dead.push_back((
            key,
            DeadEntry {
                key: key.to_string(),
                payload: payload.to_vec(),
                reason: reason.to_string(),
                died_at: SystemTime::now(),
            },
        ));
    }

    fn trim_dead(&mut self, options: &EngineOptions) {
        let oldest_allowed = SystemTime::now()
            .checked_sub(options.dead_ttl)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        while self.dead.len() as u64 > options.dead_max
            || self
                .dead
                .front()
                .is_some_and(|(_, d)| d.died_at < oldest_allowed)
        {
            self.dead.pop_front();
        }
    }
}

#[async_trait]
impl Engine for MemoryEngine {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn describe(&self) -> String {
        format!("memory://{}", self.name)
    }

    fn ticks(&self) -> Option<&dyn Ticks> {
        Some(self)
    }

    fn heartbeats(&self) -> Option<&dyn Heartbeats> {
        Some(self)
    }

    fn browse(&self) -> Option<&dyn Browse> {
        Some(self)
    }

    async fn ping(&self) -> Result<(), EngineError> {
        Ok(())
    }

    async fn enqueue(&self, batch: &[Outgoing]) -> Result<(), EngineError> {
        if batch.is_empty() {
            return Ok(());
        }
        {
            let now = SystemTime::now();
            let mut s = self.lock();
            for item in batch {
                s.push(item, now);
            }
        }
        self.arrived.notify_waiters();
        Ok(())
    }

    async fn claim(
        &self,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Claimed>, EngineError> {
        let deadline = Instant::now() + wait;
        loop {
            // Register interest before looking, so an enqueue between the look and the wait
            // still wakes us.
            let notified = self.arrived.notified();
            {
                let now = Instant::now();
                let wall = SystemTime::now();
                let mut s = self.lock();
                s.promote(now, wall);
                let mut out = Vec::new();
                while out.len() < max {
                    let Some(key) = s.ready.pop_front() else {
                        break;
                    };
                    s.next_fence += 1;
                    let fence = s.next_fence;
                    s.in_flight.insert(key, Lease::new(fence, lease, now, wall));
                    let stored = s.entries.get_mut(&key).expect("ready key has an entry");
                    stored.deliveries += 1;
                    out.push(Claimed {
                        token: ClaimToken {
                            key: key.to_string(),
                            fence,
                        },
                        payload: stored.payload.clone(),
                        deliveries: stored.deliveries,
                    });
                }
                if !out.is_empty() {
                    return Ok(out);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            // Wake for new entries, or in time for the next retry or lease expiry.
            let nap = (deadline - now).min(Duration::from_millis(50));
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn renew(
        &self,
        tokens: &[ClaimToken],
        lease: Duration,
    ) -> Result<Vec<bool>, EngineError> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut s = self.lock();
        Ok(tokens
            .iter()
            .map(|t| {
                let Ok(key) = t.key.parse::<u64>() else {
                    return false;
                };
                match s.in_flight.get_mut(&key) {
                    Some(held) if held.fence == t.fence && held.until > now => {
                        held.until = now + lease;
                        held.until_wall = wall + lease;
                        true
                    }
                    _ => false,
                }
            })
            .collect())
    }

    async fn ack(&self, tokens: &[ClaimToken]) -> Result<Vec<bool>, EngineError> {
        let now = Instant::now();
        let mut s = self.lock();
        Ok(tokens
            .iter()
            .map(|t| match s.take_claim(t, now) {
                Some(key) => {
                    s.entries.remove(&key);
                    true
                }
                None => false,
            })
            .collect())
    }

    async fn retry(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        not_before: SystemTime,
    ) -> Result<bool, EngineError> {
        let mut s = self.lock();
        let Some(key) = s.take_claim(token, Instant::now()) else {
            return Ok(false);
        };
        if let Some(stored) = s.entries.get_mut(&key) {
            stored.payload = payload.to_vec();
        }
        s.scheduled.insert((not_before, key), ());
        drop(s);
        self.arrived.notify_waiters();
        Ok(true)
    }

    async fn dead_letter(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        reason: &str,
    ) -> Result<bool, EngineError> {
        let mut s = self.lock();
        let Some(key) = s.take_claim(token, Instant::now()) else {
            return Ok(false);
        };
        s.entries.remove(&key);
        s.dead.push_back((
            key,
            DeadEntry {
                key: key.to_string(),
                payload: payload.to_vec(),
                reason: reason.to_string(),
                died_at: SystemTime::now(),
            },
        ));
        s.trim_dead(&self.options);
        Ok(true)
    }

    async fn split(
        &self,
        token: &ClaimToken,
        entries: &[Outgoing],
        dead: &[DeadLetter],
    ) -> Result<bool, EngineError> {
        let now = SystemTime::now();
        let mut s = self.lock();
        let Some(key) = s.take_claim(token, Instant::now()) else {
            return Ok(false);
        };
        s.entries.remove(&key);
        for entry in entries {
            s.push(entry, now);
        }
        for d in dead {
            s.bury(&d.payload, &d.reason);
        }
        s.trim_dead(&self.options);
        drop(s);
        self.arrived.notify_waiters();
        Ok(true)
    }

    async fn release(&self, tokens: &[ClaimToken]) -> Result<(), EngineError> {
        let now = Instant::now();
        let mut s = self.lock();
        for t in tokens {
            if let Some(key) = s.take_claim(t, now) {
                if let Some(stored) = s.entries.get_mut(&key) {
                    // A release is not a failed delivery.
                    stored.deliveries = stored.deliveries.saturating_sub(1);
                }
                s.ready.push_front(key);
            }
        }
        drop(s);
        self.arrived.notify_waiters();
        Ok(())
    }

    async fn counts(&self) -> Result<Counts, EngineError> {
        let mut s = self.lock();
        // Due entries and ended leases are claimable: counted (and browsed) as pending.
        s.promote(Instant::now(), SystemTime::now());
        s.trim_dead(&self.options);
        Ok(Counts {
            pending: s.ready.len() as u64,
            scheduled: s.scheduled.len() as u64,
            in_flight: s.in_flight.len() as u64,
            dead: s.dead.len() as u64,
        })
    }

    async fn pending(&self, limit: usize) -> Result<Vec<Entry>, EngineError> {
        let s = self.lock();
        let keys = s
            .ready
            .iter()
            .copied()
            .chain(s.scheduled.keys().map(|k| k.1));
        Ok(keys
            .take(limit)
            .filter_map(|k| {
                s.entries.get(&k).map(|e| Entry {
                    key: k.to_string(),
                    payload: e.payload.clone(),
                })
            })
            .collect())
    }

    async fn dead(&self, limit: usize) -> Result<Vec<DeadEntry>, EngineError> {
        let mut s = self.lock();
        s.trim_dead(&self.options);
        Ok(s.dead.iter().take(limit).map(|(_, d)| d.clone()).collect())
    }

    async fn purge_pending(&self) -> Result<u64, EngineError> {
        let mut s = self.lock();
        let scheduled = std::mem::take(&mut s.scheduled);
        let keys: Vec<u64> = s
            .ready
            .drain(..)
            .chain(scheduled.into_keys().map(|k| k.1))
            .collect();
        for k in &keys {
            s.entries.remove(k);
        }
        Ok(keys.len() as u64)
    }

    async fn purge_dead(&self) -> Result<u64, EngineError> {
        let mut s = self.lock();
        let n = s.dead.len() as u64;
        s.dead.clear();
        Ok(n)
    }

    async fn replay_dead(&self, keys: Option<&[String]>) -> Result<u64, EngineError> {
        let mut s = self.lock();
        let dead = std::mem::take(&mut s.dead);
        let mut replayed = 0;
        for (key, d) in dead {
            if keys.is_none_or(|ks| ks.contains(&d.key)) {
                s.entries.insert(
                    key,
                    Stored {
                        payload: d.payload,
                        deliveries: 0,
                    },
                );
                s.ready.push_back(key);
                replayed += 1;
            } else {
                s.dead.push_back((key, d));
            }
        }
        drop(s);
        self.arrived.notify_waiters();
        Ok(replayed)
    }
}

#[async_trait]
impl Ticks for MemoryEngine {
    async fn enqueue_tick(
        &self,
        schedule: &str,
        tick: SystemTime,
        entry: &Outgoing,
    ) -> Result<bool, EngineError> {
        let tick = unix_ms(tick);
        {
            let mut s = self.lock();
            let kept = s.ticks.entry(schedule.to_string()).or_default();
            // Older than every tick kept, with the record full: it may be one that was dropped,
            // so it is refused rather than risk enqueueing it twice.
            let too_old =
                kept.len() as u64 >= TICKS_KEPT && kept.first().is_some_and(|t| tick < *t);
            if too_old || !kept.insert(tick) {
                return Ok(false);
            }
            while kept.len() as u64 > TICKS_KEPT {
                kept.pop_first();
            }
            s.push(entry, SystemTime::now());
        }
        self.arrived.notify_waiters();
        Ok(true)
    }

    async fn last_tick(&self, schedule: &str) -> Result<Option<SystemTime>, EngineError> {
        let s = self.lock();
        Ok(s.ticks
            .get(schedule)
            .and_then(|kept| kept.last())
            .map(|t| crate::engine::from_unix_ms(*t)))
    }
}

#[async_trait]
impl Heartbeats for MemoryEngine {
    async fn beat(&self, worker: &str, info: &[u8], ttl: Duration) -> Result<(), EngineError> {
        let now = Instant::now();
        let mut s = self.lock();
        s.beats.retain(|_, (_, until)| *until > now);
        s.beats
            .insert(worker.to_string(), (info.to_vec(), now + ttl));
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<Beat>, EngineError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .beats
            .iter()
            .filter(|(_, (_, until))| *until > now)
            .map(|(worker, (info, _))| Beat {
                worker: worker.clone(),
                info: info.clone(),
            })
            .collect())
    }

    async fn leave(&self, worker: &str) -> Result<(), EngineError> {
        self.lock().beats.remove(worker);
        Ok(())
    }
}
