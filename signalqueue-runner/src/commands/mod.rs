//! The commands of the command line, one module each, and what they share: loading the
//! configuration, opening one queue, asking for confirmation.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use signalqueue::engine::SharedEngine;
use signalqueue::Config;

use crate::cli::{Cli, Command, DeadAction};
use crate::error::Error;

mod check;
mod dead;
mod dequeue;
mod dump;
mod list;
mod purge;
pub(crate) mod render;
mod run;
mod schedule;
mod send;

/// The limit passed to `pending` and `dead` to mean "all of them".
pub(crate) const ALL: usize = usize::MAX;

/// Runs the command `cli` names.
pub(crate) async fn dispatch(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        None => run::run(cli.run).await,
        Some(Command::Run(args)) => run::run(args).await,
        Some(Command::List(args)) => list::list(args),
        Some(Command::Check(args)) => check::check(args).await,
        Some(Command::Dequeue(args)) => dequeue::dequeue(args).await,
        Some(Command::Dump(args)) => dump::dump(args).await,
        Some(Command::Purge(args)) => purge::purge(args).await,
        Some(Command::Dead(args)) => match args.action {
            DeadAction::List(q) => dead::list(q).await,
            DeadAction::Replay(a) => dead::replay(a).await,
            DeadAction::Purge(a) => dead::purge(a).await,
        },
        Some(Command::Schedule(args)) => schedule::schedule(args).await,
        Some(Command::Send(args)) => send::send(args).await,
        Some(Command::Relay) => crate::worker::relay::relay().await,
    }
}

/// Opens queue `name` of `config` alone (a command needs one engine, not all of them).
pub(crate) async fn open_queue(config: &Config, name: &str) -> Result<SharedEngine, Error> {
    let queue = config.queue(name).map_err(|_| Error::UnknownQueue {
        queue: name.to_string(),
        configured: config
            .queues
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let engine = signalqueue::engine::open(&queue.url, queue.engine_options(name)).await?;
    engine.ping().await.map_err(|source| Error::Unreachable {
        queue: name.to_string(),
        url: engine.describe(),
        source,
    })?;
    Ok(engine)
}

/// Wraps an engine error with its queue's name.
pub(crate) fn on_queue(queue: &str) -> impl Fn(signalqueue::engine::EngineError) -> Error + '_ {
    move |source| Error::Engine {
        queue: queue.to_string(),
        source,
    }
}

/// Asks `question` on the terminal; true when there is none (scripts decide with `--yes` or by
/// piping) or the answer is yes.
pub(crate) fn confirm(question: &str) -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
