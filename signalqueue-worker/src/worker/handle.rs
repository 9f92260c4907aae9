//! One claimed entry: decode it, run the receivers it owes, and decide what becomes of it
//! (acknowledge, retry the failed receivers later, or dead-letter it with the reason).
//!
//! Deciding is kept apart from telling the engine (`settle.rs`) so that every rule here reads
//! as a plain function of the entry and the receivers' outcomes.

use std::time::{Duration, SystemTime};

use signalqueue::config::WorkerConfig;
use signalqueue::dispatch::{
    describe_missing, prepare, run_receivers, Outcome, PrepareError, Prepared,
};
use signalqueue::engine::Claimed;
use signalqueue::{Delivery, Envelope, EnvelopeId, ReceiverDef, Registry};

use crate::metrics::{Metrics, RunResult};
use crate::worker::backoff::retry_delay;

/// An entry claimed this many more times than its envelope's attempt says is poison: it was
/// taken again and again without any worker getting to retry or finish it, so it crashes or
/// hangs the workers that take it (a lease that expires only while its worker lives is renewed,
/// so one slow receiver does not count). A few redeliveries from ordinary worker restarts stay
/// below the margin.
pub(crate) const POISON_MARGIN: u32 = 5;

/// The name metrics and logs use for an entry that is not an envelope at all.
pub(crate) const MALFORMED_SIGNAL: &str = "<malformed>";

/// Why an entry was dead-lettered, in one word (the `reason` label of the metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadKind {
    /// Receivers failed and used up their retries.
    Receiver,
    /// The arguments do not decode: the signal's argument types changed since it was sent, or
    /// a producer in another language sent the wrong shape.
    Decode,
    /// No signal with that wire name is linked into this worker.
    UnknownSignal,
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
            DeadKind::Malformed => "malformed",
            DeadKind::Poison => "poison",
        }
    }
}

/// What to do with a claim once its receivers ran.
#[derive(Debug)]
pub(crate) enum Disposition {
    /// Everything owed ran successfully: the entry is done.
    Ack,
    /// Some receivers failed and may try again: put the entry back, owing only them.
    Retry {
        payload: Vec<u8>,
        not_before: SystemTime,
        delay: Duration,
        receivers: Vec<String>,
        next_attempt: u32,
    },
    /// Give up on the entry and keep it, with why, as a dead letter.
    Dead {
        payload: Vec<u8>,
        reason: String,
        kind: DeadKind,
    },
}

/// A claim's disposition, with what logs and metrics need to say which signal it was.
#[derive(Debug)]
pub(crate) struct Decision {
    pub(crate) signal: String,
    pub(crate) id: Option<EnvelopeId>,
    pub(crate) disposition: Disposition,
}

