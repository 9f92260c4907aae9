//! The example app: the original README's story. A checkout form is submitted; the web
//! process sends `FORM_SUBMIT` and answers at once; a worker updates the event log.
//!
//! `cargo run -p signalqueue-worker` links this crate, so its receivers run there.

use serde::{Deserialize, Serialize};
use signalqueue::{async_signal, receiver, BoxError, Delivery};

/// An order, as the checkout form produces it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id.
    pub id: i64,
    /// Its total, in cents.
    pub total_cents: i64,
}

/// Sent when the checkout form is submitted.
#[async_signal(providing_args = [instance: Order], name = "examples.form_submit")]
pub static FORM_SUBMIT: FormSubmit;

/// A signal with two arguments, for the quick start and the CLI's `send`.
#[async_signal(providing_args = [a: u32, b: String], name = "demo.two_args", queue = "default")]
pub static TWO_ARGS: TwoArgs;

/// The slow receiver of the story: aggregates the event log.
#[receiver(FORM_SUBMIT)]
async fn update_event_log(delivery: &Delivery, instance: Order) -> Result<(), BoxError> {
    // Stands in for the "gnarly aggregation" of the original README.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    println!(
        "event log: order {} ({} cents), signal {} attempt {}",
        instance.id, instance.total_cents, delivery.id, delivery.attempt
    );
    Ok(())
}

/// Prints the two arguments.
#[receiver(TWO_ARGS)]
async fn on_two(a: u32, b: String) {
    println!("two_args: a={a} b={b}");
}
