//! Signals of a shop, declared in their own crate.

use serde::{Deserialize, Serialize};
use signalqueue::async_signal;

/// An order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Its id.
    pub id: i64,
    /// Its total in cents.
    pub total_cents: i64,
}

/// Sent when the checkout form is submitted.
#[async_signal(providing_args = [instance: Order], name = "shop.form_submit")]
pub static FORM_SUBMIT: FormSubmit;

/// Two arguments,
/// with the wire name pinned.
///
/// A second paragraph, not in the summary.
#[async_signal(providing_args = [a: u32, b: String], name = "shop.two_args", queue = "default")]
pub static TWO_ARGS: TwoArgs;

/// A signal for tests of failure handling: receivers fail or panic as `mode` says.
#[async_signal(providing_args = [key: String, mode: String], name = "shop.flaky")]
pub static FLAKY: Flaky;

/// A signal whose wire name is the default (its Rust path).
#[async_signal(providing_args = [n: u64])]
pub static UNNAMED: Unnamed;

/// A signal on another queue.
#[async_signal(providing_args = [to: String], name = "shop.email", queue = "emails")]
pub static EMAIL: Email;

/// A signal whose receiver has a time limit: it sleeps `ms` milliseconds.
#[async_signal(providing_args = [key: String, ms: u64], name = "shop.slow")]
pub static SLOW: Slow;
