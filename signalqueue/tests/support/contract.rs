//! The engine contract, as checks every engine must pass (see `signalqueue::engine`).
//!
//! Each check is a plain `async fn` over a [`Fixture`], which opens handles onto queues of the
//! engine under test. A test file runs the whole suite with one line:
//!
//! ```ignore
//! #[path = "support/contract.rs"]
//! mod contract;
//!
//! async fn fixture() -> MyFixture { ... }
//! contract::engine_contract_tests!(fixture);
//! ```
//!
//! The module must be named `contract` at the test crate's root, because the generated tests
//! call `crate::contract::CHECK`.
//!
//! Every check opens queues with a fresh, unique name, so checks run in parallel against one
//! server or one file. The checks never assert that something is fast: "eventually" waits are
//! generous, and an assertion that only holds while a lease is still running is made only when
//! the check measured that it is (a loaded 2-core machine can stall for a while between awaits).
//! Leases are a few hundred milliseconds at the shortest, so a networked engine can meet them.
//! All payloads within a queue are distinct, so an engine that collapses identical pending
//! entries (`redis-set://`) runs the same suite.

// Each test crate uses a different subset of the helpers (the SQLite tests use a few directly).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::slice;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use signalqueue::engine::{
    consumer_id, from_unix_ms, Browse, ClaimToken, Claimed, Counts, DeadLetter, EngineOptions,
    Listed, Outgoing, Section, SharedEngine, Ticks,
};
use signalqueue::EnvelopeId;

/// Opens handles onto queues of the engine under test.
///
/// Calling [`Fixture::open`] twice with the same `options.queue` must give two handles onto one
/// queue, as two processes opening the same URL would get (separate connections where the
/// engine has them). Queues with different names are independent, and a name never used before
/// starts empty.
pub(crate) trait Fixture: Send + Sync {
    /// A handle onto the queue `options.queue`.
    fn open(&self, options: EngineOptions) -> impl Future<Output = SharedEngine> + Send;
}

/// A lease short enough to expire during a check.
pub(crate) const SHORT_LEASE: Duration = Duration::from_millis(300);
/// A lease no check outlives: entries claimed with it stay claimed.
pub(crate) const LONG_LEASE: Duration = Duration::from_secs(120);
/// How long to wait for something that must happen (a lease expiry, a wake-up, a due retry).
pub(crate) const EVENTUALLY: Duration = Duration::from_secs(30);

/// Options for a fresh queue private to one check.
pub(crate) fn options(check: &str) -> EngineOptions {
    EngineOptions::new(format!("contract-{check}-{}", EnvelopeId::new()))
}

/// One entry to enqueue.
pub(crate) fn item(payload: impl Into<Vec<u8>>) -> Outgoing {
    Outgoing::new(EnvelopeId::new(), payload.into())
}

/// `n` entries with payloads `{prefix}-0`, `{prefix}-1`, ...
pub(crate) fn items(prefix: &str, n: usize) -> Vec<Outgoing> {
    (0..n).map(|i| item(format!("{prefix}-{i}"))).collect()
}

/// The payloads of claimed entries, as strings, in order.
pub(crate) fn texts(claimed: &[Claimed]) -> Vec<String> {
    claimed
        .iter()
        .map(|c| String::from_utf8_lossy(&c.payload).into_owned())
        .collect()
}

/// The tokens of claimed entries.
pub(crate) fn tokens(claimed: &[Claimed]) -> Vec<ClaimToken> {
    claimed.iter().map(|c| c.token.clone()).collect()
}

/// Counts with the given fields, the rest zero.
pub(crate) fn counts(pending: u64, scheduled: u64, in_flight: u64, dead: u64) -> Counts {
    Counts::new(pending, scheduled, in_flight, dead)
}

/// Claims exactly one entry, waiting for it as long as it takes (within reason).
pub(crate) async fn claim_one(engine: &SharedEngine, lease: Duration) -> Claimed {
    let mut got = engine.claim(1, lease, EVENTUALLY).await.expect("claim");
    assert_eq!(got.len(), 1, "expected one entry to become claimable");
    got.remove(0)
}

/// Waits for one entry as an idle worker's claim loop does: claim after claim, each waiting a
/// second, for as long as it takes.
pub(crate) async fn claim_like_an_idle_worker(engine: &SharedEngine) -> Claimed {
    loop {
        let got = engine
            .claim(1, LONG_LEASE, Duration::from_secs(1))
            .await
            .expect("claim");
        if let Some(c) = got.into_iter().next() {
            return c;
        }
    }
}

