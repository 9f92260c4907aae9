//! Logs: `tracing` to stderr (stdout belongs to commands' output, e.g. `dump`), coloured only
//! on a terminal, filtered by `RUST_LOG` (default `info`). While `dequeue` draws its progress
//! bar, each log line is written with the bar suspended, so the two never share a line.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressDrawTarget};
use tracing_subscriber::EnvFilter;

/// The progress bar of this process, when `dequeue` runs on a terminal.
static PROGRESS: OnceLock<ProgressBar> = OnceLock::new();

/// Installs the log subscriber; `default` is the filter when `RUST_LOG` is not set.
pub(crate) fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| SuspendingStderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Installs the log subscriber as [`init_with_default`] does, and creates the progress bar
/// that log lines suspend; hidden until `dequeue` knows its length and shows it.
pub(crate) fn init_with_progress(default: &str) {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    let _ = PROGRESS.set(bar);
    init_with_default(default);
}

/// The progress bar made by [`init_with_progress`], if any.
pub(crate) fn progress_bar() -> Option<&'static ProgressBar> {
    PROGRESS.get()
}

/// stderr, written with the progress bar (if any) cleared and redrawn after. tracing writes
/// each event with one `write_all`, which reaches [`Write::write`] whole.
struct SuspendingStderr;

impl Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match PROGRESS.get() {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
