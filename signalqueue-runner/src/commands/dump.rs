//! `dump`: the pending signals as one JSON array on stdout; removes nothing.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;
use signalqueue::{Config, Registry};

use crate::cli::DumpArgs;
use crate::commands::render::entry_json;
use crate::error::Error;

pub(crate) async fn dump(args: DumpArgs) -> Result<ExitCode, Error> {
    let config = Config::load()?;
    let engine = super::open_queue(&config, &args.queue.queue).await?;
    let entries = engine
        .pending(super::ALL)
        .await
        .map_err(super::on_queue(&args.queue.queue))?;
    let registry = Registry::global();
    let values: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| entry_json(&e.key, &e.payload, registry))
        .collect();

    let mut out = std::io::stdout().lock();
    if args.indent == 0 {
        serde_json::to_writer(&mut out, &values).map_err(std::io::Error::from)?;
    } else {
        let indent = vec![b' '; args.indent];
        let formatter = serde_json::ser::PrettyFormatter::with_indent(&indent);
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        values.serialize(&mut ser).map_err(std::io::Error::from)?;
    }
    writeln!(out)?;
    out.flush()?;
    tracing::info!(queue = %args.queue.queue, entries = values.len(), "dumped");
    Ok(ExitCode::SUCCESS)
}
