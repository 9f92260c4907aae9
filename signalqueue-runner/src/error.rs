//! The one error type of the worker crate.

use signalqueue::engine::EngineError;

/// What can stop the worker or one of its commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration, the registry or an engine URL is wrong (from `signalqueue`).
    #[error(transparent)]
    Signalqueue(#[from] signalqueue::Error),
    /// The worker was asked to serve a queue that is not configured.
    #[error("no queue named `{queue}` is configured; the configured queues are: {configured}; add `[queues.{queue}]` to signalqueue.toml or pass another `-n`")]
    UnknownQueue {
        /// The queue asked for.
        queue: String,
        /// The configured ones, for the message.
        configured: String,
    },
    /// An engine could not be reached at start.
    #[error("queue `{queue}` is unreachable: {source}")]
    Unreachable {
        /// The queue.
        queue: String,
        /// Its redacted URL.
        url: String,
        /// What the engine said.
        source: EngineError,
    },
    /// An engine failed during a command.
    #[error("queue `{queue}`: {source}")]
    Engine {
        /// The queue.
        queue: String,
        /// What the engine said.
        source: EngineError,
    },
    /// The admin server cannot listen on its address.
    #[error("the admin server cannot listen on {addr}: {source}; pass another address (`run 127.0.0.1:0` picks a free port) or set `worker_addr` in signalqueue.toml")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command's input is wrong (an unknown signal, JSON that does not fit, ...).
    #[error("{0}")]
    Usage(String),
    /// Reading or writing the terminal or a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