/// Claims everything claimable now, in batches of `batch`, with a long lease.
pub(crate) async fn claim_all(engine: &SharedEngine, batch: usize) -> Vec<Claimed> {
    let mut all = Vec::new();
    loop {
        let got = engine
            .claim(batch, LONG_LEASE, Duration::ZERO)
            .await
            .expect("claim");
        assert!(got.len() <= batch, "claim returned more than `max` entries");
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

/// Asserts that nothing is claimable right now.
pub(crate) async fn assert_nothing_claimable(engine: &SharedEngine) {
    let got = engine
        .claim(10, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert!(
        got.is_empty(),
        "expected nothing claimable, got {:?}",
        texts(&got)
    );
}

/// `ping` works, an empty batch does nothing, and a fresh queue is empty.
pub(crate) async fn basics(f: &impl Fixture) {
    let engine = f.open(options("basics")).await;
    assert!(!engine.kind().is_empty());
    assert!(!engine.describe().is_empty());
    engine.ping().await.expect("ping");
    engine.enqueue(&[]).await.expect("empty enqueue");
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
    assert!(engine.pending(10).await.expect("pending").is_empty());
    assert!(engine.dead(10).await.expect("dead").is_empty());
    let got = engine
        .claim(10, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert!(got.is_empty());
}

/// Entries come out in the order they went in, across batches and within them.
pub(crate) async fn fifo_order(f: &impl Fixture) {
    let engine = f.open(options("fifo")).await;
    engine.enqueue(&[item("fifo-0")]).await.expect("enqueue");
    engine.enqueue(&[item("fifo-1")]).await.expect("enqueue");
    engine
        .enqueue(&[item("fifo-2"), item("fifo-3"), item("fifo-4")])
        .await
        .expect("enqueue");
    engine.enqueue(&[item("fifo-5")]).await.expect("enqueue");

    let pending = engine.pending(100).await.expect("pending");
    let pending: Vec<_> = pending
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect();
    assert_eq!(
        pending,
        ["fifo-0", "fifo-1", "fifo-2", "fifo-3", "fifo-4", "fifo-5"]
    );
    assert_eq!(engine.pending(2).await.expect("pending").len(), 2);

    let first = engine
        .claim(2, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(texts(&first), ["fifo-0", "fifo-1"]);
    let rest = engine
        .claim(100, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(texts(&rest), ["fifo-2", "fifo-3", "fifo-4", "fifo-5"]);
    for c in first.iter().chain(&rest) {
        assert_eq!(c.deliveries, 1, "a first claim is delivery 1");
    }
    let keys: HashSet<_> = first.iter().chain(&rest).map(|c| &c.token.key).collect();
    assert_eq!(keys.len(), 6, "every entry has its own key");
}

/// A batch of 1000 is claimed back in batches with nothing lost and nothing twice.
pub(crate) async fn batch_of_1000(f: &impl Fixture) {
    let engine = f.open(options("batch")).await;
    engine
        .enqueue(&items("batch", 1000))
        .await
        .expect("enqueue");
    assert_eq!(
        engine.counts().await.expect("counts"),
        counts(1000, 0, 0, 0)
    );

    let claimed = claim_all(&engine, 64).await;
    let expected: Vec<String> = (0..1000).map(|i| format!("batch-{i}")).collect();
    assert_eq!(texts(&claimed), expected, "all 1000, once each, in order");
    assert_eq!(
        engine.counts().await.expect("counts"),
        counts(0, 0, 1000, 0)
    );

    let acks = engine.ack(&tokens(&claimed)).await.expect("ack");
    assert_eq!(acks, vec![true; 1000]);
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
    assert_nothing_claimable(&engine).await;
}

/// A claim that waits returns as soon as something is enqueued, whether by the same handle or
/// by another one (another process); with nothing enqueued it returns empty after its wait.
pub(crate) async fn claim_waits(f: &impl Fixture) {
    let opts = options("wait");
    let engine = f.open(opts.clone()).await;
    let other = f.open(opts).await;

    let wait = Duration::from_millis(600);
    let started = Instant::now();
    let got = engine.claim(10, LONG_LEASE, wait).await.expect("claim");
    assert!(got.is_empty());
    // A lower bound only, with slack for engines that count time in coarser units.
    assert!(
        started.elapsed() >= wait.mul_f32(0.8),
        "an empty claim returned after {:?}, before its wait of {wait:?}",
        started.elapsed()
    );

    for (round, enqueuer) in [&engine, &other].into_iter().enumerate() {
        let claimer = engine.clone();
        let started = Instant::now();
        let waiting = tokio::spawn(async move { claimer.claim(10, LONG_LEASE, EVENTUALLY).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let payload = format!("late-{round}");
        enqueuer
            .enqueue(&[item(payload.clone())])
            .await
            .expect("enqueue");
        let got = waiting.await.expect("claim task").expect("claim");
        assert_eq!(texts(&got), [payload]);
        assert!(
            started.elapsed() < EVENTUALLY,
            "the claim sat out its whole wait although an entry arrived"
        );
        assert_eq!(engine.ack(&tokens(&got)).await.expect("ack"), [true]);
    }
}

/// An entry whose lease ran out is claimable again, with a new fence and one more delivery;
/// until then nobody else can claim it.
pub(crate) async fn lease_expiry(f: &impl Fixture) {
    let engine = f.open(options("expiry")).await;
    engine.enqueue(&[item("expiry-0")]).await.expect("enqueue");
    let first = claim_one(&engine, SHORT_LEASE).await;
    assert_eq!(first.deliveries, 1);

    let second = claim_one(&engine, LONG_LEASE).await;
    assert_eq!(
        second.token.key, first.token.key,
        "the same entry comes back"
    );
    assert_ne!(
        second.token.fence, first.token.fence,
        "a new claim has a new fence"
    );
    assert_eq!(second.deliveries, 2);
    assert_eq!(second.payload, b"expiry-0");

    // Under the long lease, nobody else gets it.
    assert_nothing_claimable(&engine).await;
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 1, 0));
    assert_eq!(engine.ack(&[second.token]).await.expect("ack"), [true]);
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
}

/// A lease that ran out refuses its token even when nobody has claimed the entry since.
pub(crate) async fn expired_lease_is_refused(f: &impl Fixture) {
    let engine = f.open(options("expired")).await;
    engine.enqueue(&[item("expired-0")]).await.expect("enqueue");
    let first = claim_one(&engine, SHORT_LEASE).await;
    // The lease started before `claim` returned, so it has surely ended after this.
    tokio::time::sleep(SHORT_LEASE * 3).await;
    assert_eq!(
        engine
            .renew(slice::from_ref(&first.token), LONG_LEASE)
            .await
            .expect("renew"),
        [false]
    );
    assert_eq!(
        engine
            .ack(slice::from_ref(&first.token))
            .await
            .expect("ack"),
        [false]
    );
    let again = claim_one(&engine, LONG_LEASE).await;
    assert_eq!(again.token.key, first.token.key);
    assert_eq!(again.deliveries, 2);
    assert_eq!(engine.ack(&[again.token]).await.expect("ack"), [true]);
}

/// A stale token (its entry re-claimed elsewhere) is refused by every call, and the new owner's
/// claim is left exactly as it was.
pub(crate) async fn stale_token_is_refused(f: &impl Fixture) {
    let opts = options("stale");
    let engine = f.open(opts.clone()).await;
    let other = f.open(opts).await;
    engine.enqueue(&[item("stale-0")]).await.expect("enqueue");
    let old = claim_one(&engine, SHORT_LEASE).await;
    let new = claim_one(&other, LONG_LEASE).await;
    assert_eq!(new.token.key, old.token.key);

    let t = &old.token;
    assert_eq!(engine.ack(slice::from_ref(t)).await.expect("ack"), [false]);
    assert_eq!(
        engine
            .renew(slice::from_ref(t), LONG_LEASE)
            .await
            .expect("renew"),
        [false]
    );
    let soon = SystemTime::now();
    assert!(!engine
        .retry(t, b"stale-rewritten", soon)
        .await
        .expect("retry"));
    assert!(!engine
        .dead_letter(t, b"stale-0", "stale")
        .await
        .expect("dead_letter"));
    let pieces = [item("stale-piece")];
    let dead = [dead_letter("stale-dead", "stale")];
    assert!(!engine.split(t, &pieces, &dead).await.expect("split"));
    engine.release(slice::from_ref(t)).await.expect("release");

    // A forged fence on the right key is just as stale.
    let forged = ClaimToken {
        key: new.token.key.clone(),
        fence: new.token.fence.wrapping_add(1_000_003),
    };
    assert_eq!(
        engine.ack(slice::from_ref(&forged)).await.expect("ack"),
        [false]
    );
    assert!(!engine
        .dead_letter(&forged, b"x", "forged")
        .await
        .expect("dead_letter"));
    assert!(!engine.split(&forged, &pieces, &dead).await.expect("split"));

    // The new owner is undisturbed: still in flight, same payload, not dead, not pending.
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 1, 0));
    assert!(engine.pending(10).await.expect("pending").is_empty());
    assert!(engine.dead(10).await.expect("dead").is_empty());
    assert_nothing_claimable(&engine).await;
    assert_eq!(
        other
            .renew(slice::from_ref(&new.token), LONG_LEASE)
            .await
            .expect("renew"),
        [true]
    );
    assert_eq!(
        other.ack(slice::from_ref(&new.token)).await.expect("ack"),
        [true]
    );
    // And finished means finished: a second ack is refused too.
    assert_eq!(other.ack(&[new.token]).await.expect("ack"), [false]);
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
}

/// A dead letter to write with `split`.
pub(crate) fn dead_letter(payload: &str, reason: &str) -> DeadLetter {
    DeadLetter::new(payload, reason)
}

/// `split` replaces a claim with new entries (one due now, one later) and dead letters of their
/// own, in one step: the claim is finished, each piece is an entry or dead letter like any
/// other (claimable, scheduled, replayable on its own), and both lists empty is an ack.
pub(crate) async fn split_replaces_a_claim(f: &impl Fixture) {
    let engine = f.open(options("split")).await;
    engine
        .enqueue(&[item("split-0"), item("split-1")])
        .await
        .expect("enqueue");
    let claimed = claim_all(&engine, 10).await;
    assert_eq!(texts(&claimed), ["split-0", "split-1"]);
    let later = SystemTime::now() + Duration::from_secs(3600);
    let pieces = [
        item("split-0-now"),
        item("split-0-later").not_before(Some(later)),
    ];
    let dead = [
        dead_letter("split-0-dead-a", "receiver `a` gave up"),
        dead_letter("split-0-dead-b", "receiver `b` gave up"),
    ];
    assert!(engine
        .split(&claimed[0].token, &pieces, &dead)
        .await
        .expect("split"));
    // Once finished, the claim is gone: nothing more can be done with its token.
    assert_eq!(
        engine
            .ack(slice::from_ref(&claimed[0].token))
            .await
            .expect("ack"),
        [false]
    );
    assert!(!engine
        .split(&claimed[0].token, &pieces, &dead)
        .await
        .expect("split"));
    assert_eq!(engine.counts().await.expect("counts"), counts(1, 1, 1, 2));

    let dead_now = engine.dead(10).await.expect("dead");
    let kept: Vec<(String, String)> = dead_now
        .iter()
        .map(|d| {
            (
                String::from_utf8_lossy(&d.payload).into_owned(),
                d.reason.clone(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            (
                "split-0-dead-a".to_string(),
                "receiver `a` gave up".to_string()
            ),
            (
                "split-0-dead-b".to_string(),
                "receiver `b` gave up".to_string()
            ),
        ]
    );
    assert_ne!(
        dead_now[0].key, dead_now[1].key,
        "each dead letter has its own key"
    );
    let pending: Vec<String> = engine
        .pending(10)
        .await
        .expect("pending")
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect();
    assert_eq!(pending, ["split-0-now", "split-0-later"]);

    // The piece due now is claimable, as a fresh entry; the later one is not.
    let now_piece = claim_all(&engine, 10).await;
    assert_eq!(texts(&now_piece), ["split-0-now"]);
    assert_eq!(now_piece[0].deliveries, 1);
    assert_ne!(now_piece[0].token.key, claimed[0].token.key);

    // Both lists empty: the claim is simply finished.
    assert!(engine
        .split(&now_piece[0].token, &[], &[])
        .await
        .expect("split"));
    // One dead letter replayed by its key comes back alone.
    assert_eq!(
        engine
            .replay_dead(Some(slice::from_ref(&dead_now[1].key)))
            .await
            .expect("replay"),
        1
    );
    assert_eq!(texts(&claim_all(&engine, 10).await), ["split-0-dead-b"]);
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 1, 2, 1));
    assert_eq!(
        engine
            .ack(slice::from_ref(&claimed[1].token))
            .await
            .expect("ack"),
        [true]
    );
}

/// `ack` answers one bool per token, in order, and acks the good ones among stale ones.
pub(crate) async fn ack_answers_per_token(f: &impl Fixture) {
    let engine = f.open(options("acks")).await;
    engine.enqueue(&items("acks", 3)).await.expect("enqueue");
    let claimed = claim_all(&engine, 10).await;
    assert_eq!(claimed.len(), 3);
    let [a, b, c] = [0, 1, 2].map(|i| claimed[i].token.clone());
    let stale_b = ClaimToken {
        key: b.key.clone(),
        fence: b.fence.wrapping_add(1_000_003),
    };
    let answers = engine
        .ack(&[a.clone(), stale_b, c.clone(), a])
        .await
        .expect("ack");
    assert_eq!(answers, [true, false, true, false]);
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 1, 0));
    assert_eq!(engine.ack(&[b]).await.expect("ack"), [true]);
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
}

/// `ack_and_claim` acknowledges first and then claims, in order, without waiting: the answers
/// per token as `ack` gives them, the next entries as `claim` would, nothing when none is
/// ready.
pub(crate) async fn ack_and_claim_takes_the_next_entries(f: &impl Fixture) {
    let engine = f.open(options("ack-claim")).await;
    engine.enqueue(&items("ac", 5)).await.expect("enqueue");
    let first = engine
        .claim(2, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(texts(&first), ["ac-0", "ac-1"]);
    let [a, b] = [0, 1].map(|i| first[i].token.clone());
    let stale_b = ClaimToken {
        key: b.key.clone(),
        fence: b.fence.wrapping_add(1_000_003),
    };
    let both = engine
        .ack_and_claim(&[a, stale_b], 2, LONG_LEASE)
        .await
        .expect("ack and claim");
    assert_eq!(both.acked, [true, false]);
    let next = both.claimed.expect("claim");
    assert_eq!(texts(&next), ["ac-2", "ac-3"]);
    assert_eq!(engine.counts().await.expect("counts"), counts(1, 0, 3, 0));

    let mut finished = vec![b];
    finished.extend(tokens(&next));
    let both = engine
        .ack_and_claim(&finished, 10, LONG_LEASE)
        .await
        .expect("ack and claim");
    assert_eq!(both.acked, [true, true, true]);
    let last = both.claimed.expect("claim");
    assert_eq!(texts(&last), ["ac-4"]);

    let both = engine
        .ack_and_claim(&tokens(&last), 10, LONG_LEASE)
        .await
        .expect("ack and claim");
    assert_eq!(both.acked, [true]);
    assert!(both.claimed.expect("claim").is_empty());
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
}

/// A renewed lease outlives the lease the entry was claimed with.
pub(crate) async fn renew_extends_lease(f: &impl Fixture) {
    let engine = f.open(options("renew")).await;
    engine.enqueue(&[item("renew-0")]).await.expect("enqueue");
    let lease = Duration::from_millis(800);
    let started = Instant::now();
    let claimed = claim_one(&engine, lease).await;
    let renewed = engine
        .renew(slice::from_ref(&claimed.token), LONG_LEASE)
        .await
        .expect("renew");
    if started.elapsed() >= lease {
        // The machine stalled past the lease before the renewal got there: a refusal is then
        // correct, and there is nothing left to check.
        return;
    }
    assert_eq!(renewed, [true], "renewing a live lease succeeds");

    tokio::time::sleep(lease * 2).await;
    assert_nothing_claimable(&engine).await;
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 1, 0));
    assert_eq!(engine.ack(&[claimed.token]).await.expect("ack"), [true]);
}

/// A retry stores the new payload and hides the entry until `not_before`, counted as scheduled;
/// a retry due now is claimable at once.
pub(crate) async fn retry_schedules(f: &impl Fixture) {
    let engine = f.open(options("retry")).await;
    engine.enqueue(&[item("retry-0")]).await.expect("enqueue");
    let claimed = claim_one(&engine, LONG_LEASE).await;

    let delay = Duration::from_secs(2);
    let retried_at = Instant::now();
    let not_before = SystemTime::now() + delay;
    assert!(engine
        .retry(&claimed.token, b"retry-0-attempt-2", not_before)
        .await
        .expect("retry"));

    let pending = engine.pending(10).await.expect("pending");
    assert_eq!(pending.len(), 1, "pending lists scheduled entries");
    assert_eq!(pending[0].payload, b"retry-0-attempt-2");
    let now_counts = engine.counts().await.expect("counts");
    let hidden = engine
        .claim(10, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    if retried_at.elapsed() < delay {
        assert_eq!(now_counts, counts(0, 1, 0, 0));
        assert!(hidden.is_empty(), "a retry is hidden until `not_before`");
    }
    // The finished claim cannot be finished again.
    assert_eq!(
        engine
            .ack(slice::from_ref(&claimed.token))
            .await
            .expect("ack"),
        [false]
    );

    let again = if hidden.is_empty() {
        claim_one(&engine, LONG_LEASE).await
    } else {
        hidden.into_iter().next().expect("one entry")
    };
    // Stores keep milliseconds (or coarser), so allow a little rounding.
    assert!(
        SystemTime::now() + Duration::from_millis(50) >= not_before,
        "a retry was handed out before `not_before`"
    );
    assert_eq!(again.payload, b"retry-0-attempt-2");
    assert_eq!(again.token.key, claimed.token.key);
    assert_eq!(again.deliveries, 2);
    assert_ne!(again.token.fence, claimed.token.fence);

    // Due now: claimable at once, well within the lease it would otherwise have had.
    assert!(engine
        .retry(&again.token, b"retry-0-attempt-3", SystemTime::now())
        .await
        .expect("retry"));
    let third = claim_one(&engine, LONG_LEASE).await;
    assert_eq!(third.payload, b"retry-0-attempt-3");
    assert_eq!(third.deliveries, 3);
    assert_eq!(engine.ack(&[third.token]).await.expect("ack"), [true]);
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
}

/// A retry falls due for every claimer waiting on the queue, not first for the handle that wrote
/// it. Two workers idle on one queue, one of which keeps giving an entry back (an older release
/// that lacks its receiver, in a rolling deploy): were the one that gave it back always first
/// to look again once it is due, the other would never get it, and it would end as a dead
/// letter when the grace ran out. Whoever wins a round is up to timing, so this only asks that
/// the other handle wins one of many.
pub(crate) async fn retries_reach_other_claimers(f: &impl Fixture) {
    const ROUNDS: u32 = 20;
    let opts = options("fair");
    let (giver, other) = (f.open(opts.clone()).await, f.open(opts).await);
    giver.enqueue(&[item("fair-0")]).await.expect("enqueue");
    let mut mine = claim_one(&giver, LONG_LEASE).await;
    // The other waits all along, claim after claim, as an idle worker does.
    let mut theirs = tokio::spawn(async move {
        let c = claim_like_an_idle_worker(&other).await;
        (other, c)
    });
    for round in 1..=ROUNDS {
        let not_before = SystemTime::now() + Duration::from_millis(200);
        assert!(giver
            .retry(&mine.token, b"fair-0", not_before)
            .await
            .expect("retry"));
        // And it claims again at once, as the claim loop of a worker does.
        tokio::select! {
            got = &mut theirs => {
                let (other, c) = got.expect("the other claimer");
                assert_eq!(c.payload, b"fair-0");
                assert_eq!(c.deliveries, round + 1);
                assert_eq!(other.ack(&[c.token]).await.expect("ack"), [true]);
                assert_eq!(giver.counts().await.expect("counts"), Counts::default());
                return;
            }
            again = claim_one(&giver, LONG_LEASE) => mine = again,
        }
    }
    theirs.abort();
    panic!(
        "the handle that gave the entry back claimed it again first {ROUNDS} times in a row; \
         another claimer waiting on the queue never got it"
    );
}

/// An entry claimable from `not_before` (a delayed send).
pub(crate) fn delayed(payload: impl Into<Vec<u8>>, not_before: SystemTime) -> Outgoing {
    item(payload).not_before(Some(not_before))
}

/// A delayed send is not claimable before its time and counts as scheduled meanwhile; it is
/// claimable after it, by a claim that was already waiting; delayed entries due together keep
/// the order they were sent in; a time in the past means now.
pub(crate) async fn delayed_sends(f: &impl Fixture) {
    let engine = f.open(options("delayed")).await;
    let delay = Duration::from_secs(2);
    let sent_at = Instant::now();
    let due = SystemTime::now() + delay;
    engine.enqueue(&[item("ready-0")]).await.expect("enqueue");
    let batch: Vec<Outgoing> = (0..3).map(|i| delayed(format!("later-{i}"), due)).collect();
    engine.enqueue(&batch).await.expect("enqueue delayed");
    let past = SystemTime::now() - Duration::from_secs(3600);
    engine
        .enqueue(&[delayed("past-0", past)])
        .await
        .expect("enqueue in the past");

    let listed = engine.pending(10).await.expect("pending");
    assert_eq!(listed.len(), 5, "pending lists delayed entries");
    let now_counts = engine.counts().await.expect("counts");
    let early = claim_all(&engine, 10).await;
    if sent_at.elapsed() < delay {
        assert_eq!(
            now_counts,
            counts(2, 3, 0, 0),
            "delayed entries count as scheduled"
        );
        assert_eq!(texts(&early), ["ready-0", "past-0"], "a past time is now");
    }
    assert_eq!(
        engine.ack(&tokens(&early)).await.expect("ack"),
        vec![true; early.len()]
    );

    // A claim already waiting takes them once due, without anything else waking it.
    let mut later = early
        .into_iter()
        .filter(|c| c.payload.starts_with(b"later-"))
        .collect::<Vec<_>>();
    while later.len() < 3 {
        let got = engine
            .claim(10, LONG_LEASE, EVENTUALLY)
            .await
            .expect("claim");
        assert!(!got.is_empty(), "delayed entries never became claimable");
        // Stores keep milliseconds (or coarser), so allow a little rounding.
        assert!(
            SystemTime::now() + Duration::from_millis(50) >= due,
            "a delayed entry was handed out before its time"
        );
        later.extend(got);
    }
    assert_eq!(
        texts(&later),
        ["later-0", "later-1", "later-2"],
        "FIFO once due"
    );
    assert!(later.iter().all(|c| c.deliveries == 1), "a first delivery");
    assert_eq!(engine.ack(&tokens(&later)).await.expect("ack"), [true; 3]);
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());

    // Far in the future: scheduled until purged with the pending entries.
    let far = SystemTime::now() + Duration::from_secs(3600);
    engine
        .enqueue(&[delayed("far-0", far)])
        .await
        .expect("enqueue");
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 1, 0, 0));
    assert_nothing_claimable(&engine).await;
    assert_eq!(engine.purge_pending().await.expect("purge"), 1);
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
}

