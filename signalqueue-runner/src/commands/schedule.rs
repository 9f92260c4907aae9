//! `schedule`: the periodic signals linked into this worker and their next ticks.

use std::process::ExitCode;
use std::time::SystemTime;

use signalqueue::Registry;

use crate::cli::ScheduleArgs;
use crate::error::Error;
use crate::periodic::{self, rfc3339, until};

pub(crate) async fn schedule(args: ScheduleArgs) -> Result<ExitCode, Error> {
    // The last ticks need the configuration and the queues; the rest of the listing does not,
    // so a missing or broken configuration shows as the reason next to each last tick.
    let config = signalqueue::Config::load().map_err(|e| e.to_string());
    let views = periodic::read(Registry::global(), |queue| {
        let config = config.clone();
        async move {
            match config {
                Err(e) => Err(e),
                Ok(config) => super::open_queue(&config, queue)
                    .await
                    .map_err(|e| e.to_string()),
            }
        }
    })
    .await;
    if args.json {
        let json = serde_json::json!({ "signals": views });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("JSON values serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = SystemTime::now();
    for view in &views {
        println!("{}", view.name);
        println!("    {}", view.when);
        println!("    catch-up: {}", view.catch_up);
        println!("    queue: {}", view.queue);
        match &view.last {
            Ok(Some(last)) => println!("    last tick enqueued: {}", rfc3339(*last)),
            Ok(None) => println!("    last tick enqueued: none yet"),
            Err(e) => println!("    last tick enqueued: unknown ({e})"),
        }
        println!("    declared: {} ({})", view.rust_path, view.location);
        if !view.doc.is_empty() {
            println!("    {}", view.doc);
        }
        if view.ticks.is_empty() {
            println!("    next: none");
        }
        for tick in &view.ticks {
            println!("    next: {} (in {})", rfc3339(*tick), until(now, *tick));
        }
    }
    if views.is_empty() {
        println!("no periodic signals are linked into this worker; declare one with `#[async_signal(schedule = \"0 * * * *\")]` or `#[async_signal(every = \"30s\")]`");
    }
    Ok(ExitCode::SUCCESS)
}
