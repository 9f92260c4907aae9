//! Running a signal's receivers: each one on its own, panics caught, every outcome reported.
//!
//! Unlike the original (where the first receiver to raise hid the rest), every receiver runs
//! even when an earlier one failed or panicked, in a fixed order (by receiver name).

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use crate::envelope::{DecodeError, EnvelopeId, Payload};
use crate::mapping::glue::Resolved;
use crate::mapping::{MissingRef, OnMissing};
use crate::receiver::{Delivery, ReceiverDef};
use crate::registry::Registry;
use crate::signal::{ErasedArgs, SignalDef};
use crate::BoxError;

/// How one receiver did.
#[derive(Debug)]
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
pub struct DispatchReport {
    /// The signal's id.
    pub id: EnvelopeId,
    /// The signal's wire name.
    pub signal: &'static str,
    /// One entry per receiver that ran.
    pub outcomes: Vec<ReceiverOutcome>,
    /// Non-empty when no receiver ran because these referenced rows are gone and the signal
    /// says `on_missing = "skip"`.
    pub skipped: Vec<MissingRef>,
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

/// A signal's arguments, ready for its receivers or not to be delivered at all.
pub enum Prepared {
    /// Run the receivers on these arguments (every `Ref` among them loaded; with
    /// `on_missing = "deliver"` a gone row is a `Ref` whose `get()` is `None`).
    Run(ErasedArgs),
    /// A referenced row is gone and the signal says `on_missing = "skip"`: acknowledge the
    /// signal without running any receiver.
    Skip(Vec<MissingRef>),
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prepared::Run(_) => f.write_str("Run(..)"),
            Prepared::Skip(missing) => f.debug_tuple("Skip").field(missing).finish(),
        }
    }
}

/// Why a signal's arguments are not ready.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The payload does not decode into the signal's arguments: it never will.
    #[error(transparent)]
    Decode(DecodeError),
    /// A `Ref` argument could not be loaded (its store failed, or its loader panicked): a
    /// failure that does not depend on the receivers, worth retrying.
    #[error("loading the signal's references failed: {0}")]
    Load(BoxError),
}

/// Decodes a signal's payload and loads its `Ref` arguments: the one step the worker and
/// `send_now` share before running receivers, so both see the same rows and treat a gone row
/// alike.
pub async fn prepare(def: &'static SignalDef, payload: &Payload) -> Result<Prepared, PrepareError> {
    let args = def.decode_args(payload).map_err(PrepareError::Decode)?;
    resolve(def, args).await.map_err(PrepareError::Load)
}

/// Loads the `Ref` arguments of decoded `args` (nothing to do for a signal without any) and
/// applies the signal's `on_missing`. A panicking loader is an error, not a panic.
pub(crate) async fn resolve(
    def: &'static SignalDef,
    args: ErasedArgs,
) -> Result<Prepared, BoxError> {
    let Some(resolve) = def.resolve else {
        return Ok(Prepared::Run(args));
    };
    let Resolved { args, missing } = match AssertUnwindSafe(resolve(args)).catch_unwind().await {
        Ok(resolved) => resolved?,
        Err(panic) => {
            return Err(format!("the loader panicked: {}", panic_message(panic.as_ref())).into())
        }
    };
    if !missing.is_empty() && def.on_missing == OnMissing::Skip {
        return Ok(Prepared::Skip(missing));
    }
    Ok(Prepared::Run(args))
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

/// Runs every receiver of a signal here and now (`send_now`, and `send` in sync runmode),
/// after the same resolve step as the worker: a gone row skips or is delivered as `None` as
/// the signal says, and a failed load is reported as every receiver's failure (as the worker
/// would retry them all).
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
        // Run here and now: a due time in the future is refused in the sync runmode, and a
        // past one means now, like a send without one.
        scheduled_for: None,
    };
    let mut report = DispatchReport {
        id,
        signal: def.name,
        outcomes: Vec::new(),
        skipped: Vec::new(),
    };
    if receivers.is_empty() {
        // Nothing would read the rows: do not load them.
        return report;
    }
    let started = Instant::now();
    match resolve(def, args).await {
        Ok(Prepared::Run(args)) => {
            report.outcomes = run_receivers(&receivers, &delivery, args, None).await;
        }
        Ok(Prepared::Skip(missing)) => {
            tracing::info!(
                signal = %def.name,
                id = %id,
                missing = %describe_missing(&missing),
                "a referenced row is gone; skipped without running receivers (on_missing = \"skip\")"
            );
            report.skipped = missing;
        }
        Err(e) => {
            let message = format!("loading the signal's references failed: {e}");
            report.outcomes = receivers
                .iter()
                .map(|r| ReceiverOutcome {
                    receiver: r.name,
                    outcome: Outcome::Failed(message.clone().into()),
                    elapsed: started.elapsed(),
                })
                .collect();
        }
    }
    report
}

/// Missing references, for one log line.
pub fn describe_missing(missing: &[MissingRef]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
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