/// One batch may mix delayed and immediate entries: the immediate ones are claimable at once,
/// in their order, and the delayed one later; a fence-checked ack still refuses a token made up
/// for a delayed entry that was never claimed.
pub(crate) async fn delayed_in_a_mixed_batch(f: &impl Fixture) {
    let engine = f.open(options("delayed-mixed")).await;
    let delay = Duration::from_millis(1500);
    let sent_at = Instant::now();
    let due = SystemTime::now() + delay;
    engine
        .enqueue(&[item("mixed-0"), delayed("mixed-1", due), item("mixed-2")])
        .await
        .expect("enqueue");
    let waiting = engine.pending(10).await.expect("pending");
    let now = claim_all(&engine, 10).await;
    if sent_at.elapsed() < delay {
        assert_eq!(texts(&now), ["mixed-0", "mixed-2"]);
        // No token finishes an entry nobody claimed, whatever fence it makes up.
        let listed = waiting
            .iter()
            .find(|e| e.payload == b"mixed-1")
            .expect("the delayed entry is listed");
        let made_up: Vec<ClaimToken> = (0..3)
            .map(|fence| ClaimToken {
                key: listed.key.clone(),
                fence,
            })
            .collect();
        assert_eq!(engine.ack(&made_up).await.expect("ack"), [false; 3]);
    }
    let mut all = now;
    while all.len() < 3 {
        all.extend(
            engine
                .claim(10, LONG_LEASE, EVENTUALLY)
                .await
                .expect("claim"),
        );
    }
    let mut names = texts(&all);
    names.sort();
    assert_eq!(names, ["mixed-0", "mixed-1", "mixed-2"]);
    assert!(SystemTime::now() + Duration::from_millis(50) >= due);
    assert_eq!(engine.ack(&tokens(&all)).await.expect("ack"), [true; 3]);
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
}

