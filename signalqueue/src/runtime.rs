//! The runtime a `send` uses: the queues (engines) by name, the runmode and the codec.
//!
//! A process has one global runtime, built from [`Config::load`] by [`init`] at start-up (or
//! lazily at the first `send`), or built by the app and set with [`install`]. Tests and embedders can run code against another runtime with
//! [`Runtime::scope`], which overrides the global one for one future and what it awaits.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use crate::codec::Codec;
use crate::config::Config;
use crate::engine::{self, SharedEngine};
use crate::error::Error;
use crate::outbox::Outbox;
use crate::registry::Registry;
use crate::runmode::Runmode;
use crate::signal::SignalDef;
use crate::transaction::OutboxTarget;

/// Queues, runmode and codec: what `send` needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runmode: Runmode,
    codec: Codec,
    queues: BTreeMap<String, SharedEngine>,
    outboxes: Vec<Outbox>,
}

tokio::task_local! {
    static SCOPED: Runtime;
}

static GLOBAL: tokio::sync::OnceCell<Runtime> = tokio::sync::OnceCell::const_new();

/// Whether [`install`] (rather than [`init`]) set [`GLOBAL`], for the error of a second one.
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes `runtime` the process's global runtime: the one every `send` uses outside a
/// [`Runtime::scope`], on any thread and in any task (`tokio::spawn`ed ones too), and the one
/// [`init`] returns.
///
/// For an app with its own configuration system: build the runtime with
/// [`Runtime::builder`] (or [`Runtime::from_config`] with a [`Config`] made in code) and
/// install it at start-up, before anything sends; `signalqueue.toml` is then never read. Fails
/// with [`Error::AlreadyInstalled`] if the process already has a runtime (an earlier
/// `install`, [`init`], or a `send` that initialised one), rather than silently keeping
/// either.
pub fn install(runtime: Runtime) -> Result<(), Error> {
    match GLOBAL.set(runtime) {
        Ok(()) => {
            INSTALLED.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
        Err(_) => Err(Error::AlreadyInstalled {
            by: if INSTALLED.load(std::sync::atomic::Ordering::SeqCst) {
                "an earlier `signalqueue::install`"
            } else {
                "`init()` or a first `send`, from signalqueue.toml and SIGNALQUEUE_*"
            },
        }),
    }
}

/// Sets up signalqueue for this process: loads the configuration, checks the registry of
/// signals and receivers, opens every queue, and installs the result as the global runtime.
///
/// Call it at start-up so a configuration error stops the process there rather than at the
/// first `send`. Calling it again returns the runtime already installed, whether by `init`
/// or by [`install`].
pub async fn init() -> Result<Runtime, Error> {
    GLOBAL
        .get_or_try_init(|| async {
            let config = Config::load()?;
            Registry::global().check()?;
            Runtime::from_config(&config).await
        })
        .await
        .cloned()
}

impl Runtime {
    /// Opens every queue of `config`.
    pub async fn from_config(config: &Config) -> Result<Runtime, Error> {
        let mut builder = Runtime::builder()
            .runmode(config.runmode)
            .codec(config.codec);
        for (name, q) in &config.queues {
            let engine =
                engine::open(&q.url, q.engine_options(name))
                    .await
                    .map_err(|e| match e {
                        Error::Config { message, .. } => Error::Config {
                            origin: q.url_origin.clone(),
                            message,
                        },
                        other => other,
                    })?;
            builder = builder.queue(name.clone(), engine);
        }
        for url in &config.outbox.urls {
            let outbox = Outbox::open(url).await.map_err(|e| match e {
                Error::Config { message, .. } => Error::Config {
                    origin: format!("{} (`outbox.url`)", config.source),
                    message,
                },
                other => other,
            })?;
            builder = builder.outbox(outbox);
        }
        Ok(builder.build())
    }

    /// A runtime put together by hand (tests, embedding).
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            runmode: Runmode::Async,
            codec: Codec::Bincode,
            queues: BTreeMap::new(),
            outboxes: Vec::new(),
        }
    }

    /// The runtime in effect here: the innermost [`Runtime::scope`], else the global one
    /// (initialised by [`init`] on first use).
    pub async fn current() -> Result<Runtime, Error> {
        if let Ok(rt) = SCOPED.try_with(Clone::clone) {
            return Ok(rt);
        }
        init().await
    }

    /// Runs `fut` with this runtime in effect for every `send` inside it.
    pub async fn scope<F: Future>(&self, fut: F) -> F::Output {
        SCOPED.scope(self.clone(), fut).await
    }

    /// The runmode `send` uses unless a call overrides it.
    pub fn runmode(&self) -> Runmode {
        self.inner.runmode
    }

    /// The codec new signals are encoded with.
    pub fn codec(&self) -> Codec {
        self.inner.codec
    }

    /// The engine of queue `name`.
    pub fn queue(&self, name: &str) -> Option<&SharedEngine> {
        self.inner.queues.get(name)
    }

    /// Every queue, by name.
    pub fn queues(&self) -> impl Iterator<Item = (&str, &SharedEngine)> {
        self.inner.queues.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The outboxes this runtime opened (`[outbox]`), which its workers relay.
    pub fn outboxes(&self) -> &[Outbox] {
        &self.inner.outboxes
    }

    /// Where `send_in` looks for an outbox in a transaction's database.
    pub(crate) fn outbox_targets(&self) -> Vec<OutboxTarget> {
        self.inner
            .outboxes
            .iter()
            .map(|o| o.target().clone())
            .collect()
    }

    pub(crate) fn queue_for(&self, def: &SignalDef) -> Result<&SharedEngine, Error> {
        self.queue(def.queue).ok_or_else(|| Error::UnknownQueue {
            signal: def.name.to_string(),
            queue: def.queue.to_string(),
        })
    }
}

/// Builds a [`Runtime`] by hand.
#[derive(Debug)]
pub struct RuntimeBuilder {
    runmode: Runmode,
    codec: Codec,
    queues: BTreeMap<String, SharedEngine>,
    outboxes: Vec<Outbox>,
}

impl RuntimeBuilder {
    /// Sets the runmode (default: async).
    pub fn runmode(mut self, runmode: Runmode) -> Self {
        self.runmode = runmode;
        self
    }

    /// Sets the codec (default: bincode).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Adds queue `name` backed by `engine`.
    pub fn queue(mut self, name: impl Into<String>, engine: SharedEngine) -> Self {
        self.queues.insert(name.into(), engine);
        self
    }

    /// Adds an outbox: `send_in` may write into it, and workers relay it.
    pub fn outbox(mut self, outbox: Outbox) -> Self {
        self.outboxes.push(outbox);
        self
    }

    /// The runtime.
    pub fn build(self) -> Runtime {
        Runtime {
            inner: Arc::new(Inner {
                runmode: self.runmode,
                codec: self.codec,
                queues: self.queues,
                outboxes: self.outboxes,
            }),
        }
    }
}

/// Runs a future to completion from non-async code, on a small runtime of signalqueue's own.
/// Refuses (rather than deadlocking or panicking) when called from inside an async runtime.
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output, Error>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::Blocking(
            "`send_blocking` was called inside an async runtime, where it would block a worker thread; use `.send(..).await` there".into(),
        ));
    }
    static BLOCKING: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = BLOCKING.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("signalqueue-blocking")
            .enable_all()
            .build()
            .expect("cannot start signalqueue's runtime for blocking sends")
    });
    Ok(rt.block_on(fut))
}
