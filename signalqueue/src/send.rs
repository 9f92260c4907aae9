//! How a send travels: from a signal's typed method to the runmode's choice, the codec, the
//! envelope and the queue (or, for `send_in`, the app's own transaction). Not public API: the
//! methods `#[async_signal]` generates call these.

use std::time::SystemTime;

use crate::dispatch::DispatchReport;
use crate::engine::Outgoing;
use crate::envelope::{Envelope, EnvelopeId};
use crate::error::Error;
use crate::runmode::Runmode;
use crate::runtime::Runtime;
use crate::signal::{SendOptions, Sent, Signal};
use crate::transaction::{AppTransaction, Placement};

/// `SIGNAL.send_with(options, ..)`: with the runtime in effect here.
pub async fn send<S: Signal>(args: S::Args, options: SendOptions) -> Result<Sent, Error> {
    let runtime = Runtime::current().await?;
    send_via::<S>(&runtime, args, options).await
}

/// `send` with a given runtime: the runmode decides, then the queue holds it or receivers ran.
pub async fn send_via<S: Signal>(
    runtime: &Runtime,
    args: S::Args,
    options: SendOptions,
) -> Result<Sent, Error> {
    match options.runmode.unwrap_or(runtime.runmode()) {
        Runmode::Sync => run_sync::<S>(runtime, args, options).await,
        Runmode::Async => {
            let outgoing = encode::<S>(runtime, [args], &options)?;
            let id = outgoing[0].id;
            runtime.queue_for(S::DEF)?.enqueue(&outgoing).await?;
            Ok(Sent::Queued(id))
        }
    }
}

/// `SIGNAL.send_many(..)`: one enqueue for the whole batch.
pub async fn send_many<S: Signal>(
    batch: impl IntoIterator<Item = S::Args>,
    options: SendOptions,
) -> Result<Vec<EnvelopeId>, Error> {
    let runtime = Runtime::current().await?;
    if options.runmode.unwrap_or(runtime.runmode()) == Runmode::Sync {
        return run_many_sync::<S>(&runtime, batch, options).await;
    }
    let outgoing = encode::<S>(&runtime, batch, &options)?;
    runtime.queue_for(S::DEF)?.enqueue(&outgoing).await?;
    Ok(outgoing.into_iter().map(|o| o.id).collect())
}

/// `SIGNAL.send_now(..)`: every receiver here, with a report.
pub async fn send_now<S: Signal>(args: S::Args, options: SendOptions) -> DispatchReport {
    run_here::<S>(args, options).await
}

/// `SIGNAL.send_blocking(..)`: `send` from non-async code.
pub fn send_blocking<S: Signal>(args: S::Args, options: SendOptions) -> Result<Sent, Error> {
    crate::runtime::block_on(send::<S>(args, options))?
}

/// `send` inside the app's transaction: the signal is written by `tx`, so it exists if and only
/// if the transaction commits. In the sync runmode there is no queue to write to: the receivers
/// run here, before the commit, as `send` would run them.
pub async fn send_in<S: Signal, T: AppTransaction>(
    tx: T,
    args: S::Args,
    options: SendOptions,
) -> Result<Sent, Error> {
    let runtime = Runtime::current().await?;
    match options.runmode.unwrap_or(runtime.runmode()) {
        Runmode::Sync => run_sync::<S>(&runtime, args, options).await,
        Runmode::Async => {
            let outgoing = encode::<S>(&runtime, [args], &options)?;
            let id = outgoing[0].id;
            place::<S, T>(&runtime, tx, outgoing).await?;
            Ok(Sent::Queued(id))
        }
    }
}

/// `send_many` inside the app's transaction: one statement for the whole batch.
pub async fn send_many_in<S: Signal, T: AppTransaction, I: IntoIterator<Item = S::Args>>(
    tx: T,
    batch: I,
    options: SendOptions,
) -> Result<Vec<EnvelopeId>, Error> {
    let runtime = Runtime::current().await?;
    if options.runmode.unwrap_or(runtime.runmode()) == Runmode::Sync {
        return run_many_sync::<S>(&runtime, batch, options).await;
    }
    let outgoing = encode::<S>(&runtime, batch, &options)?;
    let ids = outgoing.iter().map(|o| o.id).collect();
    place::<S, T>(&runtime, tx, outgoing).await?;
    Ok(ids)
}