/// A dead letter keeps the exact bytes and the reason, and its claim is over.
pub(crate) async fn dead_letter_keeps_bytes(f: &impl Fixture) {
    let engine = f.open(options("dead")).await;
    let bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    engine
        .enqueue(&[item(bytes.clone())])
        .await
        .expect("enqueue");
    let claimed = claim_one(&engine, LONG_LEASE).await;
    assert_eq!(claimed.payload, bytes);

    let reason = "receiver `mail::send` failed: SMTP 550 — ünïcode\nsecond line";
    let before = SystemTime::now();
    assert!(engine
        .dead_letter(&claimed.token, &bytes, reason)
        .await
        .expect("dead_letter"));
    let after = SystemTime::now();

    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 0, 1));
    let dead = engine.dead(10).await.expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, bytes);
    assert_eq!(dead[0].reason, reason);
    // Stores keep milliseconds (or seconds), so allow rounding on either side.
    let slack = Duration::from_secs(1);
    assert!(
        dead[0].died_at + slack >= before && dead[0].died_at <= after + slack,
        "died_at {:?} is not between {before:?} and {after:?}",
        dead[0].died_at
    );
    // Reading does not remove.
    assert_eq!(engine.dead(10).await.expect("dead").len(), 1);

    assert_eq!(
        engine
            .ack(slice::from_ref(&claimed.token))
            .await
            .expect("ack"),
        [false]
    );
    assert_eq!(
        engine
            .renew(&[claimed.token], LONG_LEASE)
            .await
            .expect("renew"),
        [false]
    );
    assert_nothing_claimable(&engine).await;
    assert!(engine.pending(10).await.expect("pending").is_empty());
}

/// Dead letters are capped at `dead_max`, dropping the oldest.
pub(crate) async fn dead_letters_are_capped(f: &impl Fixture) {
    let mut opts = options("deadmax");
    opts.dead_max = 3;
    let engine = f.open(opts).await;
    engine.enqueue(&items("deadmax", 5)).await.expect("enqueue");
    for c in claim_all(&engine, 10).await {
        assert!(engine
            .dead_letter(&c.token, &c.payload, "capped")
            .await
            .expect("dead_letter"));
    }
    assert_eq!(engine.counts().await.expect("counts").dead, 3);
    let dead = engine.dead(10).await.expect("dead");
    let kept: Vec<_> = dead
        .iter()
        .map(|d| String::from_utf8_lossy(&d.payload).into_owned())
        .collect();
    assert_eq!(
        kept,
        ["deadmax-2", "deadmax-3", "deadmax-4"],
        "the newest are kept"
    );
}

/// Dead letters older than `dead_ttl` are dropped.
pub(crate) async fn dead_letters_expire(f: &impl Fixture) {
    let mut opts = options("deadttl");
    let ttl = Duration::from_secs(1);
    opts.dead_ttl = ttl;
    let engine = f.open(opts).await;
    engine.enqueue(&[item("deadttl-0")]).await.expect("enqueue");
    let claimed = claim_one(&engine, LONG_LEASE).await;
    // Taken before the call: the dead letter is no older than this.
    let died = Instant::now();
    assert!(engine
        .dead_letter(&claimed.token, &claimed.payload, "expires")
        .await
        .expect("dead_letter"));
    let kept = engine.counts().await.expect("counts").dead;
    if died.elapsed() < ttl / 2 {
        assert_eq!(kept, 1, "a fresh dead letter is kept");
    }
    tokio::time::sleep(ttl * 3).await;
    assert_eq!(engine.counts().await.expect("counts").dead, 0);
    assert!(engine.dead(10).await.expect("dead").is_empty());
}

/// Replay brings dead letters back as fresh entries at the back of the queue: chosen ones by
/// key, or all of them.
pub(crate) async fn replay_dead(f: &impl Fixture) {
    let engine = f.open(options("replay")).await;
    engine.enqueue(&items("replay", 3)).await.expect("enqueue");
    for c in claim_all(&engine, 10).await {
        assert!(engine
            .dead_letter(&c.token, &c.payload, "for replay")
            .await
            .expect("dead_letter"));
    }
    let dead = engine.dead(10).await.expect("dead");
    assert_eq!(dead.len(), 3);
    let key_of_1 = dead
        .iter()
        .find(|d| d.payload == b"replay-1")
        .map(|d| d.key.clone())
        .expect("replay-1 is dead");

    assert_eq!(
        engine
            .replay_dead(Some(&["no-such-dead-letter".to_string()]))
            .await
            .expect("replay"),
        0
    );
    assert_eq!(
        engine
            .replay_dead(Some(slice::from_ref(&key_of_1)))
            .await
            .expect("replay"),
        1
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(1, 0, 0, 2));
    let back = claim_one(&engine, LONG_LEASE).await;
    assert_eq!(back.payload, b"replay-1");
    assert_eq!(
        back.deliveries, 1,
        "a replayed entry starts its deliveries afresh"
    );
    assert_eq!(engine.ack(&[back.token]).await.expect("ack"), [true]);

    // Replayed entries go behind what is already waiting.
    engine
        .enqueue(&[item("replay-new")])
        .await
        .expect("enqueue");
    assert_eq!(engine.replay_dead(None).await.expect("replay"), 2);
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 0, 0, 0));
    let all = claim_all(&engine, 10).await;
    assert_eq!(texts(&all), ["replay-new", "replay-0", "replay-2"]);
    assert!(all.iter().all(|c| c.deliveries == 1));
    assert_eq!(engine.replay_dead(None).await.expect("replay"), 0);
}

/// Purging removes pending and scheduled entries (or dead letters) and says how many; claims
/// in flight stay and can still be acknowledged.
pub(crate) async fn purge(f: &impl Fixture) {
    let engine = f.open(options("purge")).await;
    engine.enqueue(&items("purge", 6)).await.expect("enqueue");
    let claimed = engine
        .claim(3, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    let later = SystemTime::now() + LONG_LEASE;
    assert!(engine
        .retry(&claimed[0].token, b"purge-0-retry", later)
        .await
        .expect("retry"));
    assert!(engine
        .dead_letter(&claimed[1].token, &claimed[1].payload, "purge")
        .await
        .expect("dead_letter"));
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 1, 1, 1));

    assert_eq!(engine.purge_pending().await.expect("purge_pending"), 4);
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 1, 1));
    assert!(engine.pending(10).await.expect("pending").is_empty());
    assert_eq!(engine.purge_pending().await.expect("purge_pending"), 0);

    assert_eq!(engine.purge_dead().await.expect("purge_dead"), 1);
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 1, 0));
    assert_eq!(engine.purge_dead().await.expect("purge_dead"), 0);

    assert_eq!(
        engine
            .ack(slice::from_ref(&claimed[2].token))
            .await
            .expect("ack"),
        [true]
    );
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
}

