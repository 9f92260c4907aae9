//! `dequeue`'s progress bar on a terminal, and the capture that keeps other output off its line.
//!
//! indicatif suspends the bar for what this process writes through it (log lines do, see
//! `logging`), but a receiver's `println!` or `eprintln!` goes straight to the terminal and
//! would be written after the bar's text, on its line. So while the bar is shown, the
//! process's stdout and stderr are pipes ([`Capture`]): a thread per pipe reads whole lines and
//! writes each to the terminal with the bar suspended (cleared, the line written, the bar drawn
//! again below it), and the bar draws on a copy of the terminal's descriptor. Ending the
//! capture puts the terminal back on stdout and stderr and writes what was still in the pipes.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use console::{Style, Term};
use indicatif::{ProgressBar, ProgressDrawTarget};
use rustix::pipe::PipeFlags;

/// The progress bar of this process, when `dequeue` runs on a terminal.
static PROGRESS: OnceLock<ProgressBar> = OnceLock::new();

/// Whether stdout and stderr are pipes read by a [`Capture`] now.
static CAPTURING: AtomicBool = AtomicBool::new(false);

/// How long ending a capture waits for what is still in the pipes: a process a receiver
/// started in the background holds the pipes open, and must not keep `dequeue` from exiting.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// Creates the bar, hidden until `dequeue` knows its length and shows it.
pub(crate) fn create() {
    let _ = PROGRESS.set(ProgressBar::with_draw_target(
        Some(0),
        ProgressDrawTarget::hidden(),
    ));
}

/// The bar made by [`create`], if any.
pub(crate) fn bar() -> Option<&'static ProgressBar> {
    PROGRESS.get()
}

/// Whether a [`Capture`] reads stdout and stderr now: a log line is then written to the pipe as
/// it is, since the capture suspends the bar for it (suspending here too could block on a full
/// pipe while holding the bar, which the capture's thread waits for).
pub(crate) fn capturing() -> bool {
    CAPTURING.load(Ordering::Acquire)
}

/// stdout and stderr as pipes, forwarded to the terminal line by line with the bar suspended,
/// until dropped.
pub(crate) struct Capture {
    /// The terminal's stdout and stderr, to put back.
    stdout: OwnedFd,
    stderr: OwnedFd,
    /// One message per forwarding thread when it has written everything.
    drained: mpsc::Receiver<()>,
    threads: usize,
}

impl Capture {
    /// Starts capturing and moves `bar` onto a copy of the terminal. On an error nothing has
    /// changed that was not put back.
    pub(crate) fn start(bar: &'static ProgressBar) -> std::io::Result<Capture> {
        std::io::stdout().flush()?;
        let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
        let stderr = std::io::stderr().as_fd().try_clone_to_owned()?;
        // Close-on-exec, so only fds 1 and 2 (which `dup2` makes inheritable) reach children.
        let (out_read, out_write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
        let (err_read, err_write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
        let (done, drained) = mpsc::channel();
        let mut capture = Capture {
            stdout,
            stderr,
            drained,
            threads: 0,
        };
        capture.forward(
            out_read,
            File::from(capture.stdout.try_clone()?),
            bar,
            done.clone(),
        )?;
        capture.forward(err_read, File::from(capture.stderr.try_clone()?), bar, done)?;
        let term = Term::read_write_pair_with_style(
            File::from(capture.stdout.try_clone()?),
            File::from(capture.stdout.try_clone()?),
            Style::new().for_stdout(),
        );
        bar.set_draw_target(ProgressDrawTarget::term(term, 20));
        // From here on, dropping `capture` puts the terminal back.
        CAPTURING.store(true, Ordering::Release);
        rustix::stdio::dup2_stdout(&out_write)?;
        rustix::stdio::dup2_stderr(&err_write)?;
        Ok(capture)
    }

    /// A thread writing each line read from `pipe` to `terminal`, the bar suspended.
    fn forward(
        &mut self,
        pipe: OwnedFd,
        mut terminal: File,
        bar: &'static ProgressBar,
        done: mpsc::Sender<()>,
    ) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("signalqueue-output".into())
            .spawn(move || {
                let mut pipe = BufReader::new(File::from(pipe));
                let mut line = Vec::new();
                // Whole lines, so the bar is drawn again only after a line's end; a last line
                // without one comes with the end of the pipe.
                while matches!(pipe.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    bar.suspend(|| {
                        let _ = terminal.write_all(&line);
                        let _ = terminal.flush();
                    });
                    line.clear();
                }
                let _ = done.send(());
            })?;
        self.threads += 1;
        Ok(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // The pipes' write ends were only fds 1 and 2 (and what children inherited): putting
        // the terminal back closes them, and the threads read to the end.
        let _ = rustix::stdio::dup2_stdout(&self.stdout);
        let _ = rustix::stdio::dup2_stderr(&self.stderr);
        CAPTURING.store(false, Ordering::Release);
        let deadline = std::time::Instant::now() + DRAIN_WAIT;
        for _ in 0..self.threads {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.drained.recv_timeout(left).is_err() {
                break;
            }
        }
    }
}
