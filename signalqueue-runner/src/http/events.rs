//! `GET /events`: Server-Sent Events carrying a snapshot of counts and rates, for the status
//! page's live view.
//!
//! One sampler task per server reads the engines every [`SAMPLE_EVERY`] and publishes the
//! snapshot on a `watch` channel; every open page gets the same snapshot. So ten open pages
//! cost the engines what one does, and the engines are not read at all while no page is open
//! (the handled-per-second rates, which only read the worker's own counters, are always
//! kept, so a page opened later shows a rate at once).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use signalqueue::engine::Counts;
use signalqueue::Registry;
use tokio::sync::{oneshot, watch};

use super::{App, ServedQueue};
use crate::metrics::Metrics;

/// How often a snapshot is taken.
pub(super) const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// The window "handled per second" averages over: long enough to smooth bursts, short enough
/// that a stalled worker shows 0 within seconds.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// What one `snapshot` event holds.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Snapshot {
    /// RFC 3339 time of the sample.
    at: String,
    uptime_seconds: u64,
    handled_total: u64,
    handled_per_second: f64,
    queues: Vec<QueueSnapshot>,
    /// False when nobody listened at sampling time, so the engines were not read; such
    /// snapshots carry rates only and are not sent to pages.
    #[serde(skip)]
    has_counts: bool,
}

#[derive(Clone, Debug, Serialize)]
struct QueueSnapshot {
    name: String,
    /// `None` when the engine was not read or did not answer (`error` says which).
    counts: Option<Counts>,
    error: Option<String>,
    /// Handled signals whose declared queue is this one.
    handled_total: u64,
    handled_per_second: f64,
}

impl Snapshot {
    /// The snapshot before the first sample: zero everywhere.
    pub(super) fn empty(queues: &[ServedQueue]) -> Snapshot {
        Snapshot {
            at: super::entries::rfc3339(SystemTime::now()),
            uptime_seconds: 0,
            handled_total: 0,
            handled_per_second: 0.0,
            queues: queues
                .iter()
                .map(|q| QueueSnapshot {
                    name: q.name.clone(),
                    counts: None,
                    error: None,
                    handled_total: 0,
                    handled_per_second: 0.0,
                })
                .collect(),
            has_counts: false,
        }
    }

    /// Handled total and per-second rate of one queue.
    pub(super) fn handled(&self, queue: &str) -> (u64, f64) {
        self.queues
            .iter()
            .find(|q| q.name == queue)
            .map_or((0, 0.0), |q| (q.handled_total, q.handled_per_second))
    }

    /// The rate over all queues.
    pub(super) fn handled_per_second(&self) -> f64 {
        self.handled_per_second
    }
}

/// How many `/events` streams are open; the sampler reads the engines only when some are.
#[derive(Clone, Debug, Default)]
pub(super) struct Listeners(Arc<AtomicUsize>);

/// Held by one open stream; counts it out when the stream is dropped (the client left).
struct Listening(Arc<AtomicUsize>);

impl Listeners {
    fn join(&self) -> Listening {
        self.0.fetch_add(1, Ordering::SeqCst);
        Listening(self.0.clone())
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The sampler: publishes a snapshot every [`SAMPLE_EVERY`] until `stop` fires. Returning
/// drops `publish`, which ends every open `/events` stream.
pub(super) async fn sample(
    queues: Arc<[ServedQueue]>,
    metrics: Arc<Metrics>,
    listeners: Listeners,
    publish: watch::Sender<Arc<Snapshot>>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    // After a slow engine read, carry on at the normal pace rather than catching up in a burst.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut history = VecDeque::new();
    loop {
        let step = async {
            ticker.tick().await;
            take(&queues, &metrics, listeners.any(), &mut history).await
        };
        tokio::select! {
            _ = &mut stop => return,
            snapshot = step => {
                publish.send_replace(Arc::new(snapshot));
            }
        }
    }
}

/// One sample in the rate window: when, handled per served queue, handled in all.
type Sample = (Instant, Vec<u64>, u64);

async fn take(
    queues: &[ServedQueue],
    metrics: &Metrics,
    read_engines: bool,
    history: &mut VecDeque<Sample>,
) -> Snapshot {
    let now = Instant::now();
    metrics.sample_history();
    let by_signal = metrics.handled_by_signal();
    let registry = Registry::global();
    let per_queue: Vec<u64> = queues
        .iter()
        .map(|q| {
            by_signal
                .iter()
                .filter(|(signal, _)| registry.signal(signal).is_some_and(|d| d.queue == q.name))
                .map(|(_, n)| *n)
                .sum()
        })
        .collect();
    let total = metrics.handled_total();
    history.push_back((now, per_queue.clone(), total));
    while history.len() > 1
        && history
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) > RATE_WINDOW)
    {
        history.pop_front();
    }
    let (since, old_per_queue, old_total) = history.front().expect("just pushed");
    let elapsed = now.duration_since(*since).as_secs_f64();
    let rate = |new: u64, old: u64| {
        if elapsed > 0.0 {
            new.saturating_sub(old) as f64 / elapsed
        } else {
            0.0
        }
    };

    let counts = if read_engines {
        futures_util::future::join_all(queues.iter().map(|q| async {
            match q.counts().await {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e.to_string())),
            }
        }))
        .await
    } else {
        vec![(None, None); queues.len()]
    };

    Snapshot {
        at: super::entries::rfc3339(SystemTime::now()),
        uptime_seconds: metrics.uptime().as_secs(),
        handled_total: total,
        handled_per_second: rate(total, *old_total),
        queues: queues
            .iter()
            .zip(counts)
            .enumerate()
            .map(|(i, (q, (counts, error)))| QueueSnapshot {
                name: q.name.clone(),
                counts,
                error,
                handled_total: per_queue[i],
                handled_per_second: rate(per_queue[i], old_per_queue.get(i).copied().unwrap_or(0)),
            })
            .collect(),
        has_counts: read_engines,
    }
}

/// `GET /events`: a `snapshot` event at every sample (about every 500 ms) while the client
/// stays; the stream ends when the server shuts down.
pub(super) async fn stream(
    State(app): State<App>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let listening = app.listeners.join();
    let mut live = app.live.clone();
    // Start from the next sample: it is the first one taken knowing this client listens.
    live.mark_unchanged();
    let events =
        futures_util::stream::unfold((live, listening), |(mut live, listening)| async move {
            loop {
                // An error means the sampler stopped: the server is shutting down.
                live.changed().await.ok()?;
                let snapshot = live.borrow_and_update().clone();
                if !snapshot.has_counts {
                    continue;
                }
                let data = serde_json::to_string(&*snapshot).expect("a snapshot serializes");
                let event = Event::default().event("snapshot").data(data);
                return Some((Ok(event), (live, listening)));
            }
        });
    Sse::new(events).keep_alive(KeepAlive::default())
}