/// Released claims are claimable again at once (long before their lease would have ended),
/// without counting as a delivery; a stale release changes nothing.
pub(crate) async fn release(f: &impl Fixture) {
    let engine = f.open(options("release")).await;
    engine.enqueue(&items("release", 3)).await.expect("enqueue");
    let claimed = claim_all(&engine, 10).await;
    assert_eq!(claimed.len(), 3);
    engine
        .release(&tokens(&claimed[..2]))
        .await
        .expect("release");
    assert_eq!(engine.counts().await.expect("counts"), counts(2, 0, 1, 0));

    // EVENTUALLY is far shorter than LONG_LEASE, so these come from the release.
    let mut back = Vec::new();
    while back.len() < 2 {
        let got = engine
            .claim(10, LONG_LEASE, EVENTUALLY)
            .await
            .expect("claim");
        assert!(!got.is_empty(), "released entries were not claimable");
        back.extend(got);
    }
    let mut back_texts = texts(&back);
    back_texts.sort();
    assert_eq!(back_texts, ["release-0", "release-1"]);
    assert!(
        back.iter().all(|c| c.deliveries == 1),
        "a release is not a delivery"
    );

    // Releasing the old tokens again (stale now) frees nothing.
    engine
        .release(&tokens(&claimed[..2]))
        .await
        .expect("release");
    assert_nothing_claimable(&engine).await;
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 3, 0));
    let mut all = tokens(&back);
    all.push(claimed[2].token.clone());
    assert_eq!(engine.ack(&all).await.expect("ack"), [true, true, true]);
}

/// Counts follow an entry through every state.
pub(crate) async fn counts_by_state(f: &impl Fixture) {
    let engine = f.open(options("counts")).await;
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
    engine.enqueue(&items("counts", 6)).await.expect("enqueue");
    assert_eq!(engine.counts().await.expect("counts"), counts(6, 0, 0, 0));
    let claimed = engine
        .claim(3, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 0, 3, 0));
    let later = SystemTime::now() + LONG_LEASE;
    assert!(engine
        .retry(&claimed[0].token, b"counts-0-retry", later)
        .await
        .expect("retry"));
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 1, 2, 0));
    assert!(engine
        .dead_letter(&claimed[1].token, &claimed[1].payload, "counted")
        .await
        .expect("dead_letter"));
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 1, 1, 1));
    assert_eq!(
        engine
            .ack(slice::from_ref(&claimed[2].token))
            .await
            .expect("ack"),
        [true]
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 1, 0, 1));
    // Reading changes nothing.
    assert_eq!(engine.pending(10).await.expect("pending").len(), 4);
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 1, 0, 1));
}

/// Bytes that are not an envelope are stored and claimed like anything else, unchanged.
pub(crate) async fn garbage_bytes(f: &impl Fixture) {
    let engine = f.open(options("garbage")).await;
    let payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not an envelope".to_vec(),
        b"SQ\x01".to_vec(),
        b"{\"v\": 99".to_vec(),
        (0..=255u8).collect(),
        vec![0xFF; 300_000],
        b"\0\0\0".to_vec(),
    ];
    let batch: Vec<Outgoing> = payloads.iter().cloned().map(item).collect();
    engine.enqueue(&batch).await.expect("enqueue");
    let pending: Vec<Vec<u8>> = engine
        .pending(100)
        .await
        .expect("pending")
        .into_iter()
        .map(|e| e.payload)
        .collect();
    assert_eq!(pending, payloads);
    let claimed = claim_all(&engine, 3).await;
    let got: Vec<Vec<u8>> = claimed.iter().map(|c| c.payload.clone()).collect();
    assert_eq!(got, payloads);
    let acks = engine.ack(&tokens(&claimed)).await.expect("ack");
    assert_eq!(acks, vec![true; payloads.len()]);
}

/// Two queues never see each other's entries.
pub(crate) async fn queues_are_independent(f: &impl Fixture) {
    let a = f.open(options("indep-a")).await;
    let b = f.open(options("indep-b")).await;
    a.enqueue(&items("a", 2)).await.expect("enqueue");
    b.enqueue(&items("b", 1)).await.expect("enqueue");
    assert_eq!(a.counts().await.expect("counts"), counts(2, 0, 0, 0));
    assert_eq!(b.counts().await.expect("counts"), counts(1, 0, 0, 0));

    let from_b = claim_all(&b, 10).await;
    assert_eq!(texts(&from_b), ["b-0"]);
    assert!(b
        .dead_letter(&from_b[0].token, &from_b[0].payload, "b only")
        .await
        .expect("dead_letter"));
    assert!(a.dead(10).await.expect("dead").is_empty());
    assert_eq!(a.replay_dead(None).await.expect("replay"), 0);
    assert_eq!(a.purge_dead().await.expect("purge_dead"), 0);
    assert_eq!(b.counts().await.expect("counts"), counts(0, 0, 0, 1));

    assert_eq!(b.purge_pending().await.expect("purge_pending"), 0);
    assert_eq!(a.counts().await.expect("counts"), counts(2, 0, 0, 0));
    let from_a = claim_all(&a, 10).await;
    assert_eq!(texts(&from_a), ["a-0", "a-1"]);
}

/// Two claimers on two handles of one queue, racing over 2000 entries: every entry is claimed
/// and acknowledged exactly once.
pub(crate) async fn concurrent_claimers(f: &impl Fixture) {
    const TOTAL: usize = 2000;
    let opts = options("race");
    let handles = [f.open(opts.clone()).await, f.open(opts).await];
    for chunk in items("race", TOTAL).chunks(500) {
        handles[0].enqueue(chunk).await.expect("enqueue");
    }

    let acked = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut tasks = Vec::new();
    for engine in handles.iter() {
        let engine = engine.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while acked.load(Ordering::SeqCst) < TOTAL {
                assert!(Instant::now() < deadline, "the claimers stalled");
                let got = engine
                    .claim(25, LONG_LEASE, Duration::from_millis(200))
                    .await
                    .expect("claim");
                if got.is_empty() {
                    continue;
                }
                let answers = engine.ack(&tokens(&got)).await.expect("ack");
                assert!(
                    answers.iter().all(|ok| *ok),
                    "an ack of a live claim was refused"
                );
                acked.fetch_add(got.len(), Ordering::SeqCst);
                mine.extend(texts(&got));
            }
            mine
        }));
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        for payload in task.await.expect("claimer task") {
            *seen.entry(payload).or_default() += 1;
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "claimed more than once: {twice:?}");
    assert_eq!(seen.len(), TOTAL, "every entry is claimed");
    assert_eq!(
        handles[1].counts().await.expect("counts"),
        Counts::default()
    );
}

/// Tick `minute` of a made-up schedule: whole minutes from a fixed time, as cron ticks are.
pub(crate) fn tick_at(minute: u64) -> SystemTime {
    from_unix_ms(1_700_000_000_000 + minute * 60_000)
}

/// The engine's [`Ticks`], or `None` (said on stderr) when it has none, so a check skips.
pub(crate) fn ticks_of(engine: &SharedEngine) -> Option<&dyn Ticks> {
    let ticks = engine.ticks();
    if ticks.is_none() {
        eprintln!("{} has no ticks(): skipping the check", engine.describe());
    }
    ticks
}

/// A tick enqueued twice (in sequence) is enqueued once, and answers `true` once; `last_tick`
/// is `None` before any tick and the tick after.
pub(crate) async fn tick_enqueued_once(f: &impl Fixture) {
    let engine = f.open(options("tick-once")).await;
    let Some(ticks) = ticks_of(&engine) else {
        return;
    };
    assert_eq!(ticks.last_tick("daily").await.expect("last_tick"), None);
    assert!(ticks
        .enqueue_tick("daily", tick_at(1), &item("daily-1"))
        .await
        .expect("enqueue_tick"));
    assert!(!ticks
        .enqueue_tick("daily", tick_at(1), &item("daily-1-again"))
        .await
        .expect("enqueue_tick"));
    assert_eq!(
        ticks.last_tick("daily").await.expect("last_tick"),
        Some(tick_at(1))
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(1, 0, 0, 0));
    let claimed = claim_all(&engine, 10).await;
    assert_eq!(texts(&claimed), ["daily-1"]);
    // Claimed and acknowledged, the tick is still remembered.
    engine.ack(&tokens(&claimed)).await.expect("ack");
    assert!(!ticks
        .enqueue_tick("daily", tick_at(1), &item("daily-1-late"))
        .await
        .expect("enqueue_tick"));
    assert_nothing_claimable(&engine).await;
}

