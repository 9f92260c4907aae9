//! Typed signals, sent now, handled later by a worker, through a durable queue.
//!
//! The successor of django-signalqueue for Rust: declare a signal, write receivers anywhere in
//! the program, and `send`. In the asynchronous runmode (the default) `send` returns once the
//! signal is durably queued, and a worker process (`signalqueue-worker`) runs the receivers.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use signalqueue::{async_signal, receiver, BoxError};
//!
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! pub struct Order { pub id: i64, pub total_cents: i64 }
//!
//! /// Sent when the checkout form is submitted.
//! #[async_signal(providing_args = [instance: Order])]
//! pub static FORM_SUBMIT: FormSubmit;
//!
//! #[receiver(FORM_SUBMIT)]
//! async fn update_event_log(instance: Order) -> Result<(), BoxError> {
//!     println!("order {} for {} cents", instance.id, instance.total_cents);
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), signalqueue::Error> {
//! // A process's queues come from signalqueue.toml (default: `sqlite://signalqueue.db`);
//! // here an in-memory queue stands in, so the example needs no file.
//! let runtime = signalqueue::Runtime::builder()
//!     .queue("default", signalqueue::engine::open("memory://doc", signalqueue::engine::EngineOptions::new("default")).await?)
//!     .build();
//! runtime.scope(async {
//!     let order = Order { id: 1, total_cents: 4200 };
//!     // Queued: returns at once; a worker runs `update_event_log` later.
//!     let sent = FORM_SUBMIT.send(order.clone()).await?;
//!     assert!(matches!(sent, signalqueue::Sent::Queued(_)));
//!     // Or run every receiver here and now, with a report of each one's outcome.
//!     let report = FORM_SUBMIT.send_now(order).await;
//!     assert!(report.is_success());
//!     Ok(())
//! }).await
//! # }
//! ```
//!
//! Run the receivers with `cargo run -p signalqueue-worker` (or a two-line binary of your
//! own that links your crates: depend on `signalqueue-runner`). Arguments can also travel by
//! reference (a [`Model`] row sent as [`Ref`], loaded again in the worker) or through a custom
//! [`Mapping`]: see [`mapping`]. Longer topics live in `docs/`: `ARCHITECTURE.md`,
//! `mappings.md`, `wire-format.md`, `engines.md`.
//!
//! # What is public
//!
//! An app needs the items at this crate's root and in [`config`], [`mapping`],
//! [`transaction`] and [`outbox`]; a tool reading queues, [`envelope`] and [`codec`]; an engine
//! author, [`engine`]. That is the whole public API. Types that will grow (errors, reports,
//! [`Delivery`], the engine's values, the configuration) are `#[non_exhaustive]`: match their
//! enums with a wildcard arm, and build their structs with their constructors (or as their
//! `Default` with fields set), so that a minor release that adds a variant or a field does not
//! break the build. A module named `__private` holds what the macros' expansions and the worker
//! crate use; it is hidden, not public API, and changes in any release. `docs/ARCHITECTURE.md`
//! ("The public surface") lists every item and the semver policy.

// Generated code names `::signalqueue::...`; this makes that path work inside this crate too.
extern crate self as signalqueue;

// The public surface (docs/ARCHITECTURE.md, "The public surface"): the modules below that are
// `pub` are namespaces a user or an engine author names; the private ones are reached through
// the re-exports after them, so that each public item has one path, and what only the worker
// crate or the macros need is under `__private`.
mod backoff;
pub mod codec;
pub mod config;
mod dispatch;
pub mod engine;
pub mod envelope;
mod error;
pub mod mapping;
pub mod outbox;
mod receiver;
mod registry;
mod runmode;
mod runtime;
mod schedule;
mod send;
mod signal;
pub mod transaction;

pub use crate::codec::Codec;
pub use crate::config::Config;
pub use crate::dispatch::{DispatchReport, Outcome, ReceiverOutcome};
pub use crate::envelope::{Envelope, EnvelopeId, FailedAttempt, Payload};
pub use crate::error::Error;
pub use crate::mapping::{Mapping, Model, OnMissing, Ref, Stores};
pub use crate::receiver::{Delivery, ReceiverDef};
pub use crate::registry::Registry;
pub use crate::runmode::Runmode;
pub use crate::runtime::{init, install, Runtime, RuntimeBuilder};
pub use crate::schedule::{CatchUp, ScheduleDef};
pub use crate::signal::{ArgDef, SendOptions, Sender, Sent, Signal, SignalDef};
pub use crate::transaction::AppTransaction;

/// The error type receivers may return: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Declares a typed asynchronous signal.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Clone, Serialize, Deserialize)] pub struct Order { pub id: i64 }
/// use signalqueue::async_signal;
///
/// /// Sent when the checkout form is submitted.
/// #[async_signal(providing_args = [instance: Order])]
/// pub static FORM_SUBMIT: FormSubmit;
///
/// #[async_signal(providing_args = [a: u32, b: String], name = "demo.two_args", queue = "default")]
/// pub static TWO_ARGS: TwoArgs;
///
/// /// Sweeps abandoned carts: a periodic signal, with no arguments.
/// #[async_signal(schedule = "*/10 * * * * *")] // 6 fields: with seconds; 5 fields: minutes
/// pub static SWEEP_CARTS: SweepCarts;
/// ```
///
/// On `static NAME: TypeName;` it generates:
/// - the struct `TypeName`, the signal, with methods taking the `providing_args` in order:
///   `send` (queue it, or run it inline in the sync runmode), `send_with` (with
///   [`SendOptions`]: a sender, a runmode), `send_now` (run every receiver here),
///   `send_blocking` (for non-async code), `send_many` (one round trip for a batch);
/// - the struct `TypeNameArgs`, the arguments as one value (what `send_many` takes);
/// - the static `NAME` and its registration, found by the worker at link time.
///
/// Keys:
/// - `providing_args = [name: Type, ...]` (required, unless the signal is periodic): each type must be
///   `Serialize + DeserializeOwned + Clone + Send + 'static`, or `Ref<M>` with `M: Model`, or
///   be followed by `with MappingType` (`when: Timestamp with TimestampMapping`).
/// - `name = "..."`: the wire name, which the queue carries and the worker looks up. It
///   defaults to the static's Rust path (`my_app::signals::FORM_SUBMIT`), so moving or
///   renaming the static changes it, and signals already queued under the old name would find
///   no signal in a new worker (they are dead-lettered as unknown, not lost). Pin it with
///   `name = "..."` for signals whose queue outlives a deploy.
/// - `queue = "..."`: the configured queue it goes to (default `"default"`).
/// - `on_missing = "deliver" | "skip"`: for signals with a [`Ref`] argument, what happens when
///   the referenced row is gone by the time the signal is handled: receivers get a `Ref`
///   whose `get()` is `None` (`"deliver"`, the default), or the signal is acknowledged without
///   running them (`"skip"`).
/// - `schedule = "..."` instead of `providing_args` makes the signal periodic (see
///   `docs/worker.md`, "Periodic signals"): a cron expression of 5 fields (minutes first) or 6
///   (seconds first), or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`; the worker's
///   scheduler enqueues one signal per tick, and [`Delivery::scheduled_for`] gives the tick.
///   Its methods take no arguments. `timezone = "Europe/Paris"` reads the expression in an
///   IANA zone (default UTC).
/// - `every = "30s"` instead of `schedule`: a tick at each multiple of the period since the
///   Unix epoch.
/// - `catch_up = "last" | "none" | "all"`: for a periodic signal, which of the ticks missed
///   while no worker ran are enqueued when one is back: the most recent (the default), none,
///   or all of them, oldest first. The declaration is [`SignalDef::schedule`], a
///   [`ScheduleDef`].
///
/// How each argument travels follows from its type (`docs/mappings.md`): by value for a serde
/// type; by reference for `Ref<M>` where `M:` [`Model`] (only `{app_label, model, pk}` is
/// queued, and the row is loaded just before the receivers run); and through a custom
/// [`Mapping`] with `name: ForeignType with MyMapping`.
pub use signalqueue_macros::async_signal;

/// Registers a function as a receiver of a signal.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Clone, Serialize, Deserialize)] pub struct Order { pub id: i64 }
/// # use signalqueue::async_signal;
/// # #[async_signal(providing_args = [instance: Order])]
/// # pub static FORM_SUBMIT: FormSubmit;
/// use signalqueue::{receiver, BoxError, Delivery};
///
/// #[receiver(FORM_SUBMIT)]
/// async fn update_event_log(instance: Order) -> Result<(), BoxError> {
///     Ok(())
/// }
///
/// // Only for signals sent by "shop.Order", with the delivery context, retried 3 times.
/// #[receiver(FORM_SUBMIT, sender = "shop.Order", retries = 3)]
/// async fn audit(delivery: &Delivery, instance: Order) {
///     println!("attempt {} of {}", delivery.attempt, delivery.id);
/// }
///
/// // A plain function runs on the blocking thread pool.
/// #[receiver(FORM_SUBMIT)]
/// fn write_file(instance: Order) -> std::io::Result<()> {
///     Ok(())
/// }
/// ```
///
/// The parameters are the signal's `providing_args`, in order and type, optionally preceded by
/// `&Delivery`. The function returns `()` or `Result<(), E>` with `E: Into<BoxError>`, and stays
/// an ordinary function the program can call. Keys: `sender = "..."` (only signals from this
/// sender), `retries = N` (failures retried N times before dead-lettering), `timeout_ms = N` (a
/// run past N milliseconds is abandoned and counts as a failure), `name = "..."` (the
/// receiver's stable name; default: its Rust path).
pub use signalqueue_macros::receiver;

/// What generated code and the worker library (`signalqueue-runner`) use. Not public API: it changes
/// without notice, in any release.
///
/// The macros' expansions name only paths under here, so users depend on `signalqueue` alone.
/// The worker library (`signalqueue-runner`) reaches the dispatch and relay internals through here
/// too: it depends on this crate's exact version, so nothing here needs to stay stable.
#[doc(hidden)]
pub mod __private {
    pub use crate::backoff::Backoff;
    pub use crate::codec::Codec;
    pub use crate::dispatch::{
        describe_missing, panic_message, prepare, run_receivers, PrepareError, Prepared, TimedOut,
    };
    pub use crate::engine::schemes::EngineScheme;
    pub use crate::envelope::{DecodeError, Payload};
    pub use crate::mapping::glue::*;
    pub use crate::mapping::{OnMissing, Stores};
    pub use crate::outbox::relay::{relay_once, run as run_relay, RelayOptions};
    pub use crate::receiver::{
        run_blocking, split, Delivery, GlueRequest, GlueResponse, IntoReceiverResult, ReceiverDef,
        ReceiverFuture, Split,
    };
    pub use crate::registry::{ReceiverRegistration, SignalRegistration};
    pub use crate::schedule::{CatchUp, ScheduleDef};
    pub use crate::send::*;
    pub use crate::signal::glue::*;
    pub use crate::signal::{ArgDef, ErasedArgs, SendOptions, Sent, Signal, SignalDef};
    pub use crate::transaction::{AppTransaction, Placement};
    pub use crate::{BoxError, DispatchReport, EnvelopeId, Error};
    pub use ::core;
    pub use ::inventory;
    pub use ::serde;
    pub use ::std::boxed::Box;
    pub use ::std::time::Duration;
    pub use ::std::vec::Vec;
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
