//! Stopping: the worker's stop switch, and the operating system's signals that flip it.

use std::time::Instant;

use tokio::sync::watch;

/// A one-way switch every part of the worker watches: once on, claim loops stop claiming and
/// the drain begins. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Stop {
    tx: watch::Sender<Option<Instant>>,
}

impl Stop {
    pub(crate) fn new() -> Self {
        Stop {
            tx: watch::Sender::new(None),
        }
    }

    /// Turns the switch on (again is a no-op: the first time counts for the grace period).
    pub(crate) fn trigger(&self) {
        self.tx.send_if_modified(|at| {
            if at.is_none() {
                *at = Some(Instant::now());
                true
            } else {
                false
            }
        });
    }

    /// When the switch was turned on, if it was.
    pub(crate) fn stopped_at(&self) -> Option<Instant> {
        *self.tx.borrow()
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped_at().is_some()
    }

    /// Completes once the switch is on.
    pub(crate) async fn stopped(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail while we wait.
        let _ = rx.wait_for(Option::is_some).await;
    }
}

/// Installs SIGINT and SIGTERM handlers now (so a signal that arrives before the worker is
/// running is not fatal) and returns a future that completes at the first of them. From then on,
/// another such signal ends the process at once with exit code 130: an operator who presses
/// Ctrl-C twice does not want to wait for the grace period.
///
/// Must be called inside a tokio runtime.
pub fn os_signals() -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut signals = OsSignals::install();
    async move {
        signals.next().await;
        tracing::warn!(
            "shutting down: no new signals are claimed, in-flight receivers may finish; send SIGINT or SIGTERM again to exit at once"
        );
        tokio::spawn(async move {
            signals.next().await;
            tracing::error!(
                "second shutdown signal: exiting at once; unfinished claims come back when their leases expire"
            );
            std::process::exit(130);
        });
    }
}

#[cfg(unix)]
struct OsSignals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

#[cfg(unix)]
impl OsSignals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(int), Ok(term)) => OsSignals(Some((int, term))),
            _ => {
                tracing::warn!(
                    "cannot install SIGINT/SIGTERM handlers; shutdown will not be graceful"
                );
                OsSignals(None)
            }
        }
    }

    async fn next(&mut self) {
        match &mut self.0 {
            Some((int, term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            // Without handlers the default behaviour (the process dies) applies, so waiting
            // forever here loses nothing that the default would keep.
            None => std::future::pending::<()>().await,
        }
    }
}

#[cfg(not(unix))]
struct OsSignals;

#[cfg(not(unix))]
impl OsSignals {
    fn install() -> Self {
        OsSignals
    }

    async fn next(&mut self) {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