/// Other ticks of a schedule, and the same tick of other schedules, are enqueued each once;
/// `last_tick` is the latest tick, not the last one asked for.
pub(crate) async fn ticks_are_independent(f: &impl Fixture) {
    let engine = f.open(options("tick-indep")).await;
    let Some(ticks) = ticks_of(&engine) else {
        return;
    };
    for (schedule, minute, payload) in [
        ("hourly", 5, "hourly-5"),
        ("hourly", 6, "hourly-6"),
        ("nightly", 5, "nightly-5"),
        // An earlier tick, as a worker catching up after downtime asks for.
        ("hourly", 4, "hourly-4"),
    ] {
        assert!(
            ticks
                .enqueue_tick(schedule, tick_at(minute), &item(payload))
                .await
                .expect("enqueue_tick"),
            "{payload} is a new tick"
        );
    }
    assert!(!ticks
        .enqueue_tick("nightly", tick_at(5), &item("nightly-5-again"))
        .await
        .expect("enqueue_tick"));
    assert_eq!(
        ticks.last_tick("hourly").await.expect("last_tick"),
        Some(tick_at(6))
    );
    assert_eq!(
        ticks.last_tick("nightly").await.expect("last_tick"),
        Some(tick_at(5))
    );
    assert_eq!(ticks.last_tick("weekly").await.expect("last_tick"), None);
    let claimed = claim_all(&engine, 10).await;
    assert_eq!(
        texts(&claimed),
        ["hourly-5", "hourly-6", "nightly-5", "hourly-4"]
    );
    // Another queue has ticks of its own.
    let other = f.open(options("tick-indep-other")).await;
    let other_ticks = other.ticks().expect("the same engine kind has ticks");
    assert_eq!(
        other_ticks.last_tick("hourly").await.expect("last_tick"),
        None
    );
    assert!(other_ticks
        .enqueue_tick("hourly", tick_at(5), &item("other-hourly-5"))
        .await
        .expect("enqueue_tick"));
}

/// Eight tasks on two handles of one queue (as workers in two processes) ask for the same tick
/// at once: exactly one of them enqueues it.
pub(crate) async fn concurrent_ticks(f: &impl Fixture) {
    let opts = options("tick-race");
    let handles = [f.open(opts.clone()).await, f.open(opts).await];
    if ticks_of(&handles[0]).is_none() {
        return;
    }
    for round in 0..3u64 {
        let start = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for task in 0..8 {
            let engine = handles[task % 2].clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                let entry = item(format!("race-{round}-by-{task}"));
                start.wait().await;
                let ticks = engine.ticks().expect("ticks");
                ticks
                    .enqueue_tick("every-minute", tick_at(round), &entry)
                    .await
                    .expect("enqueue_tick")
            }));
        }
        let mut enqueued = 0;
        for task in tasks {
            if task.await.expect("tick task") {
                enqueued += 1;
            }
        }
        assert_eq!(enqueued, 1, "round {round}: one `true` among the 8 tasks");
        let claimed = claim_all(&handles[1], 10).await;
        assert_eq!(claimed.len(), 1, "round {round}: {:?}", texts(&claimed));
        assert!(texts(&claimed)[0].starts_with(&format!("race-{round}-by-")));
    }
    let ticks = handles[1].ticks().expect("ticks");
    assert_eq!(
        ticks.last_tick("every-minute").await.expect("last_tick"),
        Some(tick_at(2))
    );
}

/// A tick is remembered by a handle opened afterwards (a restarted worker).
pub(crate) async fn ticks_survive_reopening(f: &impl Fixture) {
    let opts = options("tick-reopen");
    let first = f.open(opts.clone()).await;
    let Some(ticks) = ticks_of(&first) else {
        return;
    };
    assert!(ticks
        .enqueue_tick("daily", tick_at(7), &item("daily-7"))
        .await
        .expect("enqueue_tick"));
    drop(first);
    let reopened = f.open(opts).await;
    let ticks = reopened.ticks().expect("ticks");
    assert_eq!(
        ticks.last_tick("daily").await.expect("last_tick"),
        Some(tick_at(7))
    );
    assert!(!ticks
        .enqueue_tick("daily", tick_at(7), &item("daily-7-after-restart"))
        .await
        .expect("enqueue_tick"));
    assert_eq!(texts(&claim_all(&reopened, 10).await), ["daily-7"]);
}

/// A tick's entry with a due time waits for it, as a delayed send does.
pub(crate) async fn delayed_tick(f: &impl Fixture) {
    let engine = f.open(options("tick-delayed")).await;
    let Some(ticks) = ticks_of(&engine) else {
        return;
    };
    let due = SystemTime::now() + Duration::from_secs(1);
    let entry = item("delayed-tick").not_before(Some(due));
    assert!(ticks
        .enqueue_tick("daily", tick_at(9), &entry)
        .await
        .expect("enqueue_tick"));
    // Only asserted while the due time is still ahead (a loaded machine may stall here).
    let counted = engine.counts().await.expect("counts");
    if SystemTime::now() < due {
        assert_eq!(counted, counts(0, 1, 0, 0));
    }
    let got = claim_one(&engine, LONG_LEASE).await;
    // Within the millisecond rounding of stored times.
    assert!(
        SystemTime::now() + Duration::from_millis(5) >= due,
        "claimed before its due time"
    );
    assert_eq!(got.payload, b"delayed-tick");
}

/// Heartbeats: a beat lists the worker with what it said, a later beat replaces it, a beat
/// expires by itself, `leave` removes it at once, two handles see the same workers, and
/// queues do not see each other's.
pub(crate) async fn heartbeats_list_live_workers(f: &impl Fixture) {
    let opts = options("heartbeats");
    let engine = f.open(opts.clone()).await;
    let Some(beats) = engine.heartbeats() else {
        eprintln!(
            "{} has no heartbeats(): skipping the check",
            engine.describe()
        );
        return;
    };
    let other_handle = f.open(opts).await;
    let other_queue = f.open(options("heartbeats-other")).await;
    let listed = |engine: SharedEngine| async move {
        let mut workers: Vec<(String, String)> = engine
            .heartbeats()
            .expect("heartbeats")
            .workers()
            .await
            .expect("workers")
            .into_iter()
            .map(|b| (b.worker, String::from_utf8_lossy(&b.info).into_owned()))
            .collect();
        workers.sort();
        workers
    };
    assert!(listed(engine.clone()).await.is_empty());
    beats.beat("w1", b"one", LONG_LEASE).await.expect("beat");
    beats.beat("w2", b"two", LONG_LEASE).await.expect("beat");
    beats
        .beat("w1", b"one again", LONG_LEASE)
        .await
        .expect("beat");
    let both = vec![
        ("w1".to_string(), "one again".to_string()),
        ("w2".to_string(), "two".to_string()),
    ];
    assert_eq!(listed(engine.clone()).await, both);
    assert_eq!(listed(other_handle.clone()).await, both, "another handle");
    assert!(listed(other_queue).await.is_empty(), "another queue");

    beats.leave("w2").await.expect("leave");
    assert_eq!(listed(engine.clone()).await, vec![both[0].clone()]);

    // A short beat drops out by itself; the long one stays.
    let start = Instant::now();
    beats.beat("w3", b"short", SHORT_LEASE).await.expect("beat");
    let seen = listed(engine.clone()).await;
    if start.elapsed() < SHORT_LEASE / 2 {
        assert!(seen.iter().any(|(w, _)| w == "w3"), "{seen:?}");
    }
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let now = listed(engine.clone()).await;
        if now == vec![both[0].clone()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the short beat never expired: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The engine's [`Browse`], or `None` (said on stderr) when it has none.
pub(crate) fn browse_of(engine: &SharedEngine) -> Option<&dyn Browse> {
    let browse = engine.browse();
    if browse.is_none() {
        eprintln!("{} has no browse(): skipping the check", engine.describe());
    }
    browse
}

/// Every entry of `section`, page after page of `limit`: no page is longer than `limit`, only
/// the last one is shorter, and no key comes twice.
pub(crate) async fn browse_all(browse: &dyn Browse, section: Section, limit: usize) -> Vec<Listed> {
    let mut all: Vec<Listed> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = browse
            .page(section, after.as_deref(), limit)
            .await
            .expect("page");
        assert!(page.entries.len() <= limit, "a page longer than `limit`");
        for listed in &page.entries {
            assert_eq!(listed.section, section, "{listed:?}");
            assert!(
                all.iter().all(|seen| seen.key != listed.key),
                "{section:?}: key {} listed twice",
                listed.key
            );
        }
        all.extend(page.entries.iter().cloned());
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.entries.len(),
                    limit,
                    "a short page that is not the last"
                );
                after = Some(next);
            }
            None => return all,
        }
    }
}

/// The payloads of listed entries, as strings, sorted.
pub(crate) fn listed_texts(listed: &[Listed]) -> Vec<String> {
    let mut texts: Vec<String> = listed
        .iter()
        .map(|l| String::from_utf8_lossy(&l.payload).into_owned())
        .collect();
    texts.sort();
    texts
}

/// The listed entry whose payload is `payload`.
pub(crate) fn listed_with<'a>(listed: &'a [Listed], payload: &str) -> &'a Listed {
    listed
        .iter()
        .find(|l| l.payload == payload.as_bytes())
        .unwrap_or_else(|| panic!("`{payload}` is not listed in {listed:?}"))
}

