//! Support for the workspace's integration tests: the shared process sandbox, the `flaky`
//! receiver's journal, `shop-worker` processes on a queue named by URL and the kill -9 scenario
//! they share, the scenarios of duplicates only from work in flight (`in_flight.rs`), a private
//! Redis per test, and PostgreSQL (a schema of the shared server, or a private server).

#![allow(dead_code, unreachable_pub)]

pub mod flaky;
pub mod in_flight;
pub mod postgres;
pub mod redis;
pub mod worker_bench;
pub mod worker_kill;

// Each test crate uses some of these.
#[allow(unused_imports)]
pub use sandbox::{registered_banner, Out, Running, Sandbox, DEADLINE};

/// The `flaky KEY stamped NOW due DUE` lines of `key`: when it ran and when it was due (ms).
pub fn stamps(journal: &[String], key: &str) -> Vec<(u64, Option<u64>)> {
    let prefix = format!("flaky {key} stamped ");
    journal
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let (ran, due) = rest.split_once(" due ").expect("a stamp line");
            (ran.parse().expect("ms"), due.parse().ok())
        })
        .collect()
}
