//! Receivers: the functions `#[receiver]` registers, and what they are given.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::envelope::EnvelopeId;
use crate::signal::{ErasedArgs, Signal, SignalDef};
use crate::BoxError;

/// The future a receiver's glue returns. Not public API.
#[doc(hidden)]
pub type ReceiverFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// One receiver, as `#[receiver]` registers it.
///
/// Its fields are public to read. It is built only by the macros, as a `const` struct literal
/// (so it cannot be `#[non_exhaustive]`): building one by hand is not public API, and a field
/// may be added in any release.
#[derive(Debug)]
pub struct ReceiverDef {
    /// The receiver's name: its Rust path (`my_app::receivers::update_event_log`), or the
    /// `name = "..."` given to `#[receiver]`. Retries track owed receivers by this name.
    pub name: &'static str,
    /// Where it is declared (`file:line`).
    pub location: &'static str,
    /// Only signals sent by this sender reach it, when set.
    pub sender: Option<&'static str>,
    /// How many times a failure is retried before the signal is dead-lettered for it; `None`
    /// takes the worker's default.
    pub retries: Option<u32>,
    /// How long one run may take before it counts as failed (`timeout_ms = N`); `None` takes
    /// the worker's default (`[worker] receiver_timeout_ms`), which is no limit unless set.
    pub timeout: Option<std::time::Duration>,
    /// One function answers both questions the runtime asks (which signal; run it), so that
    /// the signal's path appears once in generated code and a mistyped path is one error.
    #[doc(hidden)]
    pub glue: for<'a> fn(GlueRequest<'a>) -> GlueResponse,
}

/// A question to a receiver's glue. Not public API.
#[doc(hidden)]
pub enum GlueRequest<'a> {
    Signal,
    Call(Delivery, &'a ErasedArgs),
}

/// The glue's answer. Not public API.
#[doc(hidden)]
pub enum GlueResponse {
    Signal(&'static SignalDef),
    Call(ReceiverFuture),
}

/// A request with the arguments typed by the signal. Not public API.
#[doc(hidden)]
pub enum Split<A> {
    Signal(&'static SignalDef),
    Call(Delivery, A),
}

/// Types a glue request by the signal `_signal` is an instance of. Not public API.
#[doc(hidden)]
pub fn split<S: Signal>(_signal: &S, request: GlueRequest<'_>) -> Split<S::Args> {
    match request {
        GlueRequest::Signal => Split::Signal(S::DEF),
        GlueRequest::Call(delivery, args) => match args.downcast_ref::<S::Args>() {
            Some(a) => Split::Call(delivery, a.clone()),
            // The dispatcher hands a signal's receivers that signal's arguments only.
            None => unreachable!("arguments of another signal reached `{}`", S::DEF.name),
        },
    }
}

impl ReceiverDef {
    /// The signal this receiver listens to.
    pub fn signal(&self) -> &'static SignalDef {
        match (self.glue)(GlueRequest::Signal) {
            GlueResponse::Signal(def) => def,
            GlueResponse::Call(_) => unreachable!("glue answers the question asked"),
        }
    }

    /// Starts the receiver on a delivery; the arguments are cloned before this returns. Not
    /// public API: the arguments are type-erased, for the worker's dispatch.
    #[doc(hidden)]
    pub fn call(&self, delivery: Delivery, args: &ErasedArgs) -> ReceiverFuture {
        match (self.glue)(GlueRequest::Call(delivery, args)) {
            GlueResponse::Call(fut) => fut,
            GlueResponse::Signal(_) => unreachable!("glue answers the question asked"),
        }
    }

    /// Whether a signal sent by `sender` is for this receiver.
    pub fn accepts_sender(&self, sender: Option<&str>) -> bool {
        match self.sender {
            None => true,
            Some(wanted) => sender == Some(wanted),
        }
    }
}

/// What a receiver may ask for as its first parameter (`delivery: &Delivery`): which signal,
/// which attempt, who sent it and when.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Delivery {
    /// The signal's id (the same across retries).
    pub id: EnvelopeId,
    /// The signal's wire name.
    pub signal: &'static str,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// The sender's label, if the signal was sent with one.
    pub sender: Option<String>,
    /// When `send` was called.
    pub enqueued_at: SystemTime,
    /// When the signal was due, for a delayed send: see [`Delivery::scheduled_for`].
    pub scheduled_for: Option<SystemTime>,
}

impl Delivery {
    /// The first attempt of signal `signal` with id `id`, sent now by no one, due at once: what
    /// a worker would pass a receiver, for calling one directly (in a test) or for an engine's
    /// or a worker's own dispatch. The `with_*` methods set the rest.
    pub fn new(id: EnvelopeId, signal: &'static str) -> Delivery {
        Delivery {
            id,
            signal,
            attempt: 1,
            sender: None,
            enqueued_at: SystemTime::now(),
            scheduled_for: None,
        }
    }

    /// The same delivery, as attempt `attempt` (from 1).
    pub fn with_attempt(mut self, attempt: u32) -> Delivery {
        self.attempt = attempt;
        self
    }

    /// The same delivery, sent by `sender`.
    pub fn with_sender(mut self, sender: Option<String>) -> Delivery {
        self.sender = sender;
        self
    }

    /// The same delivery, sent at `enqueued_at`.
    pub fn with_enqueued_at(mut self, enqueued_at: SystemTime) -> Delivery {
        self.enqueued_at = enqueued_at;
        self
    }

    /// The same delivery, due at `scheduled_for` (a delayed send or a periodic tick).
    pub fn with_scheduled_for(mut self, scheduled_for: Option<SystemTime>) -> Delivery {
        self.scheduled_for = scheduled_for;
        self
    }

    /// When this signal was meant to run: the due time of a delayed send
    /// (`SendOptions::delay`, `SendOptions::at`), the same on every attempt. `None` for a
    /// signal sent to run at once. A worker that was down at that time runs the signal when
    /// it is back, so compare with `SystemTime::now()` to tell how late it is.
    pub fn scheduled_for(&self) -> Option<SystemTime> {
        self.scheduled_for
    }
}

/// What a receiver may return: `()`, or `Result<(), E>` with `E: Into<BoxError>`.
#[diagnostic::on_unimplemented(
    message = "a receiver must return `()` or `Result<(), E>` where `E: Into<BoxError>`, not `{Self}`",
    label = "this return type is not allowed for a receiver",
    note = "return `Ok(())` on success and an error (anything convertible to `signalqueue::BoxError`) on failure"
)]
pub trait IntoReceiverResult {
    /// Converts to the receiver's outcome.
    fn into_receiver_result(self) -> Result<(), BoxError>;
}

impl IntoReceiverResult for () {
    fn into_receiver_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> IntoReceiverResult for Result<(), E> {
    fn into_receiver_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// Runs a plain (non-async) receiver on the blocking pool, so it cannot stall the executor; a
/// panic inside it is passed on as a panic. Not public API.
#[doc(hidden)]
pub async fn run_blocking<F, R>(f: F) -> Result<(), BoxError>
where
    F: FnOnce() -> R + Send + 'static,
    R: IntoReceiverResult + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.into_receiver_result(),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Box::new(e)),
    }
}
