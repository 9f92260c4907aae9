//! Browsing a Redis queue ([`Browse`]): the scripts `lua/browse*.lua`, on the queue's keys, so
//! the same code serves one server and a cluster (every key is in the queue's slot).
//!
//! Each script first sweeps as a claim does (`sweep_due`: ended leases back to the pending
//! list, due entries to it), so the sections are those a claim would see and agree with
//! `counts`, which sweeps too. Sections and their order:
//! - pending: the pending list, head first. Its pages are positional (`LRANGE`), but a cursor
//!   names the last entry shown and the next page starts just after wherever that entry is now
//!   (`LPOS`), so claims from the head meanwhile skip nothing. An entry shown that has no id
//!   yet (a raw payload as `send` pushed it) is given one, as its first claim would, so that
//!   its key stays valid while it waits; `redis-set://` entries keep their content hash
//!   (`set:HASH`), so that they still collapse with identical sends.
//! - scheduled, in flight, dead: their sorted sets by (score, member), keyset pages by rank from
//!   the cursor's member.
//!
//! The holder of a claim is the hash `holders` (id -> fence, claim time, consumer), written by
//! the claim script in one `HSET` per batch and removed by whatever ends the claim.

use std::time::SystemTime;

use async_trait::async_trait;
use redis::Value;

use super::{bytes, scripts, RedisEngine, MAX_READ, SWEEP};
use crate::engine::browse::Cursor;
use crate::engine::{from_unix_ms, Browse, Death, EngineError, Holder, Listed, Page, Section};

/// One entry as the browse scripts return it (8 values, see `lua/browse.lua`): where it is in
/// its section's order (for the cursor) and what browsing shows of it.
struct Row {
    score: u64,
    member: String,
    listed: Listed,
}

impl RedisEngine {
    /// Reads the entries of a browse script's reply, all of `section`.
    fn rows(
        &self,
        script: &str,
        section: Section,
        items: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Row>, EngineError> {
        let bad = || self.malformed(script);
        let mut fields = items.into_iter().map(bytes);
        let mut rows = Vec::new();
        loop {
            let group: Vec<Option<Vec<u8>>> = fields.by_ref().take(8).collect();
            if group.is_empty() {
                return Ok(rows);
            }
            let group: Vec<Vec<u8>> = group.into_iter().collect::<Option<_>>().ok_or_else(bad)?;
            let [key, member, score, payload, since, worker, deliveries, reason] =
                <[Vec<u8>; 8]>::try_from(group).map_err(|_| bad())?;
            let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| bad());
            // Scores come back as Redis prints doubles; ours are whole milliseconds.
            let score = text(score)?.parse::<f64>().map_err(|_| bad())? as u64;
            let listed = listed(
                Listed::new(text(key)?, payload, section),
                from_unix_ms(score),
                &text(since)?,
                &text(worker)?,
                &text(deliveries)?,
                &String::from_utf8_lossy(&reason),
            );
            rows.push(Row {
                score,
                member: text(member)?,
                listed,
            });
        }
    }
}

/// The listed entry `listed` with what its section shows: `at` is its score (due time, lease
/// deadline, death time).
fn listed(
    listed: Listed,
    at: SystemTime,
    since: &str,
    worker: &str,
    deliveries: &str,
    reason: &str,
) -> Listed {
    let listed = match deliveries.parse::<u32>() {
        Ok(n) => listed.deliveries(n),
        Err(_) => listed,
    };
    match listed.section {
        Section::Pending => listed,
        Section::Scheduled => listed.due(at),
        Section::InFlight => {
            let mut holder = Holder::new(at);
            // Claims made before holders were recorded have none.
            if let (false, Ok(since)) = (worker.is_empty(), since.parse::<u64>()) {
                holder = holder.by(worker, from_unix_ms(since));
            }
            listed.held(holder)
        }
        Section::Dead => listed.died(Death::new(reason, at)),
    }
}

/// A section by the name the scripts use.
fn section_named(name: &[u8]) -> Option<Section> {
    Section::from_name(std::str::from_utf8(name).ok()?)
}

#[async_trait]
impl Browse for RedisEngine {
    async fn page(
        &self,
        section: Section,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, EngineError> {
        let after = Cursor::parse_after(after, self.shown.clone())?;
        let (after_score, after_member) = after.map_or((0, String::new()), |c| (c.at, c.key));
        let fetch = limit.min(MAX_READ) + 1;
        let reply = self
            .script(&scripts::BROWSE_PAGE, |inv| {
                inv.arg(section.name())
                    .arg(after_score)
                    .arg(&after_member)
                    .arg(fetch)
                    .arg(SWEEP);
            })
            .await?;
        let Value::Array(items) = reply else {
            return Err(self.malformed("browse_page"));
        };
        let mut rows = self.rows("browse_page", section, items)?;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last()
                .map(|row| Cursor::new(row.score, row.member.clone()).text())
        } else {
            None
        };
        Ok(Page::new(
            rows.into_iter().map(|r| r.listed).collect(),
            next,
        ))
    }

    async fn find(&self, key: &str) -> Result<Option<Listed>, EngineError> {
        if key.is_empty() {
            return Ok(None);
        }
        let reply = self
            .script(&scripts::BROWSE_FIND, |inv| {
                inv.arg(key).arg(SWEEP);
            })
            .await?;
        let Value::Array(items) = reply else {
            return Err(self.malformed("browse_find"));
        };
        let mut items = items.into_iter();
        let Some(section) = items.next() else {
            return Ok(None);
        };
        let section = bytes(section)
            .as_deref()
            .and_then(section_named)
            .ok_or_else(|| self.malformed("browse_find"))?;
        let rows = self.rows("browse_find", section, items)?;
        Ok(rows.into_iter().next().map(|r| r.listed))
    }

    async fn delete(&self, section: Section, keys: &[String]) -> Result<u64, EngineError> {
        // Its worker will ack, retry or release it: never removed under it.
        if section == Section::InFlight || keys.is_empty() {
            return Ok(0);
        }
        let reply = self
            .script(&scripts::BROWSE_DELETE, |inv| {
                inv.arg(section.name()).arg(SWEEP);
                for key in keys {
                    inv.arg(key);
                }
            })
            .await?;
        self.count("browse_delete", &reply)
    }

    async fn run_now(&self, keys: &[String]) -> Result<u64, EngineError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let reply = self
            .script(&scripts::BROWSE_RUN_NOW, |inv| {
                for key in keys {
                    inv.arg(key);
                }
            })
            .await?;
        self.count("browse_run_now", &reply)
    }
}
