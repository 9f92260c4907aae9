//! A second crate of receivers for the same signals: the worker must run both crates'.

use shop_signals::{Order, FLAKY, FORM_SUBMIT};
use signalqueue::receiver;

#[receiver(FORM_SUBMIT)]
async fn audit_order(instance: Order) {
    shop_receivers::record(format!("audit_order {}", instance.id));
}

#[receiver(FLAKY)]
async fn audit_flaky(key: String, mode: String) {
    shop_receivers::record(format!("audit_flaky {key} {mode}"));
}

/// Sorts first among `shop.flaky`'s receivers and panics on `panic-first`, so tests can see
/// that the receivers after a panicking one still run.
#[receiver(FLAKY)]
async fn a_panicking_audit(key: String, mode: String) {
    if mode == "panic-first" {
        panic!("a_panicking_audit {key} panicked first");
    }
}
