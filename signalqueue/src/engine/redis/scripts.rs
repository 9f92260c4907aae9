//! The Lua scripts behind every multi-key step, so each step is atomic and one round trip.
//!
//! Each script is `lua/prelude.lua` (the key names and shared helpers) followed by its own file,
//! and before it, for the steps two scripts share, the files that define them as functions
//! (`ack_fn.lua`, `claim_fn.lua`).
//! They run with EVALSHA; after a Redis restart (or a failover) left the script cache empty, the
//! engine sees `NOSCRIPT`, loads the script and runs it again, so nothing has to be registered
//! up front.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($(#[$doc:meta])* $name:ident, $($file:literal),+) => {
        $(#[$doc])*
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(include_str!("lua/prelude.lua"), $(include_str!($file)),+))
        });
    };
}

/// A browsing script: the prelude, the browse helpers (`lua/browse.lua`), then its own file.
macro_rules! browse_script {
    ($(#[$doc:meta])* $name:ident, $file:literal) => {
        $(#[$doc])*
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                include_str!("lua/prelude.lua"),
                include_str!("lua/browse.lua"),
                include_str!($file)
            ))
        });
    };
}

script!(
    /// `redis-set://` enqueue: collapses payloads whose content is already waiting.
    ENQUEUE_SET,
    "lua/enqueue_set.lua"
);
script!(
    /// Enqueue of a batch with delayed sends: those to the schedule, the others as usual.
    ENQUEUE_DELAYED,
    "lua/enqueue_delayed.lua"
);
script!(
    /// Enqueue of one tick of a periodic signal, once: the tick's key `SET NX`, then the entry
    /// as `ENQUEUE_DELAYED` stores it. Takes two keys more than the queue's eleven.
    ENQUEUE_TICK,
    "lua/enqueue_tick.lua"
);
script!(
    /// Reclaims expired leases, promotes due retries, then claims a batch.
    CLAIM,
    "lua/claim_fn.lua",
    "lua/claim.lua"
);
script!(
    /// Fenced acknowledgement of many claims.
    ACK,
    "lua/ack_fn.lua",
    "lua/ack.lua"
);
script!(
    /// Fenced acknowledgement of many claims, then a claim (without waiting): one round trip
    /// for a busy worker's finished batch and the next.
    ACK_CLAIM,
    "lua/ack_fn.lua",
    "lua/claim_fn.lua",
    "lua/ack_claim.lua"
);
script!(
    /// Fenced lease extension of many claims.
    RENEW,
    "lua/renew.lua"
);
script!(
    /// Fenced retry of one claim, now or at a due time.
    RETRY,
    "lua/retry.lua"
);
script!(
    /// Fenced move of one claim to the dead letters, with retention.
    DEAD_LETTER,
    "lua/dead_letter.lua"
);
script!(
    /// Fenced replacement of one claim by new entries and dead letters.
    SPLIT,
    "lua/split.lua"
);
script!(
    /// Fenced give-back of many claims.
    RELEASE,
    "lua/release.lua"
);
script!(
    /// Counts by state.
    COUNTS,
    "lua/counts.lua"
);
script!(
    /// Reads waiting entries.
    PENDING,
    "lua/pending.lua"
);
script!(
    /// Reads dead letters.
    DEAD,
    "lua/dead.lua"
);
script!(
    /// Removes waiting entries.
    PURGE_PENDING,
    "lua/purge_pending.lua"
);
script!(
    /// Removes dead letters.
    PURGE_DEAD,
    "lua/purge_dead.lua"
);
script!(
    /// Moves dead letters back to the queue.
    REPLAY_DEAD,
    "lua/replay_dead.lua"
);
browse_script!(
    /// One page of a section, after sweeping as a claim does.
    BROWSE_PAGE,
    "lua/browse_page.lua"
);
browse_script!(
    /// One entry by key, in whichever section.
    BROWSE_FIND,
    "lua/browse_find.lua"
);
browse_script!(
    /// Removes entries of one section by key.
    BROWSE_DELETE,
    "lua/browse_delete.lua"
);
script!(
    /// Moves scheduled entries to the tail of the pending list.
    BROWSE_RUN_NOW,
    "lua/browse_run_now.lua"
);
