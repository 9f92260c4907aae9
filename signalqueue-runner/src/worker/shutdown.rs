//! Stopping: the worker's stop switch, and the operating system's signals that flip it.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

/// A one-way switch every part of the worker watches: once on, claim loops stop claiming and
/// the drain begins. A `CancellationToken` plus the instant it was first cancelled (the grace
/// period counts from there). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stop {
    token: CancellationToken,
    at: Arc<OnceLock<Instant>>,
}

impl Stop {
    pub(crate) fn new() -> Self {
        Stop::default()
    }

    /// Turns the switch on (again is a no-op: the first time counts for the grace period).
    pub(crate) fn trigger(&self) {
        // The instant first, so that whoever sees the token cancelled also sees when.
        let _ = self.at.set(Instant::now());
        self.token.cancel();
    }

    /// When the switch was turned on, if it was.
    pub(crate) fn stopped_at(&self) -> Option<Instant> {
        self.at.get().copied()
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once the switch is on.
    pub(crate) async fn stopped(&self) {
        self.token.cancelled().await;
    }

    /// A token cancelled with this switch, which can also be cancelled on its own (for a
    /// group of tasks stopped earlier than the worker).
    pub(crate) fn child(&self) -> CancellationToken {
        self.token.child_token()
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