/// `a` and `b` are the same time within `slack` (stores keep milliseconds, or microseconds).
pub(crate) fn near(a: SystemTime, b: SystemTime, slack: Duration) -> bool {
    let gap = a.duration_since(b).or_else(|_| b.duration_since(a));
    gap.is_ok_and(|gap| gap <= slack)
}

/// Browsing lists every entry in the section `counts` puts it in, exactly once across page
/// boundaries: delayed sends, a retry and a split piece waiting for their time are scheduled
/// with their due time (never pending), a claimed entry is in flight with this process as its
/// holder, its claim's start and its lease deadline, dead letters carry their reason.
pub(crate) async fn browse_sections_agree_with_counts(f: &impl Fixture) {
    let engine = f.open(options("browse-sections")).await;
    let Some(browse) = browse_of(&engine) else {
        return;
    };
    let empty = browse.page(Section::Pending, None, 10).await.expect("page");
    assert!(empty.entries.is_empty() && empty.next.is_none());

    engine.enqueue(&items("browse", 8)).await.expect("enqueue");
    let claim_started = SystemTime::now();
    let claimed = engine
        .claim(4, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    let claim_returned = SystemTime::now();
    assert_eq!(claimed.len(), 4);
    let hour = Duration::from_secs(3600);
    let retry_due = SystemTime::now() + hour;
    assert!(engine
        .retry(&claimed[0].token, b"browse-0-retry", retry_due)
        .await
        .expect("retry"));
    assert!(engine
        .dead_letter(&claimed[1].token, &claimed[1].payload, "browse-1 gave up")
        .await
        .expect("dead_letter"));
    let piece_due = SystemTime::now() + 3 * hour;
    assert!(engine
        .split(
            &claimed[3].token,
            &[item("browse-3-later").not_before(Some(piece_due))],
            &[dead_letter("browse-3-dead", "browse-3 piece gave up")],
        )
        .await
        .expect("split"));
    let sent_due: Vec<SystemTime> = (0..3)
        .map(|i| SystemTime::now() + 2 * hour + Duration::from_secs(i))
        .collect();
    let sent: Vec<Outgoing> = sent_due
        .iter()
        .enumerate()
        .map(|(i, due)| delayed(format!("browse-delayed-{i}"), *due))
        .collect();
    engine.enqueue(&sent).await.expect("enqueue");
    assert_eq!(engine.counts().await.expect("counts"), counts(4, 5, 1, 2));

    for limit in [1, 2, 3, 100] {
        let pending = browse_all(browse, Section::Pending, limit).await;
        assert_eq!(
            listed_texts(&pending),
            ["browse-4", "browse-5", "browse-6", "browse-7"],
            "pending, pages of {limit}"
        );
        for listed in &pending {
            assert!(listed.due.is_none() && listed.holder.is_none() && listed.death.is_none());
        }

        let scheduled = browse_all(browse, Section::Scheduled, limit).await;
        assert_eq!(
            listed_texts(&scheduled),
            [
                "browse-0-retry",
                "browse-3-later",
                "browse-delayed-0",
                "browse-delayed-1",
                "browse-delayed-2"
            ],
            "scheduled, pages of {limit}"
        );
        let dues: Vec<SystemTime> = scheduled
            .iter()
            .map(|l| l.due.unwrap_or_else(|| panic!("no due time: {l:?}")))
            .collect();
        assert!(
            dues.windows(2).all(|w| w[0] <= w[1]),
            "by due time: {dues:?}"
        );
        // Engines that reckon due times on a server's clock (Redis, PostgreSQL) turn them into
        // delays when sent: the round trip moves them a little.
        let slack = Duration::from_secs(1);
        let due_of = |payload: &str| listed_with(&scheduled, payload).due.expect("due");
        assert!(near(due_of("browse-0-retry"), retry_due, slack));
        assert!(near(due_of("browse-3-later"), piece_due, slack));
        for (i, due) in sent_due.iter().enumerate() {
            assert!(near(due_of(&format!("browse-delayed-{i}")), *due, slack));
        }
        // Where the engine counts deliveries: the retry was claimed once, the others never.
        for listed in &scheduled {
            let claimed_before = u32::from(listed.payload == b"browse-0-retry");
            if let Some(deliveries) = listed.deliveries {
                assert_eq!(deliveries, claimed_before, "{listed:?}");
            }
        }

        let in_flight = browse_all(browse, Section::InFlight, limit).await;
        assert_eq!(
            listed_texts(&in_flight),
            ["browse-2"],
            "in flight, pages of {limit}"
        );
        assert_eq!(in_flight[0].key, claimed[2].token.key);
        let holder = in_flight[0].holder.clone().expect("a holder");
        assert_eq!(holder.worker.as_deref(), Some(consumer_id()));
        // The engine's clock may be a server's on this machine: allow a little skew.
        let skew = Duration::from_secs(1);
        let since = holder.since.expect("since");
        assert!(
            since + skew >= claim_started && since <= claim_returned + skew,
            "claimed at {since:?}, between {claim_started:?} and {claim_returned:?}"
        );
        assert!(
            near(holder.lease_until, since + LONG_LEASE, skew),
            "{holder:?}"
        );
        if let Some(deliveries) = in_flight[0].deliveries {
            assert_eq!(deliveries, 1);
        }

        let dead = browse_all(browse, Section::Dead, limit).await;
        assert_eq!(
            listed_texts(&dead),
            ["browse-1", "browse-3-dead"],
            "dead, pages of {limit}"
        );
        let death = listed_with(&dead, "browse-3-dead")
            .death
            .clone()
            .expect("death");
        assert_eq!(death.reason, "browse-3 piece gave up");
        assert!(death.died_at + skew >= claim_started && death.died_at <= SystemTime::now() + skew);
    }
    assert_eq!(
        engine.counts().await.expect("counts"),
        counts(4, 5, 1, 2),
        "browsing changes nothing"
    );
}

/// An entry whose lease ran out is claimable again: browsed as pending, as `counts` counts
/// it, with no holder; so is a delayed send come due, and pages cover them all.
pub(crate) async fn browse_expired_lease_is_pending(f: &impl Fixture) {
    let engine = f.open(options("browse-expired")).await;
    let Some(browse) = browse_of(&engine) else {
        return;
    };
    engine.enqueue(&[item("expired-0")]).await.expect("enqueue");
    let claimed = claim_one(&engine, SHORT_LEASE).await;
    let due = SystemTime::now() + SHORT_LEASE;
    engine
        .enqueue(&[item("ready-0"), delayed("due-0", due)])
        .await
        .expect("enqueue");
    tokio::time::sleep(SHORT_LEASE * 3).await;
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 0, 0, 0));
    for limit in [1, 2, 10] {
        let pending = browse_all(browse, Section::Pending, limit).await;
        assert_eq!(listed_texts(&pending), ["due-0", "expired-0", "ready-0"]);
    }
    let pending = browse_all(browse, Section::Pending, 10).await;
    let expired = listed_with(&pending, "expired-0");
    assert_eq!(expired.key, claimed.token.key);
    assert!(expired.holder.is_none());
    assert!(browse_all(browse, Section::InFlight, 10).await.is_empty());
    let found = browse.find(&claimed.token.key).await.expect("find");
    assert_eq!(found.map(|l| l.section), Some(Section::Pending));
}

