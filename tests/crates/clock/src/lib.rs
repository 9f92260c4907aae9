//! Periodic signals that fire every second, one per `catch_up` policy, and receivers that
//! journal each delivery as `tick <signal> <tick ms> <envelope id>`: a test tells a tick
//! enqueued twice (two ids) from one delivered twice (one id, after a worker was killed before
//! its ack), and sees which missed ticks each policy enqueued.
//!
//! The journal is the file `SQ_TEST_JOURNAL` names (one `write` per line, so lines of
//! concurrent receivers never interleave).

use std::io::Write;
use std::time::UNIX_EPOCH;

use signalqueue::{async_signal, receiver, Delivery};

/// Fires every second; after downtime, the most recent missed tick runs (the default).
#[async_signal(every = "1s", name = "clock.second")]
pub static SECOND: Second;

/// Fires every second; after downtime, every missed tick runs.
#[async_signal(every = "1s", catch_up = "all", name = "clock.second_all")]
pub static SECOND_ALL: SecondAll;

/// Fires every second; after downtime, no missed tick runs.
#[async_signal(every = "1s", catch_up = "none", name = "clock.second_none")]
pub static SECOND_NONE: SecondNone;

#[receiver(SECOND)]
async fn record(delivery: &Delivery) {
    journal("clock.second", delivery);
}

#[receiver(SECOND_ALL)]
async fn record_all(delivery: &Delivery) {
    journal("clock.second_all", delivery);
}

#[receiver(SECOND_NONE)]
async fn record_none(delivery: &Delivery) {
    journal("clock.second_none", delivery);
}

fn journal(signal: &str, delivery: &Delivery) {
    let tick = delivery
        .scheduled_for()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    if let Ok(path) = std::env::var("SQ_TEST_JOURNAL") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(format!("tick {signal} {tick} {}\n", delivery.id).as_bytes());
        }
    }
}
