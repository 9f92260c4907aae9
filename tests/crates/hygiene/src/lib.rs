//! Hygiene: this crate depends on signalqueue under the name `sq`, has no `inventory`, `tokio`
//! or `bincode` dependency, denies every warning (missing docs included), and declares signals
//! and receivers of every form. That it builds is the test; `send_now` below runs them.
#![deny(warnings, missing_docs, unreachable_pub)]
#![no_implicit_prelude]

extern crate std;

use ::serde::{Deserialize, Serialize};
use ::std::clone::Clone;
use ::std::string::String;

/// An order.
#[derive(Clone, ::std::fmt::Debug, Serialize, Deserialize)]
pub struct Order {
    /// Its id.
    pub id: i64,
}

/// Sent when the checkout form is submitted.
#[::sq::async_signal(providing_args = [instance: Order])]
pub static FORM_SUBMIT: FormSubmit;

/// A private signal with two arguments and a pinned name.
#[::sq::async_signal(providing_args = [a: u32, b: String], name = "hygiene.two", queue = "default")]
static TWO: Two;

/// A periodic signal: no arguments, every key of a schedule.
#[::sq::async_signal(
    schedule = "0 9 * * MON-FRI",
    timezone = "Europe/Paris",
    catch_up = "all"
)]
pub static MORNING: Morning;

/// A periodic signal with a period.
#[::sq::async_signal(every = "30s", catch_up = "none")]
static EVERY_HALF_MINUTE: EveryHalfMinute;

#[::sq::receiver(MORNING)]
async fn on_morning(delivery: &::sq::Delivery) {
    let _ = delivery.scheduled_for();
}

#[::sq::receiver(EVERY_HALF_MINUTE)]
fn on_half_minute() {}

#[::sq::receiver(FORM_SUBMIT)]
async fn on_submit(instance: Order) -> ::std::result::Result<(), ::sq::BoxError> {
    let _ = instance.id;
    ::std::result::Result::Ok(())
}

#[::sq::receiver(
    FORM_SUBMIT,
    sender = "hygiene.Order",
    retries = 1,
    name = "hygiene.audit"
)]
fn audit(delivery: &::sq::Delivery, instance: Order) {
    let _ = (delivery.attempt, instance);
}

#[::sq::receiver(TWO)]
async fn on_two(a: u32, b: String) {
    let _ = (a, b);
}

/// The store rows load from.
pub struct Store;

::sq::provide_store!(Store, || async {
    ::std::result::Result::<_, ::std::io::Error>::Ok(Store)
});

impl ::sq::Model for Order {
    const APP_LABEL: &'static str = "hygiene";
    const MODEL_NAME: &'static str = "order";
    type Key = i64;

    fn key(&self) -> i64 {
        self.id
    }

    async fn load(
        key: &i64,
        stores: &::sq::Stores,
    ) -> ::std::result::Result<::std::option::Option<Self>, ::sq::BoxError> {
        let _store = stores.get::<Store>().await?;
        ::std::result::Result::Ok(::std::option::Option::Some(Order { id: *key }))
    }
}

/// Stands in for a foreign type without serde.
#[derive(Clone)]
pub struct Celsius(pub f64);

/// Sends `Celsius` as whole degrees.
pub struct Degrees;

impl ::sq::Mapping<Celsius> for Degrees {
    type Wire = i64;

    fn to_wire(value: &Celsius) -> i64 {
        value.0 as i64
    }

    fn from_wire(wire: i64) -> ::std::result::Result<Celsius, ::sq::BoxError> {
        ::std::result::Result::Ok(Celsius(wire as f64))
    }
}

/// An order by reference, and a reading through a custom mapping.
#[::sq::async_signal(providing_args = [instance: ::sq::Ref<Order>, reading: Celsius with Degrees], on_missing = "skip")]
pub static BY_REFERENCE: ByReference;

#[::sq::receiver(BY_REFERENCE)]
async fn on_by_reference(instance: ::sq::Ref<Order>, reading: Celsius) {
    let _ = (instance.get().map(|o| o.id), reading.0);
}

/// Runs every signal's receivers here; returns how many ran.
pub async fn run_all() -> usize {
    let a = FORM_SUBMIT.send_now(Order { id: 1 }).await;
    let b = TWO
        .send_now(2, ::std::string::ToString::to_string("x"))
        .await;
    let c = BY_REFERENCE
        .send_now(::sq::Ref::from_key(3), Celsius(21.0))
        .await;
    a.outcomes.len() + b.outcomes.len() + c.outcomes.len()
}

/// Sends as the README does: a plain `send(..).await?;` is complete (a failure is an `Err` in
/// either runmode), so it compiles without a warning under `#![deny(warnings)]`.
pub async fn send_like_the_readme() -> ::core::result::Result<(), ::sq::Error> {
    FORM_SUBMIT.send(Order { id: 4 }).await?;
    TWO.send(5, ::std::string::ToString::to_string("y")).await?;
    ::core::result::Result::Ok(())
}

/// Calls a receiver directly, as a unit test of the app would: the `Delivery` is built with
/// its public constructor (it is `#[non_exhaustive]`, so not as a struct literal). Returns the
/// attempt the receiver was given.
pub fn call_a_receiver_directly() -> u32 {
    let delivery = ::sq::Delivery::new(::sq::EnvelopeId::new(), "hygiene.direct")
        .with_attempt(2)
        .with_sender(::std::option::Option::Some(
            ::std::string::ToString::to_string("hygiene.Order"),
        ))
        .with_enqueued_at(::std::time::SystemTime::UNIX_EPOCH)
        .with_scheduled_for(::std::option::Option::None);
    audit(&delivery, Order { id: 6 });
    delivery.attempt
}

/// The configuration as an app with its own settings builds it: defaults, then fields. The
/// structs are `#[non_exhaustive]`, so a struct literal (or `..Default::default()`) would not
/// compile here.
pub fn configure() -> ::sq::Config {
    let mut config = <::sq::Config as ::std::default::Default>::default();
    config.runmode = ::sq::Runmode::Sync;
    config.worker.retries = 3;
    let mut queue = ::sq::config::QueueConfig::new("memory://hygiene");
    queue.lease = ::std::time::Duration::from_secs(10);
    config
        .queues
        .insert(::std::string::ToString::to_string("default"), queue);
    config.outbox.relay = false;
    config
}
