//! Browsing the in-memory queue ([`Browse`]).
//!
//! Every read first makes due entries and ended leases claimable, as a claim and `counts` do,
//! so the sections always agree with the counts: an entry whose lease ran out is pending.
//! Sections are ordered by (time, key): pending by key (the order of enqueueing), scheduled by
//! due time, in flight by lease deadline, dead letters by the time they died. A page sorts the
//! section's keys, which is fine for a queue that lives in one process's memory.

use std::time::{Instant, SystemTime};

use async_trait::async_trait;

use super::{MemoryEngine, State};
use crate::engine::browse::Cursor;
use crate::engine::{
    consumer_id, Browse, Death, Engine, EngineError, Holder, Listed, Page, Section,
};

/// A place in a section's order: (the time or key it is ordered by, the key).
type Position = (u64, u64);

/// Nanoseconds since the Unix epoch: exact, so that two entries due in one millisecond keep
/// their order across a page boundary.
fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl State {
    /// The positions of every entry of `section`, unsorted.
    fn positions(&self, section: Section) -> Vec<Position> {
        match section {
            Section::Pending => self.ready.iter().map(|k| (*k, *k)).collect(),
            Section::Scheduled => self
                .scheduled
                .keys()
                .map(|(due, k)| (nanos(*due), *k))
                .collect(),
            Section::InFlight => self
                .in_flight
                .iter()
                .map(|(k, lease)| (nanos(lease.until_wall), *k))
                .collect(),
            Section::Dead => self
                .dead
                .iter()
                .map(|(k, d)| (nanos(d.died_at), *k))
                .collect(),
        }
    }

    /// The entry `key` as browsing shows it, if it is in `section`.
    fn listed(&self, section: Section, key: u64) -> Option<Listed> {
        if section == Section::Dead {
            let (_, d) = self.dead.iter().find(|(k, _)| *k == key)?;
            return Some(
                Listed::new(key.to_string(), d.payload.clone(), section)
                    .died(Death::new(d.reason.clone(), d.died_at)),
            );
        }
        let stored = self.entries.get(&key)?;
        let listed = Listed::new(key.to_string(), stored.payload.clone(), section)
            .deliveries(stored.deliveries);
        match section {
            Section::Pending => self.ready.contains(&key).then_some(listed),
            Section::Scheduled => self.scheduled_at(key).map(|due| listed.due(due)),
            Section::InFlight => self.in_flight.get(&key).map(|lease| {
                listed.held(Holder::new(lease.until_wall).by(consumer_id(), lease.since))
            }),
            Section::Dead => None,
        }
    }

    /// When the scheduled entry `key` is due (a scan: scheduled entries are ordered by time).
    fn scheduled_at(&self, key: u64) -> Option<SystemTime> {
        self.scheduled
            .keys()
            .find(|(_, k)| *k == key)
            .map(|(due, _)| *due)
    }

    /// Brings the sections up to date with the clocks, as a claim would.
    fn catch_up(&mut self) {
        self.promote(Instant::now(), SystemTime::now());
    }
}

/// The memory engine's keys are numbers; anything else names no entry.
fn keys(keys: &[String]) -> impl Iterator<Item = u64> + '_ {
    keys.iter().filter_map(|k| k.parse().ok())
}

#[async_trait]
impl Browse for MemoryEngine {
    async fn page(
        &self,
        section: Section,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        let after = match Cursor::parse_after(after, self.describe())? {
            Some(c) => Some((
                c.at,
                c.key.parse::<u64>().map_err(|_| EngineError::Failed {
                    engine: self.describe(),
                    message: format!("`{}` is not a key of this engine", c.key),
                })?,
            )),
            None => None,
        };
        let mut s = self.lock();
        s.catch_up();
        let mut positions: Vec<Position> = s
            .positions(section)
            .into_iter()
            .filter(|p| after.is_none_or(|a| *p > a))
            .collect();
        positions.sort_unstable();
        let more = positions.len() > limit;
        positions.truncate(limit);
        let next = more
            .then(|| positions.last())
            .flatten()
            .map(|(at, key)| Cursor::new(*at, key.to_string()).text());
        let entries = positions
            .iter()
            .filter_map(|(_, key)| s.listed(section, *key))
            .collect();
        Ok(Page::new(entries, next))
    }

    async fn find(&self, key: &str) -> Result<Option<Listed>, EngineError> {
        let Ok(key) = key.parse::<u64>() else {
            return Ok(None);
        };
        let mut s = self.lock();
        s.catch_up();
        Ok(Section::ALL
            .into_iter()
            .find_map(|section| s.listed(section, key)))
    }

    async fn delete(&self, section: Section, keys: &[String]) -> Result<u64, EngineError> {
        let mut s = self.lock();
        s.catch_up();
        let mut removed = 0;
        for key in self::keys(keys) {
            let found = match section {
                Section::Pending => match s.ready.iter().position(|k| *k == key) {
                    Some(at) => s.ready.remove(at).is_some(),
                    None => false,
                },
                Section::Scheduled => match s.scheduled_at(key) {
                    Some(due) => s.scheduled.remove(&(due, key)).is_some(),
                    None => false,
                },
                Section::Dead => match s.dead.iter().position(|(k, _)| *k == key) {
                    Some(at) => s.dead.remove(at).is_some(),
                    None => false,
                },
                // Its worker will ack, retry or release it: never removed under it.
                Section::InFlight => false,
            };
            if found {
                if section != Section::Dead {
                    s.entries.remove(&key);
                }
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn run_now(&self, keys: &[String]) -> Result<u64, EngineError> {
        let mut moved = 0;
        {
            let mut s = self.lock();
            s.catch_up();
            for key in self::keys(keys) {
                if let Some(due) = s.scheduled_at(key) {
                    s.scheduled.remove(&(due, key));
                    s.ready.push_back(key);
                    moved += 1;
                }
            }
        }
        if moved > 0 {
            self.arrived.notify_waiters();
        }
        Ok(moved)
    }
}
