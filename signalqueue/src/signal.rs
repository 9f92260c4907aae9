//! The typed signal: what `#[async_signal]` generates. How a send travels is in `send.rs`.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::Codec;
use crate::dispatch::DispatchReport;
use crate::envelope::{DecodeError, EnvelopeId, Payload};
use crate::mapping::glue::ResolveFuture;
use crate::mapping::{Model, OnMissing};
use crate::runmode::Runmode;
use crate::schedule::ScheduleDef;

/// A signal's arguments with their type erased, as receivers' glue takes them. Not public API.
#[doc(hidden)]
pub type ErasedArgs = Box<dyn Any + Send>;

/// Everything the runtime knows about one signal. One `static` per `#[async_signal]`.
///
/// Its fields are public to read. It is built only by the macros, as a `const` struct literal
/// (so it cannot be `#[non_exhaustive]`): building one by hand is not public API, and a field
/// may be added in any release.
#[derive(Debug)]
pub struct SignalDef {
    /// The wire name: what the envelope carries and the worker looks up.
    pub name: &'static str,
    /// The Rust path of the static (`my_app::signals::FORM_SUBMIT`).
    pub rust_path: &'static str,
    /// Where it is declared (`file:line`), for error messages.
    pub location: &'static str,
    /// The queue it is sent to.
    pub queue: &'static str,
    /// Its arguments, in order.
    pub args: &'static [ArgDef],
    /// The first paragraph of its doc comment, its lines joined by spaces (empty if none).
    pub doc: &'static str,
    #[doc(hidden)]
    pub decode: fn(&Payload) -> Result<ErasedArgs, DecodeError>,
    #[doc(hidden)]
    pub to_json: fn(&Payload) -> Result<serde_json::Value, DecodeError>,
    #[doc(hidden)]
    pub from_json: fn(serde_json::Value, Codec) -> Result<Payload, DecodeError>,
    /// Loads the signal's `Ref` arguments; `None` for signals without any, so they pay nothing.
    #[doc(hidden)]
    pub resolve: Option<fn(ErasedArgs) -> ResolveFuture>,
    /// What happens when a `Ref` argument's row is gone by the time the signal is handled.
    pub on_missing: OnMissing,
    /// When the signal is periodic (`schedule = "..."` or `every = "..."`), its ticks; `None`
    /// for a signal that is only sent.
    pub schedule: Option<&'static ScheduleDef>,
}

impl SignalDef {
    /// The declared arguments for messages: `` `instance: Order`, `note: String` ``.
    pub fn declared_args(&self) -> String {
        if self.args.is_empty() {
            return "none".into();
        }
        self.args
            .iter()
            .map(|a| format!("`{}: {}`", a.name, a.ty))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Decodes a payload into this signal's arguments; the error names the declared arguments,
    /// so a producer can see what it should have sent. Not public API: the arguments are
    /// type-erased, for the worker's dispatch (a tool checks a payload with
    /// [`SignalDef::args_to_json`]).
    #[doc(hidden)]
    pub fn decode_args(&self, payload: &Payload) -> Result<ErasedArgs, DecodeError> {
        (self.decode)(payload).map_err(|e| self.explain(e))
    }

    /// Decodes a payload and re-expresses it as JSON (for `dump` and the admin page); errors
    /// as [`SignalDef::decode_args`].
    pub fn args_to_json(&self, payload: &Payload) -> Result<serde_json::Value, DecodeError> {
        (self.to_json)(payload).map_err(|e| self.explain(e))
    }

    fn explain(&self, e: DecodeError) -> DecodeError {
        DecodeError(format!(
            "{}; `{}` declares {}",
            e.0,
            self.name,
            self.declared_args()
        ))
    }
}

/// One of a signal's `providing_args`. Built by the macros only, like [`SignalDef`].
#[derive(Debug)]
pub struct ArgDef {
    /// The argument's name.
    pub name: &'static str,
    /// Its type, as written in `providing_args`.
    pub ty: &'static str,
}

/// Implemented by every signal type `#[async_signal]` generates.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a signal",
    label = "expected the static of a signal declared with `#[async_signal]`",
    note = "declare a signal with `#[async_signal(providing_args = [instance: Order])] pub static FORM_SUBMIT: FormSubmit;` and name the static in `#[receiver(FORM_SUBMIT)]`"
)]
pub trait Signal: Sync + 'static {
    /// The arguments as one struct (`FormSubmitArgs` for `FormSubmit`).
    type Args: Serialize + DeserializeOwned + Clone + Send + 'static;
    /// The signal's description.
    const DEF: &'static SignalDef;
}

/// Who sent a signal, as a label receivers may filter on (`"shop.Order"`).
///
/// As in Django the sender is optional. A receiver declared with
/// `#[receiver(SIGNAL, sender = "shop.Order")]` only runs for signals sent by that sender.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sender(Cow<'static, str>);

