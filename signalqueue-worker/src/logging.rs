//! Logs: `tracing` to stderr (stdout belongs to commands' output, e.g. `dump`), coloured only
//! on a terminal, filtered by `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber with the default filter `info`; does nothing if one is already
/// installed (embedding, tests).
pub fn init() {
    init_with_default("info");
}

/// Installs the log subscriber; `default` is the filter when `RUST_LOG` is not set.
pub fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