/// `find` returns an entry in whichever section it is, with the details its page shows, and
/// `None` for keys that name nothing.
pub(crate) async fn browse_find(f: &impl Fixture) {
    let engine = f.open(options("browse-find")).await;
    let Some(browse) = browse_of(&engine) else {
        return;
    };
    let due = SystemTime::now() + Duration::from_secs(3600);
    engine
        .enqueue(&[
            item("find-pending"),
            item("find-held"),
            item("find-dead"),
            delayed("find-later", due),
        ])
        .await
        .expect("enqueue");
    let claimed = engine
        .claim(3, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(texts(&claimed), ["find-pending", "find-held", "find-dead"]);
    engine
        .release(&[claimed[0].token.clone()])
        .await
        .expect("release");
    assert!(engine
        .dead_letter(&claimed[2].token, &claimed[2].payload, "found dead")
        .await
        .expect("dead_letter"));
    let mut seen = 0;
    for section in Section::ALL {
        for listed in browse_all(browse, section, 10).await {
            let found = browse
                .find(&listed.key)
                .await
                .expect("find")
                .unwrap_or_else(|| panic!("{listed:?} not found"));
            assert_eq!(found.key, listed.key);
            assert_eq!(found.section, section, "{found:?}");
            assert_eq!(found.payload, listed.payload);
            assert_eq!(found.due, listed.due);
            assert_eq!(found.holder, listed.holder);
            assert_eq!(found.death, listed.death);
            seen += 1;
        }
    }
    assert_eq!(seen, 4);
    for nothing in ["no-such-key", "999999999", ""] {
        assert!(
            browse.find(nothing).await.expect("find").is_none(),
            "`{nothing}` names an entry"
        );
    }
}

/// `delete` removes pending, scheduled and dead entries by key, and skips keys that are not in
/// the section named: an entry claimed meanwhile stays with its worker.
pub(crate) async fn browse_delete(f: &impl Fixture) {
    let engine = f.open(options("browse-delete")).await;
    let Some(browse) = browse_of(&engine) else {
        return;
    };
    let due = SystemTime::now() + Duration::from_secs(3600);
    engine
        .enqueue(&[
            item("delete-held"),
            item("delete-dead"),
            item("delete-pending-0"),
            item("delete-pending-1"),
            delayed("delete-later", due),
        ])
        .await
        .expect("enqueue");
    // Listed while pending, then claimed before the delete comes.
    let listed = browse_all(browse, Section::Pending, 10).await;
    let held_key = listed_with(&listed, "delete-held").key.clone();
    let claimed = engine
        .claim(2, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(texts(&claimed), ["delete-held", "delete-dead"]);
    assert!(engine
        .dead_letter(&claimed[1].token, &claimed[1].payload, "to be deleted")
        .await
        .expect("dead_letter"));
    let key_in = |section: Section, payload: &'static str| async move {
        listed_with(&browse_all(browse, section, 10).await, payload)
            .key
            .clone()
    };
    let pending_key = key_in(Section::Pending, "delete-pending-0").await;
    let other_pending_key = key_in(Section::Pending, "delete-pending-1").await;
    let scheduled_key = key_in(Section::Scheduled, "delete-later").await;
    let dead_key = key_in(Section::Dead, "delete-dead").await;

    let delete = |section: Section, keys: Vec<String>| async move {
        browse.delete(section, &keys).await.expect("delete")
    };
    assert_eq!(
        delete(Section::Pending, vec![held_key.clone()]).await,
        0,
        "claimed meanwhile"
    );
    assert_eq!(
        delete(Section::InFlight, vec![held_key.clone()]).await,
        0,
        "in flight"
    );
    assert_eq!(
        delete(Section::Scheduled, vec![pending_key.clone()]).await,
        0,
        "wrong section"
    );
    assert_eq!(
        delete(Section::Dead, vec![scheduled_key.clone()]).await,
        0,
        "wrong section"
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(2, 1, 1, 1));

    assert_eq!(
        delete(
            Section::Pending,
            vec![pending_key.clone(), "no-such-key".into()]
        )
        .await,
        1
    );
    assert_eq!(
        delete(Section::Scheduled, vec![scheduled_key.clone()]).await,
        1
    );
    assert_eq!(delete(Section::Dead, vec![dead_key.clone()]).await, 1);
    assert_eq!(
        delete(Section::Dead, vec![dead_key.clone()]).await,
        0,
        "gone already"
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(1, 0, 1, 0));
    for key in [&pending_key, &scheduled_key, &dead_key] {
        assert!(
            browse.find(key).await.expect("find").is_none(),
            "{key} still found"
        );
    }
    assert_eq!(
        browse
            .find(&other_pending_key)
            .await
            .expect("find")
            .map(|l| l.section),
        Some(Section::Pending)
    );
    // The worker's claim was left alone.
    assert_eq!(
        engine.ack(&[claimed[0].token.clone()]).await.expect("ack"),
        [true]
    );
    assert_eq!(texts(&claim_all(&engine, 10).await), ["delete-pending-1"]);
}

/// Deleting pending entries while another handle claims them: every entry ends either deleted
/// or claimed, never both, and each claim still finishes.
pub(crate) async fn browse_delete_races_claims(f: &impl Fixture) {
    let opts = options("browse-race");
    let engine = f.open(opts.clone()).await;
    let Some(browse) = browse_of(&engine) else {
        return;
    };
    let claimer = f.open(opts).await;
    const N: usize = 200;
    engine.enqueue(&items("race", N)).await.expect("enqueue");
    let keys: Vec<String> = browse_all(browse, Section::Pending, 50)
        .await
        .into_iter()
        .map(|l| l.key)
        .collect();
    assert_eq!(keys.len(), N);
    let claims = tokio::spawn(async move {
        let mut claimed = Vec::new();
        loop {
            let got = claimer
                .claim(7, LONG_LEASE, Duration::ZERO)
                .await
                .expect("claim");
            if got.is_empty() {
                return (claimer, claimed);
            }
            claimed.extend(got);
        }
    });
    let mut deleted = 0;
    // From the back, so deletions and claims meet in the middle.
    for chunk in keys.rchunks(5) {
        deleted += browse
            .delete(Section::Pending, chunk)
            .await
            .expect("delete");
    }
    let (claimer, claimed) = claims.await.expect("claim task");
    assert_eq!(
        deleted + claimed.len() as u64,
        N as u64,
        "{deleted} deleted, {} claimed",
        claimed.len()
    );
    assert_eq!(
        claimer.ack(&tokens(&claimed)).await.expect("ack"),
        vec![true; claimed.len()],
        "a claimed entry was deleted under its worker"
    );
    assert_eq!(engine.counts().await.expect("counts"), Counts::default());
}

/// `run_now` makes a scheduled entry (a delayed send, a retry) claimable at once, waking a
/// claim that waits, and skips entries that are not scheduled.
pub(crate) async fn browse_run_now(f: &impl Fixture) {
    let engine = f.open(options("browse-run-now")).await;
    let Some(browse) = browse_of(&engine) else {
        return;
    };
    let later = SystemTime::now() + Duration::from_secs(3600);
    engine
        .enqueue(&[
            item("now-0"),
            delayed("later-0", later),
            delayed("later-1", later),
        ])
        .await
        .expect("enqueue");
    let retried = claim_one(&engine, LONG_LEASE).await;
    assert!(engine
        .retry(&retried.token, b"now-0-retry", later)
        .await
        .expect("retry"));
    assert_nothing_claimable(&engine).await;
    let scheduled = browse_all(browse, Section::Scheduled, 10).await;
    assert_eq!(
        listed_texts(&scheduled),
        ["later-0", "later-1", "now-0-retry"]
    );
    let key_of = |payload: &str| listed_with(&scheduled, payload).key.clone();

    assert_eq!(
        browse
            .run_now(&[
                key_of("now-0-retry"),
                key_of("later-0"),
                "no-such-key".into()
            ])
            .await
            .expect("run_now"),
        2
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(2, 1, 0, 0));
    let mut moved = texts(&claim_all(&engine, 10).await);
    moved.sort();
    assert_eq!(moved, ["later-0", "now-0-retry"]);
    assert_eq!(
        browse.run_now(&[key_of("later-0")]).await.expect("run_now"),
        0,
        "no longer scheduled"
    );

    // A claim already waiting gets the entry run now.
    let waiting = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.claim(1, LONG_LEASE, EVENTUALLY).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        browse.run_now(&[key_of("later-1")]).await.expect("run_now"),
        1
    );
    let woken = waiting.await.expect("claim task").expect("claim");
    assert_eq!(texts(&woken), ["later-1"]);
}

/// Generates one `#[tokio::test]` per contract check. `$fixture` is an `async fn() -> impl
/// Fixture` called afresh by every test. With `optional:` it is an `async fn() -> Option<impl
/// Fixture>`, and a test whose fixture is `None` (a server that is not there, said loudly by
/// the fixture) passes without checking anything.
macro_rules! engine_contract_tests {
    (optional: $fixture:path) => {
        $crate::contract::engine_contract_tests!(@checks @optional $fixture);
    };
    // Every check, one after the other, on one fixture (an expression), inside an async fn:
    // for a server too costly to start per check. The same list as the tests, so none is left
    // out by hand.
    (in_sequence: $fixture:expr) => {
        $crate::contract::engine_contract_tests!(@checks @in_sequence $fixture)
    };
    ($fixture:path) => {
        $crate::contract::engine_contract_tests!(@checks @each $fixture);
    };
    (@checks @$how:ident $fixture:tt) => {
        $crate::contract::engine_contract_tests!(
            @$how $fixture;
            basics,
            fifo_order,
            batch_of_1000,
            claim_waits,
            lease_expiry,
            expired_lease_is_refused,
            stale_token_is_refused,
            ack_answers_per_token,
            ack_and_claim_takes_the_next_entries,
            renew_extends_lease,
            retry_schedules,
            retries_reach_other_claimers,
            split_replaces_a_claim,
            delayed_sends,
            delayed_in_a_mixed_batch,
            dead_letter_keeps_bytes,
            dead_letters_are_capped,
            dead_letters_expire,
            replay_dead,
            purge,
            release,
            counts_by_state,
            garbage_bytes,
            queues_are_independent,
            concurrent_claimers,
            tick_enqueued_once,
            ticks_are_independent,
            concurrent_ticks,
            ticks_survive_reopening,
            delayed_tick,
            heartbeats_list_live_workers,
            browse_sections_agree_with_counts,
            browse_expired_lease_is_pending,
            browse_find,
            browse_delete,
            browse_delete_races_claims,
            browse_run_now,
        );
    };
    (@each $fixture:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture = $fixture().await;
                $crate::contract::$check(&fixture).await;
            }
        )*
    };
    (@in_sequence $fixture:tt; $($check:ident),* $(,)?) => {
        $(
            $crate::contract::$check($fixture).await;
        )*
    };
    (@optional $fixture:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                if let Some(fixture) = $fixture().await {
                    $crate::contract::$check(&fixture).await;
                }
            }
        )*
    };
}
pub(crate) use engine_contract_tests;
