//! The Redis key layout of one queue, and how references to stored entries are written into
//! the pending list.
//!
//! Every key carries the hash tag `{sq:QUEUE}`, so Redis Cluster puts all of a queue's keys in
//! one slot and a script may touch them together (apalis-redis fails with CROSSSLOT for lack of
//! this). The layout is described for operators in `docs/engines.md`; keep the two in step.

/// The keys of one queue, in the order every script receives them as `KEYS[1..]`.
#[derive(Clone, Debug)]
pub(crate) struct QueueKeys {
    tag: String,
    names: [String; KEY_COUNT],
}

/// How many keys a queue has; every script gets all of them, so the Lua side can name them in
/// one shared prelude.
const KEY_COUNT: usize = 11;

/// The suffixes after `{sq:QUEUE}:`, in `KEYS` order. `lua/prelude.lua` names them in this
/// same order.
const SUFFIXES: [&str; KEY_COUNT] = [
    // LIST: what is ready to claim, head first. Raw payloads (as `send` and hand-pushes write
    // them) or references to entries that were claimed before.
    "pending",
    // HASH content hash -> payload: `redis-set://` entries waiting, one per distinct content.
    "waiting",
    // ZSET entry id -> due time (ms): retries waiting for their `not_before`.
    "scheduled",
    // ZSET "id:fence" -> lease deadline (ms): the in-flight claims.
    "leases",
    // HASH entry id -> payload: entries that have an id (claimed at least once, not finished).
    "entries",
    // HASH entry id -> deliveries that ended without an ack (absent: none).
    "deliveries",
    // STRING counter: entry ids and fences.
    "seq",
    // ZSET entry id -> died at (ms): dead letters, oldest first.
    "dead",
    // HASH entry id -> payload of a dead letter.
    "dead:payloads",
    // HASH entry id -> reason of a dead letter.
    "dead:reasons",
    // HASH entry id -> "FENCE:SINCE_MS:CONSUMER": who holds a claim and since when, for
    // browsing; written by the claim, removed when the claim ends.
    "holders",
];

impl QueueKeys {
    /// The keys of queue `queue`. The name must not contain `{` or `}` (see [`check_queue_name`]).
    pub(crate) fn new(queue: &str) -> QueueKeys {
        let tag = hash_tag(queue);
        QueueKeys {
            names: SUFFIXES.map(|suffix| format!("{tag}:{suffix}")),
            tag,
        }
    }

    /// All keys in `KEYS` order.
    pub(crate) fn all(&self) -> &[String] {
        &self.names
    }

    /// The pending list (where `send` and hand-pushes append).
    pub(crate) fn pending(&self) -> &str {
        &self.names[0]
    }

    /// STRING (with a TTL): tick `tick_ms` of `schedule` was enqueued. Not among [`Self::all`]:
    /// only the tick script takes it. Unambiguous although a schedule's name may hold `:`,
    /// because the tick is the digits after the last one.
    pub(crate) fn tick(&self, schedule: &str, tick_ms: u64) -> String {
        format!("{}:tick:{schedule}:{tick_ms}", self.tag)
    }

    /// HASH schedule -> the latest tick enqueued (ms). Not among [`Self::all`] either.
    pub(crate) fn last_ticks(&self) -> String {
        format!("{}:ticks", self.tag)
    }

    /// ZSET worker -> when its last heartbeat expires (ms): the index of the live workers.
    pub(crate) fn workers(&self) -> String {
        format!("{}:workers", self.tag)
    }

    /// STRING (with a TTL): what worker `worker` said in its last heartbeat.
    pub(crate) fn worker(&self, worker: &str) -> String {
        format!("{}:worker:{worker}", self.tag)
    }
}

/// `{sq:QUEUE}`: the hash tag and prefix shared by every key of a queue.
pub(crate) fn hash_tag(queue: &str) -> String {
    format!("{{sq:{queue}}}")
}

/// Refuses queue names that would break the hash tag: Redis takes the tag up to the first `}`,
/// so a name with braces would scatter a queue's keys over slots.
pub(crate) fn check_queue_name(queue: &str) -> Result<(), String> {
    if queue.is_empty() {
        return Err("a queue name must not be empty".into());
    }
    if queue.contains(['{', '}']) {
        return Err(format!(
            "queue name `{queue}` contains `{{` or `}}`, which would break the Redis hash tag; rename the queue"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_hash_tag() {
        let keys = QueueKeys::new("emails");
        assert_eq!(keys.pending(), "{sq:emails}:pending");
        for key in keys.all() {
            assert!(key.starts_with("{sq:emails}:"), "{key}");
        }
        assert_eq!(keys.tick("a:b", 5), "{sq:emails}:tick:a:b:5");
        assert_eq!(keys.last_ticks(), "{sq:emails}:ticks");
    }

    #[test]
    fn braces_in_queue_names_are_refused() {
        assert!(check_queue_name("a}b").is_err());
        assert!(check_queue_name("").is_err());
        assert!(check_queue_name("emails").is_ok());
    }
}
