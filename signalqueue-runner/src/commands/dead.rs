//! `dead list|replay|purge`: the dead letters of a queue.

use std::process::ExitCode;

use serde_json::{json, Value};
use signalqueue::{Config, Envelope, Registry};

use crate::cli::{DeadListArgs, DeadPurgeArgs, DeadReplayArgs};
use crate::commands::render::{entry_json, rfc3339};
use crate::error::Error;

pub(crate) async fn list(args: DeadListArgs) -> Result<ExitCode, Error> {
    let DeadListArgs { queue: args, json } = args;
    let config = Config::load()?;
    let engine = super::open_queue(&config, &args.queue).await?;
    let dead = engine
        .dead(super::ALL)
        .await
        .map_err(super::on_queue(&args.queue))?;
    if json {
        // `dump`'s object for each (decoded where possible), plus when and why it died.
        let registry = Registry::global();
        let letters: Vec<Value> = dead
            .iter()
            .map(|d| {
                let mut entry = entry_json(&d.key, &d.payload, registry);
                if let Value::Object(obj) = &mut entry {
                    obj.insert("died_at".into(), json!(rfc3339(d.died_at)));
                    obj.insert("reason".into(), json!(d.reason));
                }
                entry
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&letters).expect("JSON values serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if dead.is_empty() {
        println!("queue {} has no dead letters", args.queue);
    }
    for d in &dead {
        let (signal, id, failed) = match Envelope::decode(&d.payload) {
            Ok(e) => (e.signal, e.id.to_string(), e.history.len()),
            Err(_) => ("<malformed>".to_string(), "-".to_string(), 0),
        };
        // One line per dead letter, for scripts; the attempts themselves are in `--json`.
        let history = match failed {
            0 => String::new(),
            1 => "\t1 failed attempt".to_string(),
            n => format!("\t{n} failed attempts"),
        };
        println!(
            "{}\t{signal}\t{id}\t{}\t{}{history}",
            d.key,
            rfc3339(d.died_at),
            d.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn replay(args: DeadReplayArgs) -> Result<ExitCode, Error> {
    let queue = &args.queue.queue;
    let config = Config::load()?;
    let engine = super::open_queue(&config, queue).await?;
    let keys = (!args.keys.is_empty()).then_some(args.keys.as_slice());
    let n = engine
        .replay_dead(keys)
        .await
        .map_err(super::on_queue(queue))?;
    println!("replayed {n} dead letter(s) into queue {queue}");
    if let Some(keys) = keys {
        if (n as usize) < keys.len() {
            println!("{} of the keys given matched no dead letter; `dead list -n {queue}` shows the keys", keys.len() - n as usize);
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn purge(args: DeadPurgeArgs) -> Result<ExitCode, Error> {
    super::purge::purge(crate::cli::PurgeArgs {
        queue: args.queue,
        dead: true,
        yes: args.yes,
    })
    .await
}