/// What handling needs besides the entry.
pub(crate) struct Context<'a> {
    pub(crate) registry: &'static Registry,
    pub(crate) settings: &'a WorkerConfig,
    pub(crate) metrics: &'a Metrics,
    pub(crate) queue: &'a str,
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
                id: None,
                disposition: dead_raw(
                    claimed,
                    DeadKind::Malformed,
                    format!("malformed entry: {e}"),
                ),
            }
        }
    };
    let decision = |disposition| Decision {
        signal: envelope.signal.clone(),
        id: Some(envelope.id),
        disposition,
    };

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

    let Some(def) = cx.registry.signal(&envelope.signal) else {
        return decision(dead_raw(
            claimed,
            DeadKind::UnknownSignal,
            format!(
                "no signal named `{}` is linked into this worker; link the crate that declares it and replay",
                envelope.signal
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
    let delivery = Delivery {
        id: envelope.id,
        signal: def.name,
        attempt: envelope.attempt,
        sender: envelope.sender.clone(),
        enqueued_at: envelope.enqueued_at,
        scheduled_for: envelope.scheduled_for,
    };
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
            let mut failures: Vec<Failure> = to_run
                .iter()
                .map(|r| Failure {
                    receiver: r.name.to_string(),
                    error: load.to_string(),
                    retries: r.retries.unwrap_or(cx.settings.retries),
                })
                .collect();
            failures.extend(unlinked(missing));
            return decision(decide(&envelope, failures, cx.settings));
        }
    };
    if to_run.is_empty() && missing.is_empty() {
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
    for run in &outcomes {
        let result = match &run.outcome {
            Outcome::Succeeded => RunResult::Succeeded,
            Outcome::Failed(_) => RunResult::Failed,
            Outcome::Panicked(_) => RunResult::Panicked,
        };
        let error = (!run.outcome.is_success()).then(|| run.outcome.to_string());
        cx.metrics.record_run(
            def.name,
            run.receiver,
            result,
            run.elapsed,
            error.as_deref(),
        );
        tracing::info!(
            queue = %cx.queue,
            signal = %def.name,
            id = %envelope.id,
            receiver = %run.receiver,
            attempt = envelope.attempt,
            outcome = %run.outcome,
            duration = ?run.elapsed,
            "receiver ran"
        );
        if !run.outcome.is_success() {
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
    failures.extend(unlinked(missing));

    decision(decide(&envelope, failures, cx.settings))
}

/// The failures of owed receivers that are not linked into this worker.
fn unlinked(names: Vec<String>) -> impl Iterator<Item = Failure> {
    names.into_iter().map(|receiver| Failure {
        error: "is owed this signal but is not linked into this worker; link its crate and replay"
            .into(),
        receiver,
        // Waiting cannot make it appear.
        retries: 0,
    })
}

/// The retry rule: while any failed receiver has retries left, all the failed ones are retried
/// together (one entry carries them); once none has, the entry is dead-lettered owing all of
/// them. So a receiver failing alongside one with a higher limit may be retried up to that
/// higher limit: it runs more often than its own limit, but nothing is lost.
fn decide(envelope: &Envelope, failures: Vec<Failure>, settings: &WorkerConfig) -> Disposition {
    if failures.is_empty() {
        return Disposition::Ack;
    }
    let attempt = envelope.attempt.max(1);
    let owed: Vec<String> = failures.iter().map(|f| f.receiver.clone()).collect();
    // Attempt N is the first run plus N - 1 retries, so `retries = R` allows R + 1 attempts.
    if failures.iter().any(|f| attempt <= f.retries) {
        let delay = retry_delay(attempt, settings.retry_base, settings.retry_max);
        let next = Envelope {
            attempt: attempt + 1,
            owed: Some(owed.clone()),
            ..envelope.clone()
        };
        return Disposition::Retry {
            payload: next.encode(),
            not_before: SystemTime::now() + delay,
            delay,
            receivers: owed,
            next_attempt: attempt + 1,
        };
    }
    let reason = format!(
        "gave up after {attempt} attempt{}: {}",
        if attempt == 1 { "" } else { "s" },
        failures
            .iter()
            .map(|f| format!("`{}` {} (retries: {})", f.receiver, f.error, f.retries))
            .collect::<Vec<_>>()
            .join("; ")
    );
    // The dead letter owes only the failed receivers, from attempt 1: a replay (after the
    // cause is fixed) gives them their full retries again and does not re-run the others.
    let kept = Envelope {
        attempt: 1,
        owed: Some(owed),
        ..envelope.clone()
    };
    Disposition::Dead {
        payload: kept.encode(),
        reason,
        kind: DeadKind::Receiver,
    }
}

/// A dead letter that keeps the claimed bytes exactly, for entries the worker cannot act on.
fn dead_raw(claimed: &Claimed, kind: DeadKind, reason: String) -> Disposition {
    Disposition::Dead {
        payload: claimed.payload.clone(),
        reason,
        kind,
    }
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

    #[test]
    fn success_is_an_ack() {
        assert!(matches!(
            decide(&envelope(1), vec![], &WorkerConfig::default()),
            Disposition::Ack
        ));
    }

    #[test]
    fn failures_with_retries_left_are_retried_owing_only_them() {
        let d = decide(
            &envelope(2),
            vec![failure("a", 2), failure("b", 0)],
            &WorkerConfig::default(),
        );
        let Disposition::Retry {
            payload,
            receivers,
            next_attempt,
            ..
        } = d
        else {
            panic!("expected a retry, got {d:?}")
        };
        assert_eq!(receivers, ["a", "b"]);
        assert_eq!(next_attempt, 3);
        let e = Envelope::decode(&payload).unwrap();
        assert_eq!(e.attempt, 3);
        assert_eq!(
            e.owed.as_deref(),
            Some(&["a".to_string(), "b".to_string()][..])
        );
    }

    #[test]
    fn exhausted_failures_are_dead_with_every_error() {
        let d = decide(
            &envelope(3),
            vec![failure("a", 2), failure("b", 0)],
            &WorkerConfig::default(),
        );
        let Disposition::Dead {
            payload,
            reason,
            kind,
        } = d
        else {
            panic!("expected a dead letter, got {d:?}")
        };
        assert_eq!(kind, DeadKind::Receiver);
        assert!(reason.contains("gave up after 3 attempts"), "{reason}");
        assert!(reason.contains("`a` failed: boom (retries: 2)"), "{reason}");
        assert!(reason.contains("`b` failed: boom (retries: 0)"), "{reason}");
        let e = Envelope::decode(&payload).unwrap();
        assert_eq!(e.attempt, 1);
        assert_eq!(
            e.owed.as_deref(),
            Some(&["a".to_string(), "b".to_string()][..])
        );
    }
}
