//! Support for the workspace's integration tests: the shared process sandbox, and a private
//! Redis prefix per test.

#![allow(dead_code, unreachable_pub)]

pub mod postgres;
pub mod redis;

// Each test crate uses some of these.
#[allow(unused_imports)]
pub use sandbox::{registered_banner, Out, Running, Sandbox, DEADLINE};
