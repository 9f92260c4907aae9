//! `dequeue`: run every signal pending now once, with progress, then exit.

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

    // On a terminal (see `main`), a bar that everything else written suspends; otherwise a
    // line per signal.
    let bar = crate::progress::bar();
    let mut capture = None;
    if let Some(bar) = bar {
        bar.set_length(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("## "),
        );
        // On stdout, where `dequeue` reports (the decision to draw one was made on it), with
        // receivers' output and log lines moved off its line.
        match crate::progress::Capture::start(bar) {
            Ok(c) => capture = Some(c),
            Err(e) => {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stdout());
                tracing::warn!(
                    "receivers' output may share the progress bar's line: cannot redirect it ({e})"
                );
            }
        }
    }
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
            let what = describe(&o.result);
            let id = o.id.map(|i| i.to_string()).unwrap_or_default();
            if let Some(bar) = bar {
                // A retry that fell due while this runs may be among them: the count can pass
                // the total taken at start.
                if n > bar.length().unwrap_or(0) {
                    bar.set_length(n);
                }
                bar.set_position(n);
                bar.set_message(format!("{} {what}", o.signal));
            } else {
                println!("{n}/{total} {} {id} {what}", o.signal);
            }
        })
        .build()
        .run()
        .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    drop(capture);
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

/// One outcome in a few words, for the progress line.
fn describe(result: &SignalResult) -> String {
    match result {
        SignalResult::Handled => "handled".to_string(),
        SignalResult::Retried { receivers, .. } => {
            format!("retry scheduled for {}", receivers.join(", "))
        }
        SignalResult::Dead { kind, .. } => format!("dead-lettered ({})", kind.as_str()),
        SignalResult::GivenBack { unknown, .. } => format!("given back ({unknown})"),
        SignalResult::Split { parts } => parts.iter().map(describe).collect::<Vec<_>>().join("; "),
        SignalResult::LeaseLost => "lease lost".to_string(),
    }
}
