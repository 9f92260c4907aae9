//! The claim statement, in its two forms: one that only claims, and one that also moves the
//! delayed entries that fell due from `delayed` into `entries` (`schema.rs`, step 5).
//!
//! Delayed entries wait in a table of their own so that a million of them cost the claim of a
//! ready one nothing, not even room in the cache: the claim reads only `entries`, the small
//! table of ready and in-flight rows. Moving due ones into it takes a second table in the
//! statement and an insert into `entries` (whose statement trigger then runs), so the engine
//! does it in the claims of a waiting worker (every look after a sleep) and in at most one
//! claim per [`PROMOTE_EVERY`] of a busy one (`PostgresEngine::claim_now`): a due entry is
//! claimed within that much of its time while ready entries keep a worker busy.

use std::time::Duration;

/// How often a busy engine's claims also move due delayed entries into `entries`.
pub(super) const PROMOTE_EVERY: Duration = Duration::from_millis(10);

/// The claim: `$1` the queue, `$2` how many at most, `$3` the lease in milliseconds, `$4` the
/// claiming process ([`consumer_id`](crate::engine::consumer_id)), recorded with the claim's
/// time in `claimed_by`, `claimed_at` (schema step 7, for browsing); returns
/// `(id, fence, deliveries, payload)` of each entry claimed, in no order. With `promoting`,
/// the due entries of `delayed` move into `entries` in the same statement (so in the same
/// transaction: an entry is in exactly one of the two tables), those the claim takes leased,
/// the others unleased, each under its id, so it takes its place in the FIFO among the ready
/// ones.
///
/// The arms, each served by its own index: entries that are not delayed, in id order, unleased
/// or with their lease ended (the in-flight ones are stepped over); entries still marked
/// `delayed` in `entries` (written there by a build of schema step 4), due, earliest first;
/// and, when promoting, the due rows of `delayed`, earliest first, so that a million delayed
/// sends falling due together are read in index order rather than sorted at every claim. Rows
/// that other claimers hold locked right now are skipped, not waited for. The update changes
/// no indexed column for an entry that was not delayed: a HOT update when its page has room
/// (the table's fillfactor is 50). The new fence is at least the server's clock in µs, not
/// merely the old one plus one: claims commit without waiting for the flush, so a server crash
/// can undo a claim whose token a worker already holds, and the next claim of that entry must
/// not hand out the same fence again (it would let the first worker's token finish the
/// second's claim).
pub(super) fn claim_sql(s: &str, promoting: bool) -> String {
    let lease = "now() + $3::float8 * interval '1 millisecond'";
    let fence = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";
    let common = format!(
        "fresh AS (
             SELECT id FROM {s}.entries
             WHERE queue = $1 AND NOT delayed AND available_at <= now()
               AND (lease_until IS NULL OR lease_until <= now())
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED),
         due AS (
             SELECT id FROM {s}.entries
             WHERE queue = $1 AND delayed AND available_at <= now()
             ORDER BY available_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
    );
    let update = |picked: &str| {
        format!(
            "UPDATE {s}.entries AS e
             SET lease_until = {lease},
                 delayed = false,
                 fence = greatest(e.fence + 1, {fence}),
                 deliveries = e.deliveries + 1,
                 claimed_by = $4::text, claimed_at = now()
             FROM {picked} AS picked WHERE e.id = picked.id
             RETURNING e.id, e.fence, e.deliveries, e.payload"
        )
    };
    if !promoting {
        return format!(
            "WITH {common},
             picked AS (
                 SELECT id FROM fresh UNION ALL SELECT id FROM due ORDER BY id LIMIT $2)
             {}",
            update("picked")
        );
    }
    // The moved rows are not in the statement's snapshot of `entries`, so the update does not
    // see them: the insert writes them already leased, with their holder, when picked.
    format!(
        "WITH {common},
         ripe AS (
             SELECT id FROM {s}.delayed
             WHERE queue = $1 AND available_at <= now()
             ORDER BY available_at LIMIT $2 FOR UPDATE SKIP LOCKED),
         moved AS (
             DELETE FROM {s}.delayed AS d USING ripe WHERE d.id = ripe.id
             RETURNING d.id, d.queue, d.payload, d.available_at, d.fence, d.deliveries,
                       d.enqueued_at),
         picked AS (
             SELECT id FROM fresh UNION ALL SELECT id FROM due UNION ALL SELECT id FROM moved
             ORDER BY id LIMIT $2),
         claimed AS ({}),
         landed AS (
             INSERT INTO {s}.entries
                 (id, queue, payload, available_at, lease_until, fence, deliveries, enqueued_at,
                  claimed_by, claimed_at)
             OVERRIDING SYSTEM VALUE
             SELECT m.id, m.queue, m.payload, m.available_at,
                    CASE WHEN p.id IS NOT NULL THEN {lease} END,
                    CASE WHEN p.id IS NOT NULL THEN greatest(m.fence + 1, {fence})
                         ELSE m.fence END,
                    m.deliveries + CASE WHEN p.id IS NOT NULL THEN 1 ELSE 0 END,
                    m.enqueued_at,
                    CASE WHEN p.id IS NOT NULL THEN $4::text END,
                    CASE WHEN p.id IS NOT NULL THEN now() END
             FROM moved AS m LEFT JOIN picked AS p ON p.id = m.id
             RETURNING id, fence, deliveries, payload, lease_until IS NOT NULL AS taken)
         SELECT id, fence, deliveries, payload FROM claimed
         UNION ALL
         SELECT id, fence, deliveries, payload FROM landed WHERE taken",
        update("picked")
    )
}
