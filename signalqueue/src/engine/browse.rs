//! Browsing a queue entry by entry, for the console and the command line: every section of the
//! queue page by page, one entry by key, and what an operator does to chosen entries (delete
//! them, run a scheduled one now).
//!
//! An extension of [`Engine`](crate::engine::Engine) rather than more required methods, as
//! [`Ticks`](crate::engine::Ticks) and [`Heartbeats`](crate::engine::Heartbeats) are: an engine
//! that cannot browse still queues signals, and its console shows counts only.
//!
//! The engine knows where an entry is and when it is due; it does not decode envelopes. What
//! the console shows beyond that (signal, sender, attempt, the errors so far) and the filters
//! by signal, sender or id are read from the envelope by the caller, page after page.

use std::time::SystemTime;

use async_trait::async_trait;

use crate::engine::EngineError;

/// Where an entry is in its queue. Every entry is in exactly one section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Section {
    /// Claimable now, oldest first.
    Pending,
    /// Waiting for a time in the future: delayed sends and retries (an envelope's attempt tells
    /// them apart), by due time.
    Scheduled,
    /// Claimed by a worker whose lease has not run out, by lease deadline. An entry whose lease
    /// ran out is claimable again by anyone, so it is pending, as `counts` counts it.
    InFlight,
    /// Dead letters, oldest first.
    Dead,
}

impl Section {
    /// Every section, in the console's order.
    pub const ALL: [Section; 4] = [
        Section::Pending,
        Section::Scheduled,
        Section::InFlight,
        Section::Dead,
    ];

    /// The section's name in URLs and JSON (`pending`, `scheduled`, `in_flight`, `dead`).
    pub fn name(self) -> &'static str {
        match self {
            Section::Pending => "pending",
            Section::Scheduled => "scheduled",
            Section::InFlight => "in_flight",
            Section::Dead => "dead",
        }
    }

    /// The section named `name` (as [`Section::name`] spells it).
    pub fn from_name(name: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Who holds an in-flight entry, since when, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holder {
    /// The claiming process ([`consumer_id`](crate::engine::consumer_id)), when the engine
    /// recorded it.
    pub worker: Option<String>,
    /// When the current claim was made, when the engine recorded it.
    pub since: Option<SystemTime>,
    /// When the lease runs out unless renewed.
    pub lease_until: SystemTime,
}

impl Holder {
    /// A claim whose lease runs until `lease_until`, holder and start unknown.
    pub fn new(lease_until: SystemTime) -> Holder {
        Holder {
            worker: None,
            since: None,
            lease_until,
        }
    }

    /// The same claim, held by `worker` since `since`.
    pub fn by(mut self, worker: impl Into<String>, since: SystemTime) -> Holder {
        self.worker = Some(worker.into());
        self.since = Some(since);
        self
    }
}

/// Why and when a dead letter died.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Death {
    /// Why it died, for people.
    pub reason: String,
    /// When it was dead-lettered.
    pub died_at: SystemTime,
}

impl Death {
    /// A death for `reason` at `died_at`.
    pub fn new(reason: impl Into<String>, died_at: SystemTime) -> Death {
        Death {
            reason: reason.into(),
            died_at,
        }
    }
}

/// One entry as browsing sees it, removing nothing.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Listed {
    /// The engine's key for the entry: what [`Browse::find`], [`Browse::delete`],
    /// [`Browse::run_now`] and `replay_dead` take. Stable while the entry stays in its section.
    pub key: String,
    /// The stored bytes, exactly as the engine holds them.
    pub payload: Vec<u8>,
    /// Where the entry is.
    pub section: Section,
    /// When a scheduled entry is due (the next try, for a retry).
    pub due: Option<SystemTime>,
    /// Who holds an in-flight entry.
    pub holder: Option<Holder>,
    /// Why a dead letter died.
    pub death: Option<Death>,
    /// How many times the entry was claimed (this claim included, when in flight), where the
    /// engine counts it.
    pub deliveries: Option<u32>,
}

impl Listed {
    /// An entry of `section` with nothing more known yet.
    pub fn new(key: impl Into<String>, payload: Vec<u8>, section: Section) -> Listed {
        Listed {
            key: key.into(),
            payload,
            section,
            due: None,
            holder: None,
            death: None,
            deliveries: None,
        }
    }

    /// The same entry, due at `due`.
    pub fn due(mut self, due: SystemTime) -> Listed {
        self.due = Some(due);
        self
    }

