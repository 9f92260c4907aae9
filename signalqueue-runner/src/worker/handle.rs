//! One claimed entry: decode it, run the receivers it owes, and decide what becomes of it
//! (acknowledge it; retry each failed receiver later, or dead-letter it, on its own; give back
//! what this worker cannot run; or dead-letter the whole entry with the reason).
//!
//! Deciding is kept apart from telling the engine (`settle.rs`) so that every rule here reads
//! as a plain function of the entry and the receivers' outcomes.

use std::time::{Duration, SystemTime};

use signalqueue::__private::{describe_missing, prepare, run_receivers, PrepareError, Prepared};
use signalqueue::config::WorkerConfig;
use signalqueue::engine::Claimed;
use signalqueue::{Delivery, Envelope, EnvelopeId, Outcome, ReceiverDef, Registry};

use crate::metrics::{Metrics, RunResult};
use crate::worker::backoff::retry_delay;
use crate::worker::unknown::{due_since, give_back_for};

/// An entry claimed this many more times than its envelope's attempt says is poison: it was
/// taken again and again without any worker getting to retry or finish it, so it crashes or
/// hangs the workers that take it (a lease that expires only while its worker lives is renewed,
/// so one slow receiver does not count). A few redeliveries from ordinary worker restarts stay
/// below the margin.
pub(crate) const POISON_MARGIN: u32 = 5;

/// The name metrics and logs use for an entry that is not an envelope at all.
pub(crate) const MALFORMED_SIGNAL: &str = "<malformed>";

/// The name metrics use for a signal not linked into this worker.
pub(crate) const UNKNOWN_SIGNAL: &str = "<unknown>";

/// Why an entry was dead-lettered, in one word (the `reason` label of the metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadKind {
    /// Receivers failed and used up their retries.
    Receiver,
    /// The arguments do not decode: the signal's argument types changed since it was sent, or
    /// a producer in another language sent the wrong shape.
    Decode,
    /// No worker that claimed it within `unknown_grace` links a signal of that wire name.
    UnknownSignal,
    /// No worker that claimed it within `unknown_grace` links the receiver it owes.
    UnknownReceiver,
    /// The bytes are not an envelope.
    Malformed,
    /// Claimed over and over without finishing: it crashes or hangs workers.
    Poison,
}

impl DeadKind {
    /// The word used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadKind::Receiver => "receiver",
            DeadKind::Decode => "decode",
            DeadKind::UnknownSignal => "unknown_signal",
            DeadKind::UnknownReceiver => "unknown_receiver",
            DeadKind::Malformed => "malformed",
            DeadKind::Poison => "poison",
        }
    }
}

impl DeadKind {
    /// The kind of a dead letter from its reason, as the worker words them (the engines keep
    /// the reason, not the kind); `None` for a reason this build does not write. Kept here,
    /// beside the reasons' wording, so that the two change together.
    pub fn of_reason(reason: &str) -> Option<DeadKind> {
        if reason.starts_with("gave up after ") {
            Some(DeadKind::Receiver)
        } else if reason.starts_with("malformed entry: ") {
            Some(DeadKind::Malformed)
        } else if reason.starts_with("claimed ") && reason.contains(" without finishing") {
            Some(DeadKind::Poison)
        } else if reason.starts_with("no signal named ") {
            Some(DeadKind::UnknownSignal)
        } else if reason.starts_with('`')
            && reason.contains("` is owed this signal but is not linked")
        {
            Some(DeadKind::UnknownReceiver)
        } else if reason.starts_with("signal `") {
            Some(DeadKind::Decode)
        } else {
            None
        }
    }
}

/// What to do with a claim once its receivers ran.
#[derive(Debug)]
pub(crate) enum Disposition {
    /// Everything owed ran successfully: the entry is done.
    Ack,
    /// The entry is replaced by its pieces: each failed receiver retried or dead-lettered on
    /// its own, what this worker cannot run given back; or the whole entry dead-lettered.
    Pieces(Pieces),
}

/// What a claim becomes when it is not simply acknowledged. Never empty.
#[derive(Debug, Default)]
pub(crate) struct Pieces {
    /// Receivers that failed and may try again, each in an entry of its own.
    pub(crate) retries: Vec<Retry>,
    /// Dead letters: one per receiver given up on, or the whole entry.
    pub(crate) dead: Vec<Dead>,
    /// What this worker cannot run, back in the queue unchanged but for what it owes.
    pub(crate) given_back: Option<GiveBack>,
}

