//! `schedule`: the periodic signals linked into this worker and their next ticks.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use signalqueue::{Registry, ScheduleDef};

use crate::cli::ScheduleArgs;
use crate::error::Error;

/// How many upcoming ticks each signal shows.
const NEXT: usize = 3;

pub(crate) async fn schedule(args: ScheduleArgs) -> Result<ExitCode, Error> {
    let registry = Registry::global();
    let now = SystemTime::now();
    let lasts = last_ticks(registry).await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&as_json(registry, now, &lasts))
                .expect("JSON values serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut periodic = 0;
    for (def, schedule) in registry.periodic() {
        periodic += 1;
        println!("{}", def.name);
        println!("    {}", when(schedule));
        println!("    catch-up: {}", schedule.catch_up);
        println!("    queue: {}", def.queue);
        match lasts.get(def.name) {
            Some(Ok(Some(last))) => println!("    last tick enqueued: {}", rfc3339(*last)),
            Some(Ok(None)) => println!("    last tick enqueued: none yet"),
            Some(Err(e)) => println!("    last tick enqueued: unknown ({e})"),
            None => {}
        }
        println!("    declared: {} ({})", def.rust_path, def.location);
        if !def.doc.is_empty() {
            println!("    {}", def.doc);
        }
        let ticks = next_ticks(schedule, now);
        if ticks.is_empty() {
            println!("    next: none");
        }
        for tick in ticks {
            println!("    next: {} (in {})", rfc3339(tick), until(now, tick));
        }
    }
    if periodic == 0 {
        println!("no periodic signals are linked into this worker; declare one with `#[async_signal(schedule = \"0 * * * *\")]` or `#[async_signal(every = \"30s\")]`");
    }
    Ok(ExitCode::SUCCESS)
}

/// `every 1m`, or `schedule */10 * * * * * (UTC)`.
fn when(schedule: &ScheduleDef) -> String {
    match schedule.every {
        Some(_) => format!("every {}", schedule.expr),
        None => format!("schedule {} ({})", schedule.expr, schedule.timezone),
    }
}

fn next_ticks(schedule: &ScheduleDef, now: SystemTime) -> Vec<SystemTime> {
    let mut ticks = Vec::with_capacity(NEXT);
    let mut t = now;
    while ticks.len() < NEXT {
        match schedule.next_after(t) {
            Some(next) => {
                ticks.push(next);
                t = next;
            }
            None => break,
        }
    }
    ticks
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// How long until `tick`, to the second (`"2m 13s"`).
fn until(now: SystemTime, tick: SystemTime) -> String {
    let wait = tick.duration_since(now).unwrap_or_default();
    let wait = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
    humantime::format_duration(wait).to_string()
}

/// The latest tick each periodic signal's engine recorded, by wire name (an error where the
/// configuration or the queue cannot be read: the rest of the listing does not need them).
async fn last_ticks(
    registry: &Registry,
) -> BTreeMap<&'static str, Result<Option<SystemTime>, String>> {
    let mut lasts = BTreeMap::new();
    let config = signalqueue::Config::load().map_err(|e| e.to_string());
    for (def, _) in registry.periodic() {
        let last = match &config {
            Err(e) => Err(e.clone()),
            Ok(config) => match super::open_queue(config, def.queue).await {
                Err(e) => Err(e.to_string()),
                Ok(engine) => match engine.ticks() {
                    None => Err(format!("{} keeps no ticks", engine.kind())),
                    Some(ticks) => ticks.last_tick(def.name).await.map_err(|e| e.to_string()),
                },
            },
        };
        lasts.insert(def.name, last);
    }
    lasts
}

/// `schedule --json`: the same facts as the text (documented in `docs/worker.md`).
fn as_json(
    registry: &Registry,
    now: SystemTime,
    lasts: &BTreeMap<&'static str, Result<Option<SystemTime>, String>>,
) -> Value {
    let signals: Vec<Value> = registry
        .periodic()
        .map(|(def, schedule)| {
            json!({
                "name": def.name,
                "queue": def.queue,
                "rust_path": def.rust_path,
                "location": def.location,
                "doc": def.doc,
                "schedule": schedule.every.is_none().then_some(schedule.expr),
                "every": schedule.every.map(|_| schedule.expr),
                "every_ms": schedule.every.map(|d| d.as_millis() as u64),
                "timezone": schedule.timezone,
                "catch_up": schedule.catch_up.as_str(),
                "next": next_ticks(schedule, now).into_iter().map(rfc3339).collect::<Vec<_>>(),
                "last_tick": lasts.get(def.name).and_then(|l| l.as_ref().ok().copied().flatten()).map(rfc3339),
                "last_tick_error": lasts.get(def.name).and_then(|l| l.as_ref().err().cloned()),
            })
        })
        .collect();
    json!({ "signals": signals })
}
