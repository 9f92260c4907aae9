//! `list`: the signals and receivers linked into this worker.

use std::process::ExitCode;

use serde_json::{json, Value};
use signalqueue::{Config, Registry};

use crate::periodic::when;

use crate::cli::ListArgs;
use crate::error::Error;

pub(crate) fn list(args: ListArgs) -> Result<ExitCode, Error> {
    let registry = Registry::global();
    // The default retry limit is the configuration's; `list` still works without a valid one.
    let default_retries = Config::load().map(|c| c.worker.retries).ok();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&as_json(registry, default_retries))
                .expect("JSON values serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut signals = 0;
    for def in registry.signals() {
        signals += 1;
        let args = def
            .args
            .iter()
            .map(|a| format!("{}: {}", a.name, a.ty))
            .collect::<Vec<_>>()
            .join(", ");
        println!("{}({args})", def.name);
        println!("    queue: {}", def.queue);
        if let Some(schedule) = def.schedule {
            println!(
                "    periodic: {}, catch-up {}",
                when(schedule),
                schedule.catch_up
            );
        }
        println!("    declared: {} ({})", def.rust_path, def.location);
        if !def.doc.is_empty() {
            println!("    {}", def.doc);
        }
        let receivers = registry.receivers(def.name);
        if receivers.is_empty() {
            println!("    receivers: none");
        }
        for r in receivers {
            let sender = r
                .sender
                .map(|s| format!(", only from sender `{s}`"))
                .unwrap_or_default();
            let retries = match (r.retries, default_retries) {
                (Some(n), _) => n.to_string(),
                (None, Some(n)) => format!("{n} (default)"),
                (None, None) => "default".to_string(),
            };
            println!(
                "    -> {} ({}){sender}, retries {retries}",
                r.name, r.location
            );
        }
    }
    if signals == 0 {
        println!("no signals are linked into this worker; link the crates that declare them (`use my_app as _;`)");
    }
    for problem in registry.problems() {
        println!("problem: {problem}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `list --json`: the same facts as the text, one object (documented in `docs/worker.md`).
fn as_json(registry: &Registry, default_retries: Option<u32>) -> Value {
    let signals: Vec<Value> = registry
        .signals()
        .map(|def| {
            let receivers: Vec<Value> = registry
                .receivers(def.name)
                .iter()
                .map(|r| {
                    json!({
                        "name": r.name,
                        "location": r.location,
                        "sender": r.sender,
                        "retries": r.retries.or(default_retries),
                        "retries_default": r.retries.is_none(),
                    })
                })
                .collect();
            json!({
                "name": def.name,
                "args": def.args.iter().map(|a| json!({"name": a.name, "type": a.ty})).collect::<Vec<_>>(),
                "queue": def.queue,
                "rust_path": def.rust_path,
                "location": def.location,
                "doc": def.doc,
                "receivers": receivers,
                "periodic": def.schedule.map(|s| json!({
                    "schedule": s.every.is_none().then_some(s.expr),
                    "every": s.every.map(|_| s.expr),
                    "timezone": s.timezone,
                    "catch_up": s.catch_up.as_str(),
                })),
            })
        })
        .collect();
    json!({ "signals": signals, "problems": registry.problems() })
}
