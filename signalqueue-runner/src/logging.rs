//! Logs: `tracing` to stderr (stdout belongs to commands' output, e.g. `dump`), coloured only
//! on a terminal, filtered by `RUST_LOG` (default `info`). While `dequeue` draws its progress
//! bar, each log line is written with the bar suspended, so the two never share a line.
//!
//! When stderr is not a terminal (journald, a file, a pipe), lines at `info` and below wait
//! in a buffer for at most [`FLUSH_EVERY`] and go out together: a busy worker logs a line per
//! signal, and one `write` per line cost about as much CPU as the rest of a no-op signal's
//! handling (`docs/benchmarks.md`). Warnings and errors are written at once, after whatever
//! waits, so the order of lines is kept. What waits is written at exit; a `kill -9` loses
//! at most the last [`FLUSH_EVERY`] of `info` lines.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The longest an `info` line waits before it is written.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Written at once past this many bytes waiting.
const FLUSH_AT: usize = 64 * 1024;

/// Lines waiting to be written (only when [`BUFFERED`]).
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Whether `info` lines wait in [`PENDING`]: stderr is not a terminal and no progress bar is
/// drawn.
static BUFFERED: AtomicBool = AtomicBool::new(false);

/// Installs the log subscriber; `default` is the filter when `RUST_LOG` is not set.
pub(crate) fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let terminal = std::io::stderr().is_terminal();
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter)
        .with_ansi(terminal)
        .try_init()
        .is_ok();
    if installed && !terminal && crate::progress::bar().is_none() {
        BUFFERED.store(true, Ordering::Relaxed);
        let flusher = std::thread::Builder::new()
            .name("signalqueue-log".into())
            .spawn(|| loop {
                std::thread::sleep(FLUSH_EVERY);
                flush();
            });
        if flusher.is_err() {
            // Without the thread, lines are written as they come.
            BUFFERED.store(false, Ordering::Relaxed);
        }
    }
}

/// Writes the log lines that wait (see the module docs). [`crate::main`] calls it before it
/// returns; a program that installs the subscriber with [`init`] and exits by other means
/// should call it first.
pub(crate) fn flush() {
    let mut pending = pending();
    write_out(&mut pending);
}

fn pending() -> MutexGuard<'static, Vec<u8>> {
    // A panic under this lock leaves bytes: still writable.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes out and empties `pending`.
fn write_out(pending: &mut Vec<u8>) {
    if !pending.is_empty() {
        // A log that cannot be written has nowhere to say so.
        let _ = SuspendingStderr.write_all(pending);
        pending.clear();
    }
}

/// Hands tracing a writer per line: into the buffer for `info` and below while buffering,
/// straight to stderr otherwise.
struct LogWriter;

/// One log line's writer.
enum LineWriter {
    /// Appends to [`PENDING`].
    Buffered,
    /// Writes what waits, then this line, to stderr.
    Direct,
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter::Direct
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter {
        // Levels order by verbosity: WARN and ERROR are the ones at or below WARN.
        if BUFFERED.load(Ordering::Relaxed) && *meta.level() > Level::WARN {
            LineWriter::Buffered
        } else {
            LineWriter::Direct
        }
    }
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut pending = pending();
        match self {
            LineWriter::Buffered => {
                pending.extend_from_slice(buf);
                if pending.len() >= FLUSH_AT {
                    write_out(&mut pending);
                }
            }
            LineWriter::Direct => {
                // Under the lock, so no flush slips in between and the order holds.
                write_out(&mut pending);
                SuspendingStderr.write_all(buf)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the log subscriber as [`init_with_default`] does, and creates the progress bar
/// (`progress`) that log lines suspend.
pub(crate) fn init_with_progress(default: &str) {
    crate::progress::create();
    init_with_default(default);
}

/// stderr, written with the progress bar (if any) cleared and redrawn after. tracing writes
/// each event with one `write_all`, which reaches [`Write::write`] whole. While stderr is the
/// progress capture's pipe, the capture suspends the bar for each line instead.
struct SuspendingStderr;

impl Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match crate::progress::bar() {
            Some(bar) if !crate::progress::capturing() => {
                bar.suspend(|| std::io::stderr().write_all(buf))?
            }
            _ => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
