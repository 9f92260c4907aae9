//! The signalqueue worker: takes signals off the queues and runs their receivers.
//!
//! A worker of your own is a two-line binary that links your crates:
//! ```no_run
//! // use my_app as _;            // link the crate(s) whose receivers this worker runs
//! fn main() -> std::process::ExitCode { signalqueue_worker::main() }
//! ```

use std::process::ExitCode;

pub mod http;
pub mod metrics;

/// Parses the command line and runs the worker (or one of its commands).
pub fn main() -> ExitCode {
    let registry = signalqueue::Registry::global();
    println!(
        "signalqueue-worker {}: {} signals, {} receivers registered",
        env!("CARGO_PKG_VERSION"),
        registry.signals().count(),
        registry.receiver_count()
    );
    ExitCode::SUCCESS
}