    /// The same entry, held as `holder` says.
    pub fn held(mut self, holder: Holder) -> Listed {
        self.holder = Some(holder);
        self
    }

    /// The same entry, dead as `death` says.
    pub fn died(mut self, death: Death) -> Listed {
        self.death = Some(death);
        self
    }

    /// The same entry, claimed `deliveries` times so far.
    pub fn deliveries(mut self, deliveries: u32) -> Listed {
        self.deliveries = Some(deliveries);
        self
    }
}

/// One page of a section.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Page {
    /// The entries, in the section's order.
    pub entries: Vec<Listed>,
    /// Where the next page starts (give it back as `after`); `None` on the last page.
    pub next: Option<String>,
}

impl Page {
    /// A page of `entries`, followed by the page after `next`.
    pub fn new(entries: Vec<Listed>, next: Option<String>) -> Page {
        Page { entries, next }
    }
}

/// Reading a queue entry by entry and acting on chosen entries.
///
/// Pages are keyset pages: `after` is an opaque cursor the engine returned as [`Page::next`],
/// so a page is found by an index and entries moving meanwhile never make a page skip or
/// repeat the ones that stayed. (The pending section of Redis, a list, is read by position
/// from the cursor's entry: `docs/engines.md`, "Browsing entries", says what that means.)
///
/// Sections agree with [`Engine::counts`](crate::engine::Engine::counts): an entry listed in
/// a section is counted in it. `delete` and `run_now` act on each key atomically against a
/// concurrent claim: an entry claimed meanwhile is no longer in the section, and is skipped.
#[async_trait]
pub trait Browse: Send + Sync {
    /// Up to `limit` entries of `section` in its order, from the start (`after` = `None`) or
    /// after a cursor from the page before.
    async fn page(
        &self,
        section: Section,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError>;

    /// The entry with `key`, in whichever section it is; `None` when there is none.
    async fn find(&self, key: &str) -> Result<Option<Listed>, EngineError>;

    /// Removes the entries of `section` with the given keys (pending, scheduled or dead; an
    /// in-flight entry belongs to its worker and is never removed here); returns how many were
    /// removed. Keys no longer in that section are skipped.
    async fn delete(&self, section: Section, keys: &[String]) -> Result<u64, EngineError>;

    /// Makes the given scheduled entries claimable now, as if their time had come; returns how
    /// many moved. Keys not scheduled (any more) are skipped.
    async fn run_now(&self, keys: &[String]) -> Result<u64, EngineError>;
}

/// A keyset position inside a section: the value the section is ordered by (a time in ms, a
/// row id, a list position) and the key that breaks ties. Spelt `AT:KEY` in [`Page::next`];
/// callers treat it as opaque.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) at: u64,
    pub(crate) key: String,
}

impl Cursor {
    pub(crate) fn new(at: u64, key: impl Into<String>) -> Cursor {
        Cursor {
            at,
            key: key.into(),
        }
    }

    /// Reads a cursor this module wrote; `engine` names the engine in the error.
    pub(crate) fn parse(text: &str, engine: impl Into<String>) -> Result<Cursor, EngineError> {
        text.split_once(':')
            .and_then(|(at, key)| Some(Cursor::new(at.parse().ok()?, key)))
            .ok_or_else(|| EngineError::Failed {
                engine: engine.into(),
                message: format!(
                    "`{text}` is not a page cursor; give back the `next` of the page before"
                ),
            })
    }

    /// Reads an optional cursor (`None`: from the start).
    pub(crate) fn parse_after(
        after: Option<&str>,
        engine: impl Into<String>,
    ) -> Result<Option<Cursor>, EngineError> {
        after.map(|text| Cursor::parse(text, engine)).transpose()
    }

    pub(crate) fn text(&self) -> String {
        format!("{}:{}", self.at, self.key)
    }
}

/// What the keys of dead letters start with on engines whose dead letters have ids of their
/// own, apart from the entries' (SQLite, PostgreSQL): `dead-ID`.
pub(crate) const DEAD_PREFIX: &str = "dead-";

/// The dead letter's id in a key: `dead-ID` as browsing writes it, or the bare `ID` that
/// `Engine::dead` (and so `dead list`) gives.
pub(crate) fn dead_id(key: &str) -> Option<i64> {
    key.strip_prefix(DEAD_PREFIX).unwrap_or(key).parse().ok()
}
