//! A newer release of the shop, for tests of what the worker does across releases: a signal
//! the older `shop-worker` does not know (`rollout.new_signal`), a receiver of an existing
//! signal it does not link (`rollout::late_flaky`), and a signal whose receivers have different
//! retry limits (`rollout.split`). `rollout-worker` links this crate and the shop's receivers,
//! so it is the older worker plus these. Receivers record through `shop_receivers::record`
//! (`SQ_TEST_JOURNAL`).

use shop_receivers::record;
use shop_signals::FLAKY;
use signalqueue::{async_signal, receiver, BoxError, Delivery};

/// A signal added in this release.
#[async_signal(providing_args = [n: u64], name = "rollout.new_signal")]
pub static NEW_SIGNAL: NewSignal;

/// A signal whose receivers part ways: two that always fail, with different retry limits, and
/// one that succeeds.
#[async_signal(providing_args = [key: String], name = "rollout.split")]
pub static SPLIT: Split;

#[receiver(NEW_SIGNAL)]
async fn on_new_signal(delivery: &Delivery, n: u64) {
    record(format!("new_signal {n} {}", delivery.id));
}

/// A receiver added in this release to a signal the older release already had.
#[receiver(FLAKY)]
async fn late_flaky(key: String, _mode: String) {
    record(format!("late_flaky {key}"));
}

/// Always fails; one retry.
#[receiver(SPLIT, retries = 1)]
async fn fails_soon(delivery: &Delivery, key: String) -> Result<(), BoxError> {
    record(format!("fails_soon {key} attempt {}", delivery.attempt));
    Err(format!("fails_soon {key} failed as asked").into())
}

/// Always fails; four retries.
#[receiver(SPLIT, retries = 4)]
async fn fails_late(delivery: &Delivery, key: String) -> Result<(), BoxError> {
    record(format!("fails_late {key} attempt {}", delivery.attempt));
    Err(format!("fails_late {key} failed as asked").into())
}

/// Succeeds at once.
#[receiver(SPLIT)]
async fn succeeds(delivery: &Delivery, key: String) {
    record(format!(
        "succeeds {key} attempt {} id {}",
        delivery.attempt, delivery.id
    ));
}
