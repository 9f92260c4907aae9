//! The outbox relays a worker runs beside its claim loops (one task per outbox of its runtime),
//! and `signalqueue-worker relay`, which runs them alone.

use std::process::ExitCode;

use signalqueue::__private::{run_relay, RelayOptions};
use signalqueue::{Config, Runtime};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::Error;
use crate::worker::os_signals;

/// The relays of a process: one task per outbox, stopped together.
pub(crate) struct Relays {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Relays {
    /// Starts one relay per outbox of `runtime`, moving `batch` rows per outbox transaction.
    pub(crate) fn start(runtime: &Runtime, batch: usize) -> Relays {
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let mut options = RelayOptions::default();
        options.batch = batch;
        for outbox in runtime.outboxes() {
            tasks.spawn(run_relay(
                outbox.clone(),
                runtime.clone(),
                options.clone(),
                stop.clone().cancelled_owned(),
            ));
        }
        tasks.close();
        Relays { stop, tasks }
    }

    /// Stops every relay and waits for them: a batch being moved is either finished or rolled
    /// back (its rows stay in the outbox).
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }
}

/// `signalqueue-worker relay`: relays every configured outbox until SIGINT/SIGTERM.
pub(crate) async fn relay() -> Result<ExitCode, Error> {
    let shutdown = os_signals();
    let config = Config::load()?;
    if config.outbox.urls.is_empty() {
        return Err(Error::Usage(format!(
            "no outbox is configured in {}; add `[outbox] url = \"postgres://USER@HOST/DATABASE\"` (the app's database) to signalqueue.toml, or set SIGNALQUEUE_OUTBOX_URL",
            config.source
        )));
    }
    let runtime = Runtime::from_config(&config).await?;
    println!("signalqueue-worker {} relay", env!("CARGO_PKG_VERSION"));
    for outbox in runtime.outboxes() {
        println!("  outbox: {}", outbox.describe());
    }
    for (name, engine) in runtime.queues() {
        println!("  queue {name}: {} {}", engine.kind(), engine.describe());
    }
    let relays = Relays::start(&runtime, config.outbox.batch);
    shutdown.await;
    relays.stop().await;
    Ok(ExitCode::SUCCESS)
}