/// In the sync runmode receivers run inline, so a due time in the future cannot be kept:
/// refused, rather than run early (or block the caller until then). A past one means now.
fn refuse_delay_in_sync<S: Signal>(options: &SendOptions) -> Result<(), Error> {
    let now = SystemTime::now();
    match options.due.map(|due| due.at(now)) {
        Some(due) if due > now => Err(Error::DelayedInSync {
            signal: S::DEF.name.to_string(),
            wait_ms: crate::engine::unix_ms(due).saturating_sub(crate::engine::unix_ms(now)),
        }),
        _ => Ok(()),
    }
}

/// The sync runmode: the receivers run here, on the arguments as a worker would get them
/// (through the runtime's codec and back), and a failure is an error carrying the report.
async fn run_sync<S: Signal>(
    runtime: &Runtime,
    args: S::Args,
    options: SendOptions,
) -> Result<Sent, Error> {
    refuse_delay_in_sync::<S>(&options)?;
    let args = through_codec::<S>(runtime, &args)?;
    let sender = options.sender.map(|s| s.as_str().to_string());
    let report = crate::dispatch::run_local(S::DEF, sender, args).await;
    if report.is_success() {
        Ok(Sent::Ran(report))
    } else {
        Err(Error::ReceiversFailed {
            reports: vec![report],
        })
    }
}

/// `send_many` in the sync runmode: each signal's receivers run here, one signal after the
/// other; every failure is in the error.
async fn run_many_sync<S: Signal>(
    runtime: &Runtime,
    batch: impl IntoIterator<Item = S::Args>,
    options: SendOptions,
) -> Result<Vec<EnvelopeId>, Error> {
    refuse_delay_in_sync::<S>(&options)?;
    let sender = options.sender.map(|s| s.as_str().to_string());
    let mut ids = Vec::new();
    let mut failed = Vec::new();
    // Encoded first, all of them: a batch whose arguments do not survive the codec runs no
    // receiver, as it would enqueue nothing.
    let batch = batch
        .into_iter()
        .map(|args| through_codec::<S>(runtime, &args))
        .collect::<Result<Vec<_>, _>>()?;
    for args in batch {
        let report = crate::dispatch::run_local(S::DEF, sender.clone(), args).await;
        ids.push(report.id);
        if !report.is_success() {
            failed.push(report);
        }
    }
    if failed.is_empty() {
        Ok(ids)
    } else {
        Err(Error::ReceiversFailed { reports: failed })
    }
}

/// The arguments encoded with the runtime's codec and decoded again, as the worker will: a
/// type whose serde forms do not round-trip fails here, in tests, rather than in production.
fn through_codec<S: Signal>(
    runtime: &Runtime,
    args: &S::Args,
) -> Result<crate::signal::ErasedArgs, Error> {
    let codec = runtime.codec();
    let payload = codec.encode(args)?;
    (S::DEF.decode)(&payload).map_err(|e| Error::RoundTrip {
        signal: S::DEF.name.to_string(),
        codec: codec.name(),
        message: e.to_string(),
    })
}

/// Runs the receivers in this process (`send_now`).
async fn run_here<S: Signal>(args: S::Args, options: SendOptions) -> DispatchReport {
    let sender = options.sender.map(|s| s.as_str().to_string());
    crate::dispatch::run_local(S::DEF, sender, Box::new(args)).await
}

/// Encodes each set of arguments with the runtime's codec into an envelope of its own.
fn encode<S: Signal>(
    runtime: &Runtime,
    batch: impl IntoIterator<Item = S::Args>,
    options: &SendOptions,
) -> Result<Vec<Outgoing>, Error> {
    let sender = options.sender.as_ref().map(|s| s.as_str().to_string());
    let codec = runtime.codec();
    // One due time for the whole batch, reckoned once: `delay` counts from the send.
    let due = options.due.map(|due| due.at(SystemTime::now()));
    batch
        .into_iter()
        .map(|args| {
            let mut envelope = Envelope::new(S::DEF.name, sender.clone(), codec.encode(&args)?);
            // The envelope keeps the asked time even when it is past (the receiver may want to
            // know it was late); the engine treats a past time as now.
            envelope.scheduled_for = due;
            Ok(Outgoing::new(envelope.id, envelope.encode()).not_before(due))
        })
        .collect()
}

/// Hands encoded signals to the app's transaction with what it needs to choose a table: the
/// queue's own (when the queue lives in that database) or an outbox.
async fn place<S: Signal, T: AppTransaction>(
    runtime: &Runtime,
    tx: T,
    entries: Vec<Outgoing>,
) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let engine = runtime.queue_for(S::DEF)?;
    let placement = Placement {
        signal: S::DEF.name,
        queue: S::DEF.queue.to_string(),
        engine: engine.describe(),
        colocation: engine.colocation(),
        outboxes: runtime.outbox_targets(),
        entries,
    };
    tx.place(placement).await
}
