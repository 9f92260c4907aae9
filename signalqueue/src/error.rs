//! The one error type of the runtime.

use crate::engine::EngineError;

/// What can go wrong when sending a signal or setting signalqueue up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; `origin` names the file (or variable) and key.
    #[error("invalid configuration in {origin}: {message}")]
    #[non_exhaustive]
    Config {
        /// Where the bad value came from: a file and key, or an environment variable.
        origin: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The registry of signals and receivers linked into this program is inconsistent.
    #[error("{0}")]
    Registry(String),
    /// The signal names a queue that is not configured.
    #[error("signal `{signal}` goes to queue `{queue}`, which is not configured; add `[queues.{queue}]` to signalqueue.toml")]
    #[non_exhaustive]
    UnknownQueue {
        /// The signal's wire name.
        signal: String,
        /// The queue it asked for.
        queue: String,
    },
    /// The arguments could not be encoded.
    #[error(transparent)]
    Encode(#[from] crate::codec::EncodeError),
    /// The engine failed or could not be reached. The signal is most likely not queued; but a
    /// connection that broke after the engine applied the write looks the same, so a caller that
    /// retries may queue it twice (receivers should be idempotent).
    #[error("send failed: {0}")]
    Engine(#[from] EngineError),
    /// `send_in` could not write the signal in the app's transaction (the message says why and
    /// what to do). Nothing was written; the transaction itself may still be committed or
    /// rolled back by the app, although after a database error PostgreSQL accepts only a
    /// rollback.
    #[error("{0}")]
    Transaction(String),
    /// A send asked for a due time in the future (`SendOptions::delay`, `SendOptions::at`)
    /// in the sync runmode, where receivers run inline and nothing could wait. Nothing ran.
    #[error("a delayed send of `{signal}` needs the async runmode: in the sync runmode the receivers run now, and nothing would wait {wait_ms} ms for them; send it without `delay`/`at`, or in the async runmode (`runmode = \"async\"`, or `SendOptions::runmode(Runmode::Async)`)")]
    #[non_exhaustive]
    DelayedInSync {
        /// The signal's wire name.
        signal: String,
        /// How far in the future its due time was.
        wait_ms: u64,
    },
    /// A blocking call was made where it would block an async runtime.
    #[error("{0}")]
    Blocking(String),
    /// A model loader asked for a store that nothing provides.
    #[error("no store of type `{store}` is provided; declare it next to the type with `signalqueue::provide_store!(Type, || async {{ ... }})`, or provide it at start-up with `signalqueue::mapping::stores::provide(|| async {{ ... }})`")]
    #[non_exhaustive]
    MissingStore {
        /// The store's type.
        store: &'static str,
    },
    /// A store's initialiser failed; the next use tries again.
    #[error("store `{store}` failed to open: {source}")]
    #[non_exhaustive]
    StoreInit {
        /// The store's type.
        store: &'static str,
        /// What the initialiser returned.
        source: crate::BoxError,
    },
    /// Two `provide_store!`s declare the same store type.
    #[error("store `{store}` is declared twice with `provide_store!` ({places}); keep one, or provide it at start-up with `signalqueue::mapping::stores::provide`, which overrides both")]
    #[non_exhaustive]
    DuplicateStore {
        /// The store's type.
        store: &'static str,
        /// Where the declarations are.
        places: String,
    },
    /// In the sync runmode, the arguments went through the codec as they would on their way to
    /// a worker, and did not come back: in the async runmode the worker would dead-letter the
    /// signal as undecodable.
    #[error("the arguments of `{signal}` do not survive the {codec} codec, so a worker could not decode them: {message}; fix the argument type's Serialize/Deserialize (or choose the other codec)")]
    #[non_exhaustive]
    RoundTrip {
        /// The signal's wire name.
        signal: String,
        /// The codec used.
        codec: &'static str,
        /// Why they did not decode.
        message: String,
    },
    /// In the sync runmode, receivers ran here and some failed or panicked: what the worker
    /// would have retried. Each report says how every receiver of one signal did.
    #[error("{}", receivers_failed(reports))]
    #[non_exhaustive]
    ReceiversFailed {
        /// One report per signal sent (one for `send`, one per signal for `send_many`) whose
        /// receivers did not all succeed.
        reports: Vec<crate::dispatch::DispatchReport>,
    },
    /// [`install`](crate::install) was called when the process already had its runtime.
    #[error("a runtime is already installed for this process ({by}); call `signalqueue::install` once, at start-up, before anything sends (the first `send` or `init()` installs the one `signalqueue.toml` describes)")]
    #[non_exhaustive]
    AlreadyInstalled {
        /// What installed it, as far as is known.
        by: &'static str,
    },
}

/// `receivers of `shop.order_placed` failed: audit (boom), mailer (panicked: ...)`.
fn receivers_failed(reports: &[crate::dispatch::DispatchReport]) -> String {
    let each: Vec<String> = reports
        .iter()
        .map(|r| {
            let failed: Vec<String> = r
                .failures()
                .map(|o| format!("{} ({})", o.receiver, o.outcome))
                .collect();
            format!("`{}`: {}", r.signal, failed.join(", "))
        })
        .collect();
    format!(
        "receivers failed in the sync runmode (a worker would retry them): {}",
        each.join("; ")
    )
}
