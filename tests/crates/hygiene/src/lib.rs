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

/// Runs both signals' receivers here; returns how many ran.
pub async fn run_all() -> usize {
    let a = FORM_SUBMIT.send_now(Order { id: 1 }).await;
    let b = TWO
        .send_now(2, ::std::string::ToString::to_string("x"))
        .await;
    a.outcomes.len() + b.outcomes.len()
}