/// One failed receiver's next attempt.
#[derive(Debug)]
pub(crate) struct Retry {
    pub(crate) receiver: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) not_before: SystemTime,
    pub(crate) delay: Duration,
    pub(crate) next_attempt: u32,
}

/// One dead letter.
#[derive(Debug)]
pub(crate) struct Dead {
    pub(crate) payload: Vec<u8>,
    pub(crate) reason: String,
    pub(crate) kind: DeadKind,
}

/// An entry given back without counting an attempt, for a worker that knows its signal or
/// links the receivers it owes.
#[derive(Debug)]
pub(crate) struct GiveBack {
    pub(crate) payload: Vec<u8>,
    pub(crate) delay: Duration,
    /// What was unknown, in one word (the metric's label): `unknown_signal`, `unknown_receiver`.
    pub(crate) unknown: &'static str,
    /// The name to warn about: the signal's, or the receivers'.
    pub(crate) name: String,
}

impl Pieces {
    fn dead(payload: Vec<u8>, reason: String, kind: DeadKind) -> Pieces {
        Pieces {
            dead: vec![Dead {
                payload,
                reason,
                kind,
            }],
            ..Pieces::default()
        }
    }
}

/// A claim's disposition, with what logs and metrics need to say which signal it was.
#[derive(Debug)]
pub(crate) struct Decision {
    /// The wire name, as the entry says (for logs).
    pub(crate) signal: String,
    /// The name for metrics' labels: a signal linked into this worker, else `<unknown>` (or
    /// `<malformed>`), so entries cannot grow the label set.
    pub(crate) metric_signal: &'static str,
    pub(crate) id: Option<EnvelopeId>,
    pub(crate) disposition: Disposition,
}

/// What handling needs besides the entry.
pub(crate) struct Context<'a> {
    pub(crate) registry: &'static Registry,
    pub(crate) settings: &'a WorkerConfig,
    pub(crate) metrics: &'a Metrics,
    pub(crate) queue: &'a str,
    /// This queue's `unknown_grace` (its own, else the worker's).
    pub(crate) unknown_grace: Duration,
}

/// A receiver that did not succeed this time, with its retry limit.
struct Failure {
    receiver: String,
    error: String,
    retries: u32,
}

