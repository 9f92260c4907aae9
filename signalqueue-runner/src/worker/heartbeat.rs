//! The worker's heartbeat: every few seconds it tells each of its queues' engines who it is
//! and how busy it is, with a short time to live, so the console lists the live workers and a
//! worker that died drops out by itself. On a clean stop it leaves at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use signalqueue::engine::consumer_id;

use crate::worker::{Lane, Shared};

/// How often a worker beats.
pub(crate) const EVERY: Duration = Duration::from_secs(5);
/// How long a beat lives: three beats, so one slow beat does not make a worker look dead.
pub(crate) const TTL: Duration = Duration::from_secs(15);

/// What a worker says about itself (the JSON documented in `docs/worker.md`, "Workers").
#[derive(Debug, Serialize)]
struct Info<'a> {
    id: &'a str,
    host: String,
    pid: u32,
    version: &'static str,
    queues: Vec<&'a str>,
    concurrency: usize,
    /// Signals being handled now.
    busy: usize,
    started_at: String,
    beat_at: String,
    beat_every_ms: u64,
}

/// Beats until the worker stops, then leaves every queue.
pub(crate) async fn beat(lanes: Vec<Arc<Lane>>, shared: Arc<Shared>) {
    let started_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let id = consumer_id();
    let mut ticker = tokio::time::interval(EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shared.stop.stopped() => break,
        }
        let info = Info {
            id,
            host: host.clone(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION"),
            queues: lanes.iter().map(|l| l.name.as_str()).collect(),
            concurrency: shared.settings.concurrency,
            busy: shared.tasks.len(),
            started_at: started_at.clone(),
            beat_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            beat_every_ms: EVERY.as_millis() as u64,
        };
        let json = serde_json::to_vec(&info).expect("the heartbeat serializes");
        for lane in &lanes {
            let Some(beats) = lane.engine.heartbeats() else {
                continue;
            };
            // Not worth more than a debug line: the claim loop already says loudly that the
            // engine is down, and the next beat tries again.
            if let Err(e) = beats.beat(id, &json, TTL).await {
                tracing::debug!(queue = %lane.name, error = %e, "heartbeat not recorded");
            }
        }
    }
    for lane in &lanes {
        if let Some(beats) = lane.engine.heartbeats() {
            if let Err(e) = tokio::time::timeout(Duration::from_secs(2), beats.leave(id)).await {
                tracing::debug!(queue = %lane.name, "heartbeat not removed at stop: {e}");
            }
        }
    }
}
