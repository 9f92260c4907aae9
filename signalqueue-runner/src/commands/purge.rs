//! `purge [--dead]`: remove every pending (or dead) signal of a queue.

use std::process::ExitCode;

use signalqueue::Config;

use crate::cli::PurgeArgs;
use crate::error::Error;

pub(crate) async fn purge(args: PurgeArgs) -> Result<ExitCode, Error> {
    let queue = &args.queue.queue;
    let config = Config::load()?;
    let engine = super::open_queue(&config, queue).await?;
    let counts = engine.counts().await.map_err(super::on_queue(queue))?;
    let (what, n) = if args.dead {
        ("dead letters", counts.dead)
    } else {
        ("pending signals", counts.pending + counts.scheduled)
    };
    if n == 0 {
        println!("queue {queue} has no {what}");
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes
        && !super::confirm(&format!(
            "remove {n} {what} from queue {queue} ({})?",
            engine.describe()
        ))?
    {
        println!("nothing removed");
        return Ok(ExitCode::SUCCESS);
    }
    let removed = if args.dead {
        engine.purge_dead().await
    } else {
        engine.purge_pending().await
    }
    .map_err(super::on_queue(queue))?;
    println!("removed {removed} {what} from queue {queue}");
    Ok(ExitCode::SUCCESS)
}
