//! Latency from `send` to the receiver's start, measured by the receiver itself: each
//! `bench.stamp` carries the wall-clock time taken just before its `send`, and the receiver in
//! the worker process appends its age to a file this module reads.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::signals::{unix_ns, STAMP};
use crate::target::Target;

/// Reads the samples a worker's receivers append, as the file grows.
pub(crate) struct Samples {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Samples {
    pub(crate) fn new(path: PathBuf) -> Samples {
        Samples {
            path,
            offset: 0,
            partial: String::new(),
        }
    }

    /// The samples written since the last call.
    fn read_new(&mut self) -> Vec<u64> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut text = String::new();
        let Ok(read) = f.read_to_string(&mut text) else {
            return Vec::new();
        };
        self.offset += read as u64;
        self.partial.push_str(&text);
        let complete = self.partial.rfind('\n').map_or(0, |i| i + 1);
        let lines: String = self.partial.drain(..complete).collect();
        lines.lines().filter_map(|l| l.parse().ok()).collect()
    }

    /// Waits until `want` samples have arrived in all, or `limit` passed; returns them.
    async fn collect(&mut self, into: &mut Vec<u64>, want: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            into.extend(self.read_new());
            if into.len() >= want {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Sends `bench.stamp` at a steady `rate` per second for `duration`, each send in a task of its
/// own (so a slow send does not delay the schedule), and returns the receivers' samples (ns).
pub(crate) async fn steady(
    target: &Target,
    samples: &mut Samples,
    rate: f64,
    duration: Duration,
) -> Result<Vec<u64>, String> {
    let total = (rate * duration.as_secs_f64()) as u64;
    let mut sends = tokio::task::JoinSet::new();
    let started = Instant::now();
    let mut sent = 0;
    // Timers tick at best every millisecond: each tick sends what is due by then (5 at 5k/s).
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while sent < total {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate) as u64).min(total);
        for _ in sent..due {
            let runtime = target.runtime.clone();
            sends.spawn(async move {
                runtime
                    .scope(async { STAMP.send(unix_ns()).await.map(|_| ()) })
                    .await
            });
        }
        sent = due;
    }
    while let Some(done) = sends.join_next().await {
        done.map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let mut got = Vec::with_capacity(total as usize);
    if !samples
        .collect(&mut got, total as usize, Duration::from_secs(60))
        .await
    {
        return Err(format!(
            "only {} of {total} signals reached the receiver",
            got.len()
        ));
    }
    Ok(got)
}

/// With the queue empty and the worker idle, sends one signal `count` times, `gap` apart, and
/// returns the receivers' samples (ns): how fast an idle worker wakes up. Also returns, per
/// sample, the part after the send returned (ns): the wake-up without the send's own commit.
pub(crate) async fn idle_wakeups(
    target: &Target,
    samples: &mut Samples,
    count: usize,
    gap: Duration,
) -> Result<(Vec<u64>, Vec<u64>), String> {
    let mut got = Vec::with_capacity(count);
    let mut after_send = Vec::with_capacity(count);
    for i in 0..count {
        tokio::time::sleep(gap).await;
        let sending = Instant::now();
        let _ = target
            .runtime
            .scope(STAMP.send(unix_ns()))
            .await
            .map_err(|e| e.to_string())?;
        let send = sending.elapsed().as_nanos() as u64;
        if !samples
            .collect(&mut got, i + 1, Duration::from_secs(10))
            .await
        {
            return Err(format!(
                "signal {} did not reach the receiver in 10 s",
                i + 1
            ));
        }
        after_send.push(got[i].saturating_sub(send));
    }
    Ok((got, after_send))
}
