//! The signalqueue worker as a library: takes signals off the queues and runs their receivers,
//! with the admin console and the command line.
//!
//! This crate links no signals or receivers of its own. A worker of your own depends on it
//! (`cargo add signalqueue-runner`) and is a two-line binary that links your crates:
//! ```no_run
//! // use my_app as _;            // link the crate(s) whose receivers this worker runs
//! fn main() -> std::process::ExitCode { signalqueue_runner::main() }
//! ```
//! [`main`] parses the command line (`run`, `list`, `check`, `dequeue`, `dump`, `purge`,
//! `dead`, `send`; `--help` on each). To embed a worker in a program of your own, or in tests,
//! use [`Worker`].
//!
//! What the worker does with each signal, in short (`docs/worker.md` has the whole story):
//! - The receivers a signal owes run one after another, each on its own; a panic is a failure.
//!   All succeeded: the signal is acknowledged.
//! - Failed receivers, and only they, are retried later with exponential backoff and jitter,
//!   up to their retry limit (`#[receiver(SIG, retries = N)]`, else `[worker] retries`); then
//!   that receiver alone is dead-lettered, owing only it, with its error. Each failed receiver
//!   keeps its own attempt count and backoff, so none runs more than `1 + retries` times.
//! - An entry that is not an envelope, names a signal not linked in, no longer decodes, or was
//!   claimed over and over without finishing (poison) is dead-lettered with its bytes unchanged.
//! - Delivery is at least once: a worker killed mid-way leaves its claims to come back when
//!   their leases expire, so receivers should be idempotent.
//!
//! Exit codes: 0 success; 2 a configuration, registry, engine or usage problem (the message
//! says what to fix), or `check` found problems; 130 a second SIGINT/SIGTERM during shutdown.

use std::io::IsTerminal;
use std::process::ExitCode;

mod cli;
mod commands;
mod error;
pub mod http;
mod logging;
pub mod metrics;
mod periodic;
mod progress;
pub mod worker;

pub use crate::error::Error;
pub use crate::worker::{Halt, SignalOutcome, SignalResult, Summary, Worker, WorkerBuilder};

/// Parses the command line (`std::env::args`) and runs the worker or the command it names.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse_args();
    // `dequeue` draws a progress bar on a terminal; a log line per signal would tear it, so
    // there it logs warnings only (unless RUST_LOG says otherwise).
    let bar =
        matches!(cli.command, Some(cli::Command::Dequeue(_))) && std::io::stdout().is_terminal();
    if bar {
        logging::init_with_progress("warn");
    } else {
        logging::init_with_default("info");
    }
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
    let code = match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            logging::flush();
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    };
    logging::flush();
    code
}
