//! `scheduled_1m`: what a backlog of delayed sends costs the claims of ready entries. Every
//! engine keeps delayed entries apart from the ready ones (`docs/engines.md`, "Delayed
//! sends"), so claiming and acknowledging a ready entry should cost the same with a million
//! of them waiting as with none.

use std::time::{Duration, Instant, SystemTime};

use signalqueue::engine::{Outgoing, SharedEngine};
use signalqueue::EnvelopeId;

/// Entries per enqueue while building the backlog.
const BATCH: usize = 10_000;

/// Entries per claim, as a busy worker takes them.
pub(crate) const CLAIM: usize = 100;

/// Adds `n` entries due in an hour (long after the measurement ends).
pub(crate) async fn add_backlog(engine: &SharedEngine, n: u64) -> Result<(), String> {
    let due = SystemTime::now() + Duration::from_secs(3600);
    let mut left = n;
    while left > 0 {
        let take = left.min(BATCH as u64);
        let batch: Vec<Outgoing> = (0..take)
            .map(|i| {
                Outgoing::new(EnvelopeId::new(), format!("later-{left}-{i}").into_bytes())
                    .not_before(Some(due))
            })
            .collect();
        engine.enqueue(&batch).await.map_err(|e| e.to_string())?;
        left -= take;
    }
    Ok(())
}

/// Enqueues `ready` entries, then claims (`CLAIM` at a time) and acknowledges all of them;
/// returns the microseconds this took per entry, claims and acks only.
pub(crate) async fn claim_cost(engine: &SharedEngine, ready: usize) -> Result<f64, String> {
    let batch: Vec<Outgoing> = (0..ready)
        .map(|i| Outgoing::new(EnvelopeId::new(), format!("ready-{i}").into_bytes()))
        .collect();
    engine.enqueue(&batch).await.map_err(|e| e.to_string())?;
    let lease = Duration::from_secs(60);
    let start = Instant::now();
    let mut done = 0;
    while done < ready {
        let claimed = engine
            .claim(CLAIM, lease, Duration::ZERO)
            .await
            .map_err(|e| e.to_string())?;
        if claimed.is_empty() {
            return Err(format!(
                "only {done} of {ready} ready entries could be claimed"
            ));
        }
        let tokens: Vec<_> = claimed.into_iter().map(|c| c.token).collect();
        engine.ack(&tokens).await.map_err(|e| e.to_string())?;
        done += tokens.len();
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / ready as f64)
}
