//! Running a signal's receivers: each one on its own, panics caught, every outcome reported.
//!
//! Unlike the original (where the first receiver to raise hid the rest), every receiver runs
//! even when an earlier one failed or panicked, in a fixed order (by receiver name).

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use crate::envelope::EnvelopeId;
use crate::receiver::{Delivery, ReceiverDef};
use crate::registry::Registry;
use crate::signal::{ErasedArgs, SignalDef};
use crate::BoxError;

/// How one receiver did.
#[derive(Debug)]
pub enum Outcome {
    /// It returned `()` or `Ok(())`.
    Succeeded,
    /// It returned an error.
    Failed(BoxError),
    /// It panicked; the panic's message.
    Panicked(String),
}

impl Outcome {
    /// True for [`Outcome::Succeeded`].
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Succeeded)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Succeeded => f.write_str("ok"),
            Outcome::Failed(e) => write!(f, "failed: {e}"),
            Outcome::Panicked(m) => write!(f, "panicked: {m}"),
        }
    }
}

/// One receiver's run.
#[derive(Debug)]
pub struct ReceiverOutcome {
    /// The receiver's name.
    pub receiver: &'static str,
    /// How it did.
    pub outcome: Outcome,
    /// How long it ran.
    pub elapsed: Duration,
}

/// How every receiver of one signal did, in the order they ran.
#[derive(Debug)]
pub struct DispatchReport {
    /// The signal's id.
    pub id: EnvelopeId,
    /// The signal's wire name.
    pub signal: &'static str,
    /// One entry per receiver that ran.
    pub outcomes: Vec<ReceiverOutcome>,
}

impl DispatchReport {
    /// True when every receiver succeeded (also when there were none).
    pub fn is_success(&self) -> bool {
        self.outcomes.iter().all(|o| o.outcome.is_success())
    }

    /// The receivers that failed or panicked.
    pub fn failures(&self) -> impl Iterator<Item = &ReceiverOutcome> {
        self.outcomes.iter().filter(|o| !o.outcome.is_success())
    }
}

/// A receiver ran past its time limit; its run was abandoned and counts as a failure.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {0:?}; raise `timeout_ms` on the receiver (or `[worker] receiver_timeout_ms`) if it needs longer")]
pub struct TimedOut(pub Duration);

/// Runs `receivers` one after another on `args`, catching panics; returns every outcome.
///
/// A receiver with a time limit (its own `timeout_ms`, else `default_timeout`) that runs past
/// it is abandoned (an async receiver is dropped at its next await; a plain `fn` on the
/// blocking pool cannot be stopped and finishes on its own) and reported as failed with
/// [`TimedOut`], so a hung receiver cannot hold a worker's slot and lease forever.
///
/// `args` is owned and only borrowed between awaits, so argument types need not be `Sync`.
pub async fn run_receivers(
    receivers: &[&'static ReceiverDef],
    delivery: &Delivery,
    args: ErasedArgs,
    default_timeout: Option<Duration>,
) -> Vec<ReceiverOutcome> {
    let mut outcomes = Vec::with_capacity(receivers.len());
    for receiver in receivers {
        let started = Instant::now();
        // The glue clones the arguments before its first await, so a panic in that
        // synchronous part is caught here too.
        let call =
            std::panic::catch_unwind(AssertUnwindSafe(|| receiver.call(delivery.clone(), &args)));
        let outcome = match call {
            Err(panic) => Outcome::Panicked(panic_message(panic.as_ref())),
            Ok(fut) => {
                let run = AssertUnwindSafe(fut).catch_unwind();
                let result = match receiver.timeout.or(default_timeout) {
                    Some(limit) => tokio::time::timeout(limit, run)
                        .await
                        .unwrap_or_else(|_| Ok(Err(Box::new(TimedOut(limit))))),
                    None => run.await,
                };
                match result {
                    Ok(Ok(())) => Outcome::Succeeded,
                    Ok(Err(e)) => Outcome::Failed(e),
                    Err(panic) => Outcome::Panicked(panic_message(panic.as_ref())),
                }
            }
        };
        outcomes.push(ReceiverOutcome {
            receiver: receiver.name,
            outcome,
            elapsed: started.elapsed(),
        });
    }
    outcomes
}

/// Runs every receiver of a signal here and now (`send_now`, and `send` in sync runmode).
pub(crate) async fn run_local(
    def: &'static SignalDef,
    sender: Option<String>,
    args: ErasedArgs,
) -> DispatchReport {
    let id = EnvelopeId::new();
    let receivers: Vec<&'static ReceiverDef> = Registry::global()
        .receivers(def.name)
        .iter()
        .copied()
        .filter(|r| r.accepts_sender(sender.as_deref()))
        .collect();
    let delivery = Delivery {
        id,
        signal: def.name,
        attempt: 1,
        sender,
        enqueued_at: id.timestamp(),
    };
    let outcomes = run_receivers(&receivers, &delivery, args, None).await;
    DispatchReport {
        id,
        signal: def.name,
        outcomes,
    }
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}
