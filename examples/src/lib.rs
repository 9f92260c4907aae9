//! The example app: the original README's story. A checkout form is submitted; the web process
//! saves the order and sends `FORM_SUBMIT` with a reference to it, and answers at once; a
//! worker loads the order and updates the event log, slowly.
//!
//! - `cargo run -p examples --example demo_web`: the web app (checkout form, orders, event log).
//! - `cargo run -p signalqueue-worker`: the worker, which links this crate, so the receivers
//!   below and the demo database's store run there.
//! - `cargo run -p examples --example send_demo`: places a few orders from the command line.

mod db;

use std::time::{Duration, Instant};

use signalqueue::{async_signal, receiver, BoxError, Delivery, Ref};

pub use crate::db::{now_ms, CheckoutError, DemoDb, Event, Order, ITEMS};

/// Sent when the checkout form is submitted, with the order saved by then. Receivers get the
/// order as it is when they run; one cancelled in between arrives as `None`.
#[async_signal(providing_args = [instance: Ref<Order>], name = "examples.form_submit")]
pub static FORM_SUBMIT: FormSubmit;

/// A signal with two arguments, for the quick start and the CLI's `send`.
#[async_signal(providing_args = [a: u32, b: String], name = "demo.two_args", queue = "default")]
pub static TWO_ARGS: TwoArgs;

/// A heartbeat, once an hour (on the hour); its receiver logs the tick. Hourly rather than more
/// often, so that the quick start and the demo, which count what the worker handled, almost never
/// see one.
///
/// A periodic signal (no arguments), so that `signalqueue-worker schedule` has something to
/// show in this repository.
#[async_signal(every = "1h", name = "examples.heartbeat")]
pub static HEARTBEAT: Heartbeat;

#[receiver(HEARTBEAT)]
async fn log_heartbeat(delivery: &Delivery) {
    match delivery.scheduled_for() {
        Some(tick) => println!(
            "heartbeat: tick {}, signal {}",
            humantime::format_rfc3339_seconds(tick),
            delivery.id
        ),
        None => println!("heartbeat: sent by hand, signal {}", delivery.id),
    }
}

/// How long the "aggregation" takes: `DEMO_AGGREGATION_MS`, 1500 by default.
fn aggregation_time() -> Duration {
    let ms = std::env::var("DEMO_AGGREGATION_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    Duration::from_millis(ms)
}

/// The slow receiver of the story: aggregates the orders and writes a line to the event log.
#[receiver(FORM_SUBMIT)]
async fn update_event_log(delivery: &Delivery, instance: Ref<Order>) -> Result<(), BoxError> {
    let started = Instant::now();
    // Stands in for the "gnarly aggregation" of the original README: slow on purpose, so the
    // web page, which only queued the signal, answers long before this is done.
    tokio::time::sleep(aggregation_time()).await;
    let db = DemoDb::get().await?;
    let (orders, cents) = db.totals().await?;
    let message = match instance.get() {
        Some(order) => {
            println!(
                "event log: order {} ({} cents), signal {} attempt {}",
                order.id, order.total_cents, delivery.id, delivery.attempt
            );
            format!(
                "order #{} by {}: {} × {}, {}; {} so far, {} in all",
                order.id,
                order.customer,
                order.quantity,
                order.item,
                money(order.total_cents),
                count(orders, "order"),
                money(cents)
            )
        }
        None => {
            println!(
                "event log: order {} is gone (cancelled before the worker ran), signal {} attempt {}",
                instance.key(),
                delivery.id,
                delivery.attempt
            );
            format!(
                "order #{} was cancelled before the event log got to it; {} remain, {} in all",
                instance.key(),
                count(orders, "order"),
                money(cents)
            )
        }
    };
    let took = started.elapsed().as_millis() as i64;
    db.log_event(*instance.key(), delivery.id.to_string(), message, took)
        .await
}

/// Prints the two arguments.
#[receiver(TWO_ARGS)]
async fn on_two(a: u32, b: String) {
    println!("two_args: a={a} b={b}");
}

/// `1 order`, `2 orders`.
fn count(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Cents as money: `4200` is `42.00`.
pub fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}