/// Handles one claimed entry: never fails, every problem becomes a disposition.
pub(crate) async fn handle(claimed: &Claimed, cx: &Context<'_>) -> Decision {
    let envelope = match Envelope::decode(&claimed.payload) {
        Ok(e) => e,
        Err(e) => {
            return Decision {
                signal: MALFORMED_SIGNAL.into(),
                metric_signal: MALFORMED_SIGNAL,
                id: None,
                disposition: dead_raw(
                    claimed,
                    DeadKind::Malformed,
                    format!("malformed entry: {e}"),
                ),
            }
        }
    };
    let known = cx.registry.signal(&envelope.signal);
    let decision = |disposition| Decision {
        signal: envelope.signal.clone(),
        metric_signal: known.map_or(UNKNOWN_SIGNAL, |def| def.name),
        id: Some(envelope.id),
        disposition,
    };
    let now = SystemTime::now();
    let since = due_since(envelope.enqueued_at, envelope.scheduled_for);

    if claimed.deliveries > envelope.attempt.saturating_add(POISON_MARGIN) {
        return decision(dead_raw(
            claimed,
            DeadKind::Poison,
            format!(
                "claimed {} times for attempt {} without finishing: it crashes or hangs the workers that take it; \
                 find the receiver that dies on it, fix it, and replay",
                claimed.deliveries, envelope.attempt
            ),
        ));
    }

    let Some(def) = known else {
        // A rolling deploy: a newer sender, an older worker. Another worker may know it.
        if let Some(delay) = give_back_for(since, cx.unknown_grace, now) {
            return decision(Disposition::Pieces(Pieces {
                given_back: Some(GiveBack {
                    payload: claimed.payload.clone(),
                    delay,
                    unknown: "unknown_signal",
                    name: envelope.signal.clone(),
                }),
                ..Pieces::default()
            }));
        }
        return decision(dead_raw(
            claimed,
            DeadKind::UnknownSignal,
            format!(
                "no signal named `{}` is linked into the workers that claimed it within `unknown_grace` ({}) of its send; link the crate that declares it and replay",
                envelope.signal,
                humantime::format_duration(cx.unknown_grace)
            ),
        ));
    };

    let registered = cx.registry.receivers(def.name);
    let sender = envelope.sender.as_deref();
    let (to_run, missing): (Vec<&'static ReceiverDef>, Vec<String>) = match &envelope.owed {
        None => (
            registered
                .iter()
                .copied()
                .filter(|r| r.accepts_sender(sender))
                .collect(),
            Vec::new(),
        ),
        Some(owed) => (
            registered
                .iter()
                .copied()
                .filter(|r| r.accepts_sender(sender) && owed.iter().any(|o| o == r.name))
                .collect(),
            // A receiver renamed or unlinked since the retry was written: its work must not
            // vanish with an acknowledgement.
            owed.iter()
                .filter(|o| !registered.iter().any(|r| r.name == o.as_str()))
                .cloned()
                .collect(),
        ),
    };
    if to_run.is_empty() && !missing.is_empty() {
        // Nothing here to run: the arguments are not this worker's to judge either.
        return decision(decide(&envelope, Vec::new(), missing, cx, now));
    }
    let delivery = Delivery::new(envelope.id, def.name)
        .with_attempt(envelope.attempt)
        .with_sender(envelope.sender.clone())
        .with_enqueued_at(envelope.enqueued_at)
        .with_scheduled_for(envelope.scheduled_for);
    // An entry from another language without `enqueued_at_ms` has an unknown time (the Unix
    // epoch): it would count as a 56-year latency.
    let known_time = envelope.enqueued_at > SystemTime::UNIX_EPOCH;
    if envelope.attempt <= 1 && !to_run.is_empty() && known_time {
        // Retries would measure their own backoff, not the queue: only first attempts count.
        // A delayed send is measured from its due time: the delay was asked for.
        let since = envelope
            .scheduled_for
            .map_or(envelope.enqueued_at, |due| due.max(envelope.enqueued_at));
        let latency = SystemTime::now().duration_since(since).unwrap_or_default();
        cx.metrics.record_latency(def.name, latency);
    }
    // Decoded and its `Ref` arguments loaded, by the same step as `send_now`. Rows are loaded
    // only for receivers that will read them.
    let prepared = if to_run.is_empty() {
        def.decode_args(&envelope.args)
            .map(Prepared::Run)
            .map_err(PrepareError::Decode)
    } else {
        prepare(def, &envelope.args).await
    };
    let args = match prepared {
        Ok(Prepared::Run(args)) => args,
        Ok(Prepared::Skip(gone)) => {
            tracing::info!(
                queue = %cx.queue,
                signal = %envelope.signal,
                id = %envelope.id,
                missing = %describe_missing(&gone),
                "a referenced row is gone; acknowledged without running receivers (on_missing = \"skip\")"
            );
            return decision(Disposition::Ack);
        }
        Err(PrepareError::Decode(e)) => {
            return decision(dead_raw(
                claimed,
                DeadKind::Decode,
                format!("signal `{}`: {e}", envelope.signal),
            ))
        }
        Err(load @ PrepareError::Load(_)) => {
            // Not the receivers' fault, but theirs to wait for: each owed receiver is retried
            // with its own limit and backoff, as if it had failed, then dead-lettered with this.
            tracing::warn!(
                queue = %cx.queue,
                signal = %envelope.signal,
                id = %envelope.id,
                attempt = envelope.attempt,
                error = %load,
                "cannot load the signal's references"
            );
            let failures: Vec<Failure> = to_run
                .iter()
                .map(|r| Failure {
                    receiver: r.name.to_string(),
                    error: load.to_string(),
                    retries: r.retries.unwrap_or(cx.settings.retries),
                })
                .collect();
            return decision(decide(&envelope, failures, missing, cx, now));
        }
    };
    if to_run.is_empty() {
        tracing::info!(
            queue = %cx.queue,
            signal = %envelope.signal,
            id = %envelope.id,
            "no receiver in this worker takes this signal; acknowledged"
        );
    }

    let outcomes = run_receivers(&to_run, &delivery, args, cx.settings.receiver_timeout).await;

    let default_retries = cx.settings.retries;
    let mut failures = Vec::new();
    let mut took = std::time::Duration::ZERO;
    for run in &outcomes {
        let result = match &run.outcome {
            Outcome::Succeeded => RunResult::Succeeded,
            Outcome::Failed(_) => RunResult::Failed,
            Outcome::Panicked(_) => RunResult::Panicked,
            // `Outcome` may grow (it is `#[non_exhaustive]`); anything that is not a success is
            // retried like a failure, so count it as one.
            _ => RunResult::Failed,
        };
        let error = (!run.outcome.is_success()).then(|| run.outcome.to_string());
        cx.metrics.record_run(
            def.name,
            run.receiver,
            result,
            run.elapsed,
            error.as_deref(),
        );
        took += run.elapsed;
        // A line per receiver run only when it failed (with its error) or at debug: at info a
        // signal is one line, below, whatever its fan-out (a line costs about as much as the
        // rest of a no-op signal's handling, `docs/benchmarks.md`).
        // `tracing` takes the level as a constant, so the one line is written at either level.
        macro_rules! receiver_ran {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    queue = %cx.queue,
                    signal = %def.name,
                    id = %envelope.id,
                    receiver = %run.receiver,
                    attempt = envelope.attempt,
                    outcome = %run.outcome,
                    duration = ?run.elapsed,
                    "receiver ran"
                )
            };
        }
        if run.outcome.is_success() {
            receiver_ran!(tracing::Level::DEBUG);
        } else {
            receiver_ran!(tracing::Level::INFO);
            let retries = to_run
                .iter()
                .find(|r| r.name == run.receiver)
                .and_then(|r| r.retries)
                .unwrap_or(default_retries);
            failures.push(Failure {
                receiver: run.receiver.to_string(),
                error: run.outcome.to_string(),
                retries,
            });
        }
    }
    if !outcomes.is_empty() {
        tracing::info!(
            queue = %cx.queue,
            signal = %def.name,
            id = %envelope.id,
            attempt = envelope.attempt,
            receivers = outcomes.len(),
            failed = failures.len(),
            duration = ?took,
            "signal ran"
        );
    }

    decision(decide(&envelope, failures, missing, cx, SystemTime::now()))
}

