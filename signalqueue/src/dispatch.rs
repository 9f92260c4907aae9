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

/// Runs `receivers` one after another on `args`, catching panics; returns every outcome.
///
/// `args` is owned and only borrowed between awaits, so argument types need not be `Sync`.
pub async fn run_receivers(
    receivers: &[&'static ReceiverDef],
    delivery: &Delivery,
    args: ErasedArgs,
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
            Ok(fut) => match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(Ok(())) => Outcome::Succeeded,
                Ok(Err(e)) => Outcome::Failed(e),
                Err(panic) => Outcome::Panicked(panic_message(panic.as_ref())),
            },
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
    let outcomes = run_receivers(&receivers, &delivery, args).await;
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
