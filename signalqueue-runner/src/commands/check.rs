//! `check`: configuration, engines, registry and pending signals; exit 0 or 2.

use std::collections::BTreeMap;
use std::process::ExitCode;

use signalqueue::{Config, Envelope, Registry};

use crate::cli::CheckArgs;
use crate::error::Error;

/// How many pending entries are looked at for signals nobody receives.
const PEEK: usize = 10_000;

/// An outbox row older than this means nothing relays it.
const OUTBOX_STALE_MS: u64 = 60_000;

pub(crate) async fn check(args: CheckArgs) -> Result<ExitCode, Error> {
    let mut problems: Vec<String> = Vec::new();
    let mut fine: Vec<String> = Vec::new();
    // Worth a look, but nothing is broken: they do not change the exit code.
    let mut warnings: Vec<String> = Vec::new();
    let registry = Registry::global();

    let config = match Config::load() {
        Ok(c) => {
            fine.push(format!("configuration: {}", c.source));
            Some(c)
        }
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };

    problems.extend(registry.problems().iter().cloned());
    if registry.problems().is_empty() {
        fine.push(format!(
            "registry: {} signals, {} receivers",
            registry.signals().count(),
            registry.receiver_count()
        ));
    }

    if let Some(config) = &config {
        for def in registry.signals() {
            if !config.queues.contains_key(def.queue) {
                problems.push(format!(
                    "signal `{}` goes to queue `{}`, which is not configured; add `[queues.{}]` to {}",
                    def.name, def.queue, def.queue, config.source
                ));
            }
        }
        warnings.extend(unused_queues(config, registry));
        let queues: Vec<String> = if args.queues.is_empty() {
            config.queues.keys().cloned().collect()
        } else {
            args.queues.clone()
        };
        for name in queues {
            match super::open_queue(config, &name).await {
                Err(e) => problems.push(e.to_string()),
                Ok(engine) => {
                    fine.push(format!("queue {name}: {} reachable", engine.describe()));
                    match engine.pending(PEEK).await {
                        Err(e) => problems
                            .push(format!("queue `{name}`: cannot read pending signals: {e}")),
                        Ok(entries) => problems.extend(pending_problems(
                            &name,
                            registry,
                            entries.iter().map(|e| e.payload.as_slice()),
                        )),
                    }
                }
            }
        }
    }

    if let Some(config) = &config {
        for url in &config.outbox.urls {
            let shown = signalqueue::engine::redact_url(url);
            match signalqueue::outbox::Outbox::open(url).await {
                Err(e) => problems.push(format!("outbox `{shown}`: {e}")),
                Ok(outbox) => match outbox.stats().await {
                    Err(e) => {
                        problems.push(format!("outbox `{shown}`: cannot count its rows: {e}"))
                    }
                    Ok(stats) => {
                        fine.push(format!(
                            "outbox {shown}: reachable, {} rows waiting, the oldest for {:.1} s{}",
                            stats.depth,
                            stats.oldest_age_ms as f64 / 1000.0,
                            if config.outbox.relay { "" } else { " (workers do not relay it: `[outbox] relay = false`; run `signalqueue-worker relay`)" }
                        ));
                        if stats.oldest_age_ms > OUTBOX_STALE_MS {
                            problems.push(format!(
                                "outbox `{shown}`: its oldest row has waited {:.0} s; is a worker (or `signalqueue-worker relay`) running with this configuration, and can it reach the queues?",
                                stats.oldest_age_ms as f64 / 1000.0
                            ));
                        }
                    }
                },
            }
        }
    }

    if args.json {
        let report = serde_json::json!({
            "ok": problems.is_empty(),
            "fine": fine,
            "warnings": warnings,
            "problems": problems,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("JSON values serialize")
        );
        return Ok(if problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        });
    }
    for line in &fine {
        println!("ok: {line}");
    }
    for line in &warnings {
        println!("warning: {line}");
    }
    if problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            // A problem starts its own line; a long one (a TOML error with its excerpt)
            // continues on indented lines, so `grep '^problem:'` counts problems.
            println!("problem: {}", p.trim_end().replace('\n', "\n    "));
        }
        Ok(ExitCode::from(2))
    }
}

/// Configured queues that no signal linked here is sent to: a misspelt `queue = "..."` on a
/// signal, or a queue left over. `default` is required by the configuration, so it is not one.
fn unused_queues(config: &Config, registry: &Registry) -> Vec<String> {
    config
        .queues
        .keys()
        .filter(|name| name.as_str() != "default")
        .filter(|name| !registry.signals().any(|def| def.queue == name.as_str()))
        .map(|name| {
            format!(
                "queue `{name}` is configured in {} but no signal linked into this worker is sent to it; check the `queue = \"...\"` of your signals, or remove `[queues.{name}]`",
                config.source
            )
        })
        .collect()
}

/// Pending signals this worker would dead-letter (unknown or malformed) or acknowledge without
/// running anything (no receivers), grouped by wire name.
fn pending_problems<'a>(
    queue: &str,
    registry: &Registry,
    payloads: impl Iterator<Item = &'a [u8]>,
) -> Vec<String> {
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    let mut unreceived: BTreeMap<String, usize> = BTreeMap::new();
    // Per signal: how many, and the first one's error (the others are usually the same).
    let mut undecodable: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut malformed = 0;
    let mut first_malformed = None;
    for payload in payloads {
        match Envelope::decode(payload) {
            Err(e) => {
                malformed += 1;
                first_malformed.get_or_insert(e.to_string());
            }
            Ok(e) => match registry.signal(&e.signal) {
                None => *unknown.entry(e.signal).or_default() += 1,
                Some(def) => {
                    if let Err(err) = def.decode_args(&e.args) {
                        undecodable
                            .entry(e.signal.clone())
                            .or_insert_with(|| (0, err.to_string()))
                            .0 += 1;
                    } else if registry.receivers(def.name).is_empty() {
                        *unreceived.entry(e.signal).or_default() += 1
                    }
                }
            },
        }
    }
    let mut problems = Vec::new();
    for (name, n) in unknown {
        problems.push(format!(
            "queue `{queue}`: {n} pending `{name}` signal(s), but no signal named `{name}` is linked into this worker (it would give them back for a worker that has it, then dead-letter them once `unknown_grace` has passed since their send); link the crate that declares it"
        ));
    }
    for (name, n) in unreceived {
        problems.push(format!(
            "queue `{queue}`: {n} pending `{name}` signal(s), but no receiver of `{name}` is linked into this worker (nothing would run); link the crate with its receivers"
        ));
    }
    for (name, (n, err)) in undecodable {
        problems.push(format!(
            "queue `{queue}`: {n} pending `{name}` signal(s) whose arguments do not decode (the worker would dead-letter them): {err}"
        ));
    }
    let why = first_malformed.unwrap_or_default();
    match malformed {
        0 => {}
        1 => problems.push(format!(
            "queue `{queue}`: 1 pending entry is not a signalqueue envelope (it would be dead-lettered): {why}"
        )),
        n => problems.push(format!(
            "queue `{queue}`: {n} pending entries are not signalqueue envelopes (they would be dead-lettered); the first: {why}"
        )),
    }
    problems
}
