//! `dequeue`: run every signal pending now once, with progress, then exit.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use signalqueue::{Config, Registry, Runtime};

use crate::cli::QueueArgs;
use crate::error::Error;
use crate::worker::{os_signals, Halt, SignalResult, Worker};

pub(crate) async fn dequeue(args: QueueArgs) -> Result<ExitCode, Error> {
    let shutdown = os_signals();
    let config = Config::load()?;
    Registry::global().check()?;
    let engine = super::open_queue(&config, &args.queue).await?;
    let total = engine
        .counts()
        .await
        .map_err(super::on_queue(&args.queue))?
        .pending;
    // Receivers may send to any configured queue, so the worker gets them all.
    let runtime = Runtime::from_config(&config).await?;

    let bar = std::io::stdout().is_terminal();
    let done = Arc::new(AtomicU64::new(0));
    let progress = done.clone();
    let summary = Worker::builder()
        .runtime(runtime)
        .config(&config)
        .queue(args.queue.clone())
        .halt(Halt::WhenDrained)
        .shutdown(shutdown)
        .on_outcome(move |o| {
            let n = progress.fetch_add(1, Ordering::SeqCst) + 1;
            let what = match &o.result {
                SignalResult::Handled => "handled".to_string(),
                SignalResult::Retried { receivers, .. } => {
                    format!("retry scheduled for {}", receivers.join(", "))
                }
                SignalResult::Dead { kind, .. } => format!("dead-lettered ({})", kind.as_str()),
                SignalResult::LeaseLost => "lease lost".to_string(),
            };
            let id = o.id.map(|i| i.to_string()).unwrap_or_default();
            if bar {
                let width = 30;
                let filled = (n.min(total) * width as u64)
                    .checked_div(total)
                    .map_or(width, |f| f as usize);
                print!(
                    "\r[{}{}] {n}/{total} {} {}\x1b[K",
                    "#".repeat(filled),
                    " ".repeat(width - filled),
                    o.signal,
                    what
                );
                let _ = std::io::stdout().flush();
            } else {
                println!("{n}/{total} {} {id} {what}", o.signal);
            }
        })
        .build()
        .run()
        .await?;
    if bar {
        println!();
    }
    println!(
        "dequeued {} signal(s) from queue {}: {} handled, {} to retry, {} dead-lettered",
        done.load(Ordering::SeqCst),
        args.queue,
        summary.handled,
        summary.retried,
        summary.dead
    );
    Ok(ExitCode::SUCCESS)
}