/// The retry rule, per receiver: each failed receiver has run `attempt` times (an entry owes
/// only receivers that ran as often as each other: all of them the first time, one after a
/// failure), so one with retries left goes back in an entry of its own, owing only it, as the
/// next attempt after its own backoff; one without is dead-lettered on its own, named in the
/// reason, owing only it from attempt 1 (so `dead replay` runs only it, with its full
/// retries). Owed receivers this worker does not link go back together, as they were, until
/// `unknown_grace` after the signal was due; then each is dead-lettered on its own.
fn decide(
    envelope: &Envelope,
    failures: Vec<Failure>,
    unlinked: Vec<String>,
    cx: &Context<'_>,
    now: SystemTime,
) -> Disposition {
    if failures.is_empty() && unlinked.is_empty() {
        return Disposition::Ack;
    }
    let attempt = envelope.attempt.max(1);
    let owing = |receivers: Vec<String>, attempt: u32| {
        let mut owing = envelope.clone();
        owing.attempt = attempt;
        owing.owed = Some(receivers);
        owing.encode()
    };
    // A failed receiver's pieces carry its failure in their history (bounded by the
    // envelope), so the console, `dump` and `dead list` can say what happened on any engine.
    let failed = |f: &Failure, attempt_after: u32| {
        let mut next = envelope.clone();
        next.attempt = attempt_after;
        next.owed = Some(vec![f.receiver.clone()]);
        next.record_failure(attempt, &f.receiver, &f.error, now);
        next.encode()
    };
    let mut pieces = Pieces::default();
    for f in failures {
        // Attempt N is the first run plus N - 1 retries, so `retries = R` allows R + 1 attempts.
        if attempt <= f.retries {
            let delay = retry_delay(attempt, cx.settings.retry_base, cx.settings.retry_max);
            pieces.retries.push(Retry {
                payload: failed(&f, attempt + 1),
                receiver: f.receiver,
                not_before: now + delay,
                delay,
                next_attempt: attempt + 1,
            });
        } else {
            pieces.dead.push(Dead {
                reason: format!(
                    "gave up after {attempt} attempt{}: `{}` {} (retries: {})",
                    if attempt == 1 { "" } else { "s" },
                    f.receiver,
                    f.error,
                    f.retries
                ),
                payload: failed(&f, 1),
                kind: DeadKind::Receiver,
            });
        }
    }
    if !unlinked.is_empty() {
        let since = due_since(envelope.enqueued_at, envelope.scheduled_for);
        match give_back_for(since, cx.unknown_grace, now) {
            // The same attempt: nothing ran.
            Some(delay) => {
                pieces.given_back = Some(GiveBack {
                    name: unlinked.join(", "),
                    payload: owing(unlinked, envelope.attempt),
                    delay,
                    unknown: "unknown_receiver",
                })
            }
            None => {
                for receiver in unlinked {
                    pieces.dead.push(Dead {
                        reason: format!(
                            "`{receiver}` is owed this signal but is not linked into the workers that claimed it within `unknown_grace` ({}) of its send; link its crate and replay",
                            humantime::format_duration(cx.unknown_grace)
                        ),
                        payload: owing(vec![receiver], 1),
                        kind: DeadKind::UnknownReceiver,
                    });
                }
            }
        }
    }
    Disposition::Pieces(pieces)
}

