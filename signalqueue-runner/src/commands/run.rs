//! `run` (the default command): the worker, with its banner and admin server.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use signalqueue::{Config, Registry, Runtime};

use crate::cli::RunArgs;
use crate::error::Error;
use crate::http::{self, AdminState};
use crate::metrics::Metrics;
use crate::worker::{os_signals, Worker};

pub(crate) async fn run(args: RunArgs) -> Result<ExitCode, Error> {
    // Installed first: a SIGTERM during start-up is then a graceful stop, not a kill.
    let shutdown = os_signals();

    let mut config = Config::load()?;
    let registry = Registry::global();
    registry.check()?;
    for q in &args.queues {
        if !config.queues.contains_key(q) {
            return Err(Error::UnknownQueue {
                queue: q.clone(),
                configured: config
                    .queues
                    .keys()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    if let Some(ms) = args.shutdown_grace_ms {
        config.worker.shutdown_grace = Duration::from_millis(ms);
    }
    if let Some(n) = args.concurrency {
        config.worker.concurrency = usize::try_from(n).unwrap_or(usize::MAX);
    }

    let runtime = Runtime::from_config(&config).await?;
    for q in &args.queues {
        let engine = runtime.queue(q).expect("checked above");
        engine.ping().await.map_err(|source| Error::Unreachable {
            queue: q.clone(),
            url: engine.describe(),
            source,
        })?;
    }

    let addr: SocketAddr = match &args.addr {
        Some(a) => a.parse().map_err(|_| {
            Error::Usage(format!(
                "`{a}` is not an address; write it as ADDR:PORT, e.g. `127.0.0.1:11231`"
            ))
        })?,
        None => config.worker_addr,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let admin_addr = listener.local_addr()?;

    println!("signalqueue-worker {}", env!("CARGO_PKG_VERSION"));
    for q in &args.queues {
        let engine = runtime.queue(q).expect("checked above");
        let lease = config.queues.get(q).map(|c| c.lease).unwrap_or_default();
        println!(
            "  queue {q}: {} {} (lease {} ms)",
            engine.kind(),
            signalqueue::engine::redact_url(&engine.describe()),
            lease.as_millis()
        );
    }
    for outbox in runtime.outboxes() {
        let relayed = if config.outbox.relay {
            "relayed here"
        } else {
            "not relayed here (`[outbox] relay = false`)"
        };
        println!("  outbox: {} ({relayed})", outbox.describe());
    }
    println!("  admin: http://{admin_addr}/");
    println!(
        "  registered: {} signals, {} receivers",
        registry.signals().count(),
        registry.receiver_count()
    );
    println!(
        "  concurrency {}, retries {}, shutdown grace {} ms",
        config.worker.concurrency,
        config.worker.retries,
        config.worker.shutdown_grace.as_millis()
    );

    let metrics = Arc::new(Metrics::new());
    let token = http::token_from_env();
    let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = tokio::spawn(http::serve(
        listener,
        AdminState {
            runtime: runtime.clone(),
            queues: args.queues.clone(),
            metrics: metrics.clone(),
            token,
            hosts: config.admin_hosts.clone(),
        },
        async move {
            let _ = admin_stopped.await;
        },
    ));

    let mut builder = Worker::builder()
        .runtime(runtime)
        .config(&config)
        .halt_when_exhausted(args.halt_when_exhausted)
        .metrics(metrics)
        .shutdown(shutdown);
    for q in &args.queues {
        builder = builder.queue(q.clone());
    }
    let summary = builder.build().run().await?;

    let _ = admin_stop.send(());
    match tokio::time::timeout(Duration::from_secs(2), admin).await {
        Ok(Ok(Err(e))) => tracing::warn!("the admin server failed: {e}"),
        Ok(Err(e)) => tracing::warn!("the admin server ended abnormally: {e}"),
        Ok(Ok(Ok(()))) | Err(_) => {}
    }
    tracing::info!(
        handled = summary.handled,
        retried = summary.retried,
        dead = summary.dead,
        given_back = summary.released,
        given_back_unknown = summary.given_back_unknown,
        "worker stopped"
    );
    Ok(ExitCode::SUCCESS)
}
