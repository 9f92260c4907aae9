//! A periodic signal that fires every second, and a receiver that journals each delivery as
//! `tick <tick ms> <envelope id>`: a test tells a tick enqueued twice (two ids) from one
//! delivered twice (one id, after a worker was killed before its ack).
//!
//! The journal is the file `SQ_TEST_JOURNAL` names (one `write` per line, so lines of
//! concurrent receivers never interleave).

use std::io::Write;
use std::time::UNIX_EPOCH;

use signalqueue::{async_signal, receiver, Delivery};

/// Fires every second.
#[async_signal(every = "1s", name = "clock.second")]
pub static SECOND: Second;

#[receiver(SECOND)]
async fn record(delivery: &Delivery) {
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
            let _ = f.write_all(format!("tick {tick} {}\n", delivery.id).as_bytes());
        }
    }
}
