//! Entries this worker cannot handle because it is older (or younger) than their sender: a
//! signal it does not know, or an owed receiver it does not link. During a rolling deploy they
//! are another worker's to run, so they are given back, not dead-lettered, until
//! `unknown_grace` after they were due; and the warning about them is rate-limited, since a
//! deploy may bring thousands.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How long an entry given back stays out of reach: long enough that the workers that cannot
/// handle it do not spin on it, short enough that one that can is not kept waiting.
pub(crate) const GIVE_BACK_DELAY: Duration = Duration::from_secs(2);

/// At most one warning per signal (or receiver) name in this long.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// How many names the limiter remembers; beyond that (names come from entries, which anyone
/// may write) it forgets them all and starts again, so it stays small.
const NAMES_KEPT: usize = 1024;

/// When an entry first became this worker's to run: its due time for a delayed send (it could
/// not be claimed before), else its send time.
pub(crate) fn due_since(enqueued_at: SystemTime, scheduled_for: Option<SystemTime>) -> SystemTime {
    scheduled_for.map_or(enqueued_at, |due| due.max(enqueued_at))
}

/// How long to give an entry back for, or `None` once its grace is over (dead-letter it).
/// Never past the end of the grace, so the dead letter comes when the grace says.
pub(crate) fn give_back_for(
    since: SystemTime,
    grace: Duration,
    now: SystemTime,
) -> Option<Duration> {
    let waited = now.duration_since(since).unwrap_or_default();
    let left = grace.checked_sub(waited).filter(|d| !d.is_zero())?;
    Some(left.min(GIVE_BACK_DELAY))
}

/// Says when a warning about a name is due: the first time, then at most every
/// [`WARN_EVERY`], with how many were given back in between.
#[derive(Default)]
pub(crate) struct WarnLimiter {
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl WarnLimiter {
    /// Counts one more for `name`; `Some(n)` when a warning is due, covering `n` entries.
    pub(crate) fn note(&self, name: &str) -> Option<u64> {
        self.note_at(name, Instant::now())
    }

    fn note_at(&self, name: &str, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.len() >= NAMES_KEPT && !last.contains_key(name) {
            last.clear();
        }
        match last.get_mut(name) {
            Some((at, n)) if now.duration_since(*at) < WARN_EVERY => {
                *n += 1;
                None
            }
            Some((at, n)) => {
                let covered = *n + 1;
                *at = now;
                *n = 0;
                Some(covered)
            }
            None => {
                last.insert(name.to_string(), (now, 0));
                Some(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_back_until_the_grace_ends_never_past_it() {
        let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let grace = Duration::from_secs(10);
        let at = |s| sent + Duration::from_secs(s);
        assert_eq!(give_back_for(sent, grace, at(0)), Some(GIVE_BACK_DELAY));
        assert_eq!(
            give_back_for(sent, grace, at(9)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(give_back_for(sent, grace, at(10)), None);
        assert_eq!(give_back_for(sent, grace, at(11)), None);
        // A send time in the future (clocks disagree) counts as now.
        assert_eq!(give_back_for(at(5), grace, sent), Some(GIVE_BACK_DELAY));
        // A delayed send counts from its due time.
        assert_eq!(due_since(sent, Some(at(60))), at(60));
        assert_eq!(due_since(sent, None), sent);
    }

    #[test]
    fn warnings_come_once_a_minute_per_name_with_a_count() {
        let limiter = WarnLimiter::default();
        let t = Instant::now();
        assert_eq!(limiter.note_at("a", t), Some(1));
        assert_eq!(limiter.note_at("a", t + Duration::from_secs(1)), None);
        assert_eq!(limiter.note_at("b", t + Duration::from_secs(1)), Some(1));
        assert_eq!(limiter.note_at("a", t + Duration::from_secs(2)), None);
        assert_eq!(limiter.note_at("a", t + Duration::from_secs(61)), Some(3));
        for i in 0..NAMES_KEPT * 2 {
            limiter.note_at(&format!("n{i}"), t);
        }
        assert!(limiter.last.lock().unwrap().len() <= NAMES_KEPT);
    }
}
