//! Support for the workspace's integration tests: the shared process sandbox, the `flaky`
//! receiver's journal, `shop-worker` processes on a queue named by URL and the kill -9 scenario
//! they share, a private Redis per test, and PostgreSQL (a schema of the shared server, or a
//! private server).

#![allow(dead_code, unreachable_pub)]

pub mod flaky;
pub mod postgres;
pub mod redis;
pub mod worker_bench;
pub mod worker_kill;

// Each test crate uses some of these.
#[allow(unused_imports)]
pub use sandbox::{registered_banner, Out, Running, Sandbox, DEADLINE};