/// A dead letter that keeps the claimed bytes exactly, for entries the worker cannot act on.
fn dead_raw(claimed: &Claimed, kind: DeadKind, reason: String) -> Disposition {
    Disposition::Pieces(Pieces::dead(claimed.payload.clone(), reason, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use signalqueue::Payload;

    fn envelope(attempt: u32) -> Envelope {
        let mut e = Envelope::new("s", None, Payload::Bincode(vec![1]));
        e.attempt = attempt;
        e
    }

    fn failure(name: &str, retries: u32) -> Failure {
        Failure {
            receiver: name.into(),
            error: "failed: boom".into(),
            retries,
        }
    }

    fn decide_with(
        envelope: &Envelope,
        failures: Vec<Failure>,
        unlinked: &[&str],
        grace: Duration,
    ) -> Disposition {
        let settings = WorkerConfig::default();
        let metrics = Metrics::new();
        let cx = Context {
            registry: Registry::global(),
            settings: &settings,
            metrics: &metrics,
            queue: "default",
            unknown_grace: grace,
        };
        let unlinked = unlinked.iter().map(|s| s.to_string()).collect();
        decide(envelope, failures, unlinked, &cx, SystemTime::now())
    }

    fn pieces(d: Disposition) -> Pieces {
        match d {
            Disposition::Pieces(p) => p,
            Disposition::Ack => panic!("expected pieces, got an ack"),
        }
    }

    fn owed(payload: &[u8]) -> (u32, Vec<String>) {
        let e = Envelope::decode(payload).unwrap();
        (e.attempt, e.owed.unwrap())
    }

    const GRACE: Duration = Duration::from_secs(900);

    #[test]
    fn success_is_an_ack() {
        assert!(matches!(
            decide_with(&envelope(1), vec![], &[], GRACE),
            Disposition::Ack
        ));
    }

    #[test]
    fn each_failed_receiver_is_retried_or_dead_on_its_own() {
        let e = envelope(2);
        let p = pieces(decide_with(
            &e,
            vec![failure("a", 1), failure("b", 4), failure("c", 2)],
            &[],
            GRACE,
        ));
        // `b` and `c` have retries left: one entry each, owing only it, as attempt 3.
        let retried: Vec<_> = p.retries.iter().map(|r| r.receiver.as_str()).collect();
        assert_eq!(retried, ["b", "c"]);
        for r in &p.retries {
            assert_eq!(r.next_attempt, 3);
            assert_eq!(owed(&r.payload), (3, vec![r.receiver.clone()]));
            assert_eq!(Envelope::decode(&r.payload).unwrap().id, e.id);
        }
        // `a` used its one retry: dead on its own, named, owing only it from attempt 1.
        let [dead] = &p.dead[..] else {
            panic!("one dead letter: {:?}", p.dead)
        };
        assert_eq!(dead.kind, DeadKind::Receiver);
        assert_eq!(
            dead.reason,
            "gave up after 2 attempts: `a` failed: boom (retries: 1)"
        );
        assert_eq!(owed(&dead.payload), (1, vec!["a".to_string()]));
        assert!(p.given_back.is_none());
    }

    #[test]
    fn retries_and_dead_letters_carry_the_failures_so_far() {
        let mut e = envelope(2);
        e.record_failure(1, "a", "first", SystemTime::UNIX_EPOCH);
        let p = pieces(decide_with(
            &e,
            vec![failure("a", 5), failure("b", 1)],
            &[],
            Duration::ZERO,
        ));
        let retry = Envelope::decode(&p.retries[0].payload).unwrap();
        let errors: Vec<_> = retry
            .history
            .iter()
            .map(|f| (f.attempt, f.receiver.as_str(), f.error.as_str()))
            .collect();
        assert_eq!(errors, [(1, "a", "first"), (2, "a", "failed: boom")]);
        let dead = Envelope::decode(&p.dead[0].payload).unwrap();
        assert_eq!(dead.attempt, 1);
        let last = dead.last_failure().unwrap();
        assert_eq!((last.attempt, last.receiver.as_str()), (2, "b"));
    }

    #[test]
    fn the_kind_of_a_dead_letter_is_read_back_from_its_reason() {
        let e = envelope(1);
        let p = pieces(decide_with(
            &e,
            vec![failure("a", 0)],
            &["x"],
            Duration::ZERO,
        ));
        let kinds: Vec<_> = p
            .dead
            .iter()
            .map(|d| (d.kind, DeadKind::of_reason(&d.reason)))
            .collect();
        assert_eq!(
            kinds,
            [
                (DeadKind::Receiver, Some(DeadKind::Receiver)),
                (DeadKind::UnknownReceiver, Some(DeadKind::UnknownReceiver))
            ]
        );
        for (reason, kind) in [
            (
                "malformed entry: not a signalqueue envelope",
                DeadKind::Malformed,
            ),
            (
                "claimed 9 times for attempt 1 without finishing: ...",
                DeadKind::Poison,
            ),
            (
                "no signal named `x` is linked into the workers",
                DeadKind::UnknownSignal,
            ),
            ("signal `x`: arguments do not decode", DeadKind::Decode),
        ] {
            assert_eq!(DeadKind::of_reason(reason), Some(kind), "{reason}");
        }
        assert_eq!(DeadKind::of_reason("put there by hand"), None);
    }

    #[test]
    fn a_lone_exhausted_receiver_is_one_dead_letter() {
        let p = pieces(decide_with(&envelope(1), vec![failure("a", 0)], &[], GRACE));
        assert!(p.retries.is_empty());
        assert_eq!(p.dead.len(), 1);
        assert!(p.dead[0].reason.contains("gave up after 1 attempt: `a`"));
    }

    #[test]
    fn unlinked_receivers_are_given_back_at_the_same_attempt_until_the_grace_ends() {
        let e = envelope(3);
        let p = pieces(decide_with(&e, vec![failure("a", 5)], &["x", "y"], GRACE));
        assert_eq!(p.retries.len(), 1);
        let back = p.given_back.expect("given back");
        assert_eq!(back.unknown, "unknown_receiver");
        assert_eq!(owed(&back.payload), (3, vec!["x".into(), "y".into()]));
        assert!(back.delay <= crate::worker::unknown::GIVE_BACK_DELAY);

        let mut old = envelope(3);
        old.enqueued_at = SystemTime::now() - Duration::from_secs(901);
        let p = pieces(decide_with(&old, vec![], &["x", "y"], GRACE));
        assert!(p.given_back.is_none() && p.retries.is_empty());
        let kinds: Vec<_> = p.dead.iter().map(|d| (d.kind, owed(&d.payload))).collect();
        assert_eq!(
            kinds,
            [
                (DeadKind::UnknownReceiver, (1, vec!["x".to_string()])),
                (DeadKind::UnknownReceiver, (1, vec!["y".to_string()])),
            ]
        );
        assert!(p.dead[0].reason.contains("`x` is owed this signal"));
        assert!(p.dead[0].reason.contains("`unknown_grace` (15m)"));
    }
}