impl Sender {
    /// The label of model `M` as a sender, `app_label.model` (`"shop.order"`), as Django sent
    /// a model class.
    pub fn of<M: Model>() -> Sender {
        Sender(Cow::Owned(format!("{}.{}", M::APP_LABEL, M::MODEL_NAME)))
    }

    /// The sender's label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&'static str> for Sender {
    fn from(s: &'static str) -> Self {
        Sender(Cow::Borrowed(s))
    }
}

impl From<String> for Sender {
    fn from(s: String) -> Self {
        Sender(Cow::Owned(s))
    }
}

/// Per-call choices for a send: sender, runmode, and when it is due.
#[derive(Clone, Debug, Default)]
pub struct SendOptions {
    pub(crate) sender: Option<Sender>,
    pub(crate) runmode: Option<Runmode>,
    pub(crate) due: Option<Due>,
}

/// When a delayed send is due, as asked: relative to the send, or a fixed time.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Due {
    After(Duration),
    At(SystemTime),
}

impl Due {
    /// The due time for a send made at `now`.
    pub(crate) fn at(self, now: SystemTime) -> SystemTime {
        match self {
            // A delay too long for the clock (centuries) saturates rather than panics.
            Due::After(delay) => now
                .checked_add(delay)
                .unwrap_or(now + Duration::from_secs(1 << 40)),
            Due::At(at) => at,
        }
    }
}

impl SendOptions {
    /// No sender, the configured runmode.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends as `sender` (receivers may filter on it).
    pub fn sender(mut self, sender: impl Into<Sender>) -> Self {
        self.sender = Some(sender.into());
        self
    }

    /// Sends as model `M` (`"app_label.model"`): see [`Sender::of`].
    pub fn sender_model<M: Model>(self) -> Self {
        self.sender(Sender::of::<M>())
    }

    /// Overrides the configured runmode for this call.
    pub fn runmode(mut self, runmode: Runmode) -> Self {
        self.runmode = Some(runmode);
        self
    }

    /// Delays the signal: the worker handles it `delay` after the send, not before (and as
    /// soon after as the engine allows: see `docs/engines.md`). Until then it counts as
    /// `scheduled`. The receivers see the due time in [`Delivery::scheduled_for`](crate::Delivery::scheduled_for).
    /// Replaces an earlier [`at`](Self::at).
    ///
    /// A delay needs the async runmode: in the sync runmode the send fails with
    /// [`Error::DelayedInSync`](crate::Error::DelayedInSync) rather than run the receivers
    /// early. `send_now` runs now whatever the options say.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.due = Some(Due::After(delay));
        self
    }

    /// Schedules the signal for `when`: as [`delay`](Self::delay), with a time rather than a
    /// duration. A time in the past means now. Replaces an earlier `delay`.
    pub fn at(mut self, when: SystemTime) -> Self {
        self.due = Some(Due::At(when));
        self
    }
}

/// What a `send` did.
///
/// Nothing in it needs looking at: a failure is an `Err`, in either runmode. So a plain
/// `SIGNAL.send(x).await?;` is complete, and compiles without warnings.
#[derive(Debug)]
#[non_exhaustive]
pub enum Sent {
    /// Asynchronous runmode: the signal is durably queued under this id.
    Queued(EnvelopeId),
    /// Synchronous runmode: the receivers ran here, all successfully; this is how each did.
    Ran(DispatchReport),
}

impl Sent {
    /// The id of the queued signal, or of the in-process dispatch.
    pub fn id(&self) -> EnvelopeId {
        match self {
            Sent::Queued(id) => *id,
            Sent::Ran(report) => report.id,
        }
    }
}

/// The codec glue a `SignalDef` points to. Not public API.
pub(crate) mod glue {
    use super::*;

    /// [`SignalDef::decode`] for arguments `A`.
    pub fn decode<A: DeserializeOwned + Send + 'static>(
        payload: &Payload,
    ) -> Result<ErasedArgs, DecodeError> {
        crate::codec::decode::<A>(payload).map(|a| Box::new(a) as ErasedArgs)
    }

    /// [`SignalDef::to_json`] for arguments `A`.
    pub fn to_json<A: DeserializeOwned + Serialize>(
        payload: &Payload,
    ) -> Result<serde_json::Value, DecodeError> {
        crate::codec::to_json::<A>(payload)
    }

    /// [`SignalDef::from_json`] for arguments `A`: JSON in, the codec's bytes out.
    pub fn from_json<A: DeserializeOwned + Serialize>(
        value: serde_json::Value,
        codec: Codec,
    ) -> Result<Payload, DecodeError> {
        let args: A = A::deserialize(value).map_err(|e| {
            DecodeError(format!(
                "the JSON does not match the signal's arguments: {e}"
            ))
        })?;
        codec.encode(&args).map_err(|e| DecodeError(e.to_string()))
    }
}
