//! The signalqueue worker: takes signals off the queues and runs their receivers.
//!
//! A worker of your own is a two-line binary that links your crates:
//! ```no_run
//! // use my_app as _;            // link the crate(s) whose receivers this worker runs
//! fn main() -> std::process::ExitCode { signalqueue_worker::main() }
//! ```
//! [`main`] parses the command line (`run`, `list`, `check`, `dequeue`, `dump`, `purge`,
//! `dead`, `send`; `--help` on each). To embed a worker in a program of your own, or in tests,
//! use [`Worker`].
//!
//! Exit codes: 0 success; 2 a configuration, registry, engine or usage problem (the message
//! says what to fix), or `check` found problems; 130 a second SIGINT/SIGTERM during shutdown.

use std::process::ExitCode;

use clap::Parser;

pub mod cli;
mod commands;
mod error;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod worker;

pub use crate::error::Error;
pub use crate::worker::{Halt, SignalOutcome, SignalResult, Summary, Worker, WorkerBuilder};

/// Parses the command line (`std::env::args`) and runs the worker or the command it names.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
