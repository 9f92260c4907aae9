//! The `Worker` library type, embedded in a test on the in-memory engine: the builder, the
//! shutdown future, the outcome hook, poison entries.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// A by-value signal of the example app: these tests are about the worker, not about loading rows.
use examples::{TwoArgsArgs, TWO_ARGS};
use signalqueue::engine::{ClaimToken, EngineError, EngineOptions, Outgoing, SharedEngine};
use signalqueue::{Runtime, Sent};
use signalqueue_runner::worker::DeadKind;
use signalqueue_runner::{Halt, SignalOutcome, SignalResult, Worker};

#[path = "support/hooked.rs"]
mod hooked;
use hooked::{Hooked, Hooks};

async fn memory_runtime(name: &str) -> (Runtime, SharedEngine) {
    let engine =
        signalqueue::engine::open(&format!("memory://{name}"), EngineOptions::new("default"))
            .await
            .unwrap();
    (
        Runtime::builder().queue("default", engine.clone()).build(),
        engine,
    )
}

fn collect() -> (
    Arc<Mutex<Vec<SignalOutcome>>>,
    impl Fn(&SignalOutcome) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |o: &SignalOutcome| {
        sink.lock().unwrap().push(o.clone())
    })
}

#[tokio::test]
async fn an_embedded_worker_handles_signals_until_its_shutdown_future_completes() {
    let (runtime, engine) = memory_runtime("lib-embedded").await;
    let ids: Vec<_> = runtime
        .scope(async {
            let mut ids = Vec::new();
            for id in 1..=5 {
                let sent = TWO_ARGS.send(id, "x".into()).await.unwrap();
                assert!(matches!(sent, Sent::Queued(_)), "async runmode queues");
                ids.push(sent.id());
            }
            ids
        })
        .await;

    let (seen, hook) = collect();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(
        Worker::builder()
            .runtime(runtime)
            .queue("default")
            .concurrency(2)
            .claim_wait(Duration::from_millis(50))
            .on_outcome(hook)
            .shutdown(async {
                let _ = stopped.await;
            })
            .build()
            .run(),
    );
    // Eventually every signal is handled; the deadline only catches a hang.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen.lock().unwrap().len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not handled in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    let summary = worker.await.unwrap().unwrap();
    assert_eq!(summary.handled, 5);
    assert_eq!((summary.retried, summary.dead, summary.released), (0, 0, 0));
    let seen = seen.lock().unwrap().clone();
    for id in ids {
        let o = seen
            .iter()
            .find(|o| o.id == Some(id))
            .expect("an outcome per signal");
        assert!(matches!(o.result, SignalResult::Handled), "{o:?}");
        assert_eq!(o.signal, "demo.two_args");
    }
    assert_eq!(engine.counts().await.unwrap(), Default::default());
}

#[tokio::test]
async fn an_entry_claimed_over_and_over_without_finishing_is_dead_lettered_as_poison() {
    let (runtime, engine) = memory_runtime("lib-poison").await;
    let _ = runtime.scope(TWO_ARGS.send(1, "x".into())).await.unwrap();
    // Six claims whose leases ran out: as if six workers died on it.
    for _ in 0..6 {
        let claimed = engine
            .claim(1, Duration::from_millis(1), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let (seen, hook) = collect();
    let summary = Worker::builder()
        .runtime(runtime)
        .halt(Halt::WhenExhausted)
        .claim_wait(Duration::from_millis(50))
        .on_outcome(hook)
        .build()
        .run()
        .await
        .unwrap();
    assert_eq!(summary.dead, 1, "{summary:?}");
    let seen = seen.lock().unwrap().clone();
    let SignalResult::Dead { kind, reason, .. } = &seen[0].result else {
        panic!("{seen:?}")
    };
    assert_eq!(*kind, DeadKind::Poison);
    assert!(reason.contains("claimed 7 times for attempt 1"), "{reason}");
    let dead = engine.dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].reason.contains("crashes or hangs the workers"),
        "{}",
        dead[0].reason
    );
}

#[tokio::test]
async fn a_worker_asked_for_a_queue_that_is_not_configured_says_which_are() {
    let (runtime, _) = memory_runtime("lib-unknown-queue").await;
    let err = Worker::builder()
        .runtime(runtime)
        .queue("emails")
        .build()
        .run()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no queue named `emails` is configured"),
        "{err}"
    );
    assert!(err.contains("`default`"), "{err}");
}

#[tokio::test]
async fn an_idle_queue_does_not_keep_the_slots_from_a_busy_one() {
    let busy = signalqueue::engine::open("memory://lib-fair", EngineOptions::new("default"))
        .await
        .unwrap();
    let idle = signalqueue::engine::open("memory://lib-fair", EngineOptions::new("idle"))
        .await
        .unwrap();
    let runtime = Runtime::builder()
        .queue("default", busy.clone())
        .queue("idle", idle)
        .build();
    let _ = runtime
        .scope(TWO_ARGS.send_many((1..=100).map(|a| TwoArgsArgs { a, b: "x".into() })))
        .await
        .unwrap();
    // Each idle claim waits 5 s, holding one of the two slots at most: the busy queue always
    // has the other. (Were the idle queue to hold both while it waits, the busy one would get
    // slots only between those waits: minutes for 100 signals.)
    let run = Worker::builder()
        .runtime(runtime)
        .queue("default")
        .queue("idle")
        .concurrency(2)
        .claim_wait(Duration::from_secs(5))
        .halt(Halt::WhenExhausted)
        .build()
        .run();
    let summary = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the busy queue was starved")
        .unwrap();
    assert_eq!(summary.handled, 100);
}

/// A model whose loader answers by key: a row, no row, or a failing store. No database needed,
/// so the worker's handling of references is tested wherever the tests run (the same against
/// PostgreSQL is in `tests/tests/mappings_postgres.rs`).
pub struct Row {
    id: i64,
}

/// Keys the loader treats specially.
const GONE: i64 = -1;
const STORE_DOWN: i64 = 0;

impl signalqueue::Model for Row {
    const APP_LABEL: &'static str = "worker_lib";
    const MODEL_NAME: &'static str = "row";
    type Key = i64;

    fn key(&self) -> i64 {
        self.id
    }

    async fn load(
        key: &i64,
        _stores: &signalqueue::Stores,
    ) -> Result<Option<Self>, signalqueue::BoxError> {
        match *key {
            STORE_DOWN => Err("the store is down".into()),
            GONE => Ok(None),
            id => Ok(Some(Row { id })),
        }
    }
}

/// Skips a signal whose row is gone.
#[signalqueue::async_signal(providing_args = [row: signalqueue::Ref<Row>], name = "worker_lib.row", on_missing = "skip")]
pub static ROW: RowSignal;

static RAN: Mutex<Vec<i64>> = Mutex::new(Vec::new());

#[signalqueue::receiver(ROW, retries = 1)]
async fn on_row(row: signalqueue::Ref<Row>) {
    let id = row
        .get()
        .map(|r| r.id)
        .expect("loaded before the receiver runs");
    RAN.lock().unwrap().push(id);
}

#[tokio::test]
async fn references_are_loaded_gone_rows_skipped_and_failed_loads_retried_then_dead_lettered() {
    let (runtime, engine) = memory_runtime("lib-references").await;
    let ids: Vec<_> = runtime
        .scope(async {
            let mut ids = Vec::new();
            for key in [7, GONE, STORE_DOWN] {
                ids.push(
                    ROW.send(signalqueue::Ref::from_key(key))
                        .await
                        .unwrap()
                        .id(),
                );
            }
            ids
        })
        .await;
    let (seen, hook) = collect();
    // `WorkerConfig` is `#[non_exhaustive]`: the defaults, then the fields this test sets.
    let mut settings = signalqueue::config::WorkerConfig::default();
    settings.retry_base = Duration::from_millis(10);
    settings.retry_max = Duration::from_millis(20);
    let summary = Worker::builder()
        .runtime(runtime)
        .settings(settings)
        .halt(Halt::WhenExhausted)
        .claim_wait(Duration::from_millis(50))
        .on_outcome(hook)
        .build()
        .run()
        .await
        .unwrap();
    assert_eq!(*RAN.lock().unwrap(), [7]);
    let seen = seen.lock().unwrap().clone();
    let results = |id| -> Vec<SignalResult> {
        seen.iter()
            .filter(|o| o.id == Some(id))
            .map(|o| o.result.clone())
            .collect()
    };
    // Present: run. Gone: acknowledged without running (`on_missing = "skip"`).
    assert!(matches!(results(ids[0])[..], [SignalResult::Handled]));
    assert!(matches!(results(ids[1])[..], [SignalResult::Handled]));
    // The store fails: retried once (`retries = 1`), then dead-lettered with the error.
    let failed = results(ids[2]);
    assert!(
        matches!(
            &failed[..],
            [
                SignalResult::Retried {
                    next_attempt: 2,
                    ..
                },
                SignalResult::Dead { .. }
            ]
        ),
        "{failed:?}"
    );
    assert_eq!((summary.retried, summary.dead), (1, 1), "{summary:?}");
    let dead = engine.dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    for part in [
        "gave up after 2 attempts",
        "worker_lib::on_row",
        "loading `row` (worker_lib.row with pk 0): the store is down",
    ] {
        assert!(
            dead[0].reason.contains(part),
            "{part:?}: {}",
            dead[0].reason
        );
    }
}

/// Makes the first renewal and the first acknowledgement race the way they can on a busy
/// machine: the renewal takes its list of held claims, then the acknowledgement of one of them
/// lands before the renewal does.
#[derive(Default)]
struct AckBeforeRenewal {
    renewing: tokio::sync::Notify,
    acked: tokio::sync::Notify,
    first_ack: std::sync::atomic::AtomicBool,
    first_renewal: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Hooks for AckBeforeRenewal {
    async fn renew(
        &self,
        inner: &SharedEngine,
        tokens: &[ClaimToken],
        lease: Duration,
    ) -> Result<Vec<bool>, EngineError> {
        self.renewing.notify_one();
        if !self.first_renewal.swap(true, Ordering::SeqCst) {
            let _ = tokio::time::timeout(Duration::from_secs(30), self.acked.notified()).await;
        }
        inner.renew(tokens, lease).await
    }
    async fn ack(
        &self,
        inner: &SharedEngine,
        tokens: &[ClaimToken],
    ) -> Result<Vec<bool>, EngineError> {
        if !self.first_ack.swap(true, Ordering::SeqCst) {
            let _ = tokio::time::timeout(Duration::from_secs(30), self.renewing.notified()).await;
        }
        let answers = inner.ack(tokens).await;
        self.acked.notify_one();
        answers
    }
}

/// Installs a process-wide subscriber (once) that is interested in every event, so that a
/// test capturing logs with a thread-local subscriber sees them all. `tracing` caches whether
/// a callsite is enabled, process-wide, when it is first reached: with only thread-local
/// subscribers around, a callsite first reached by another test's thread (which has none) is
/// cached as "never", and the capturing test would see nothing from it, sometimes.
fn keep_callsites_interested() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if a global subscriber exists already, which serves as well.
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
}

/// Collects what the worker logs on this thread.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_claim_acknowledged_while_its_lease_was_being_renewed_is_not_reported_lost() {
    let (_, inner) = memory_runtime("lib-ack-renew-race").await;
    let engine = Arc::new(Hooked {
        inner,
        hooks: AckBeforeRenewal::default(),
    });
    let runtime = Runtime::builder().queue("default", engine.clone()).build();
    let _ = runtime.scope(TWO_ARGS.send(1, "x".into())).await.unwrap();

    let logs = LogBuffer::default();
    let sink = logs.clone();
    keep_callsites_interested();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    // The test's runtime has one thread: every task of the worker logs here.
    let _logging = tracing::subscriber::set_default(subscriber);
    let (seen, hook) = collect();
    let summary = Worker::builder()
        .runtime(runtime)
        .lease(Duration::from_secs(3))
        .claim_wait(Duration::from_millis(50))
        .halt(Halt::WhenExhausted)
        .on_outcome(hook)
        .build()
        .run()
        .await
        .unwrap();
    assert_eq!(summary.handled, 1, "{summary:?}");
    assert!(
        matches!(seen.lock().unwrap()[0].result, SignalResult::Handled),
        "{:?}",
        seen.lock().unwrap()
    );
    assert!(
        engine.hooks.first_renewal.load(Ordering::SeqCst),
        "never renewed"
    );
    // The renewal found the lease gone because the claim was finished, not lost: no alarm.
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("signal ran"), "{logs}");
    assert!(!logs.contains("lost the lease"), "{logs}");
}

#[tokio::test]
async fn an_entry_of_an_unknown_signal_is_given_back_until_its_grace_ends_then_dead_lettered() {
    let (runtime, engine) = memory_runtime("lib-unknown-signal").await;
    // A wire name read from an entry: it must not become a label of the metrics.
    let envelope = signalqueue::Envelope::new(
        "from.a.newer.release",
        None,
        signalqueue::Payload::Bincode(vec![1, 2, 3]),
    );
    let bytes = envelope.encode();
    engine
        .enqueue(&[Outgoing::new(envelope.id, bytes.clone())])
        .await
        .unwrap();
    let (seen, hook) = collect();
    let metrics = Arc::new(signalqueue_runner::metrics::Metrics::new());
    let grace = Duration::from_millis(700);
    let mut settings = signalqueue::config::WorkerConfig::default();
    settings.unknown_grace = grace;
    let summary = Worker::builder()
        .runtime(runtime)
        .settings(settings)
        .metrics(metrics.clone())
        .halt(Halt::WhenExhausted)
        .claim_wait(Duration::from_millis(50))
        .on_outcome(hook)
        .build()
        .run()
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let (last, given_back) = seen.split_last().expect("outcomes");
    assert!(!given_back.is_empty(), "{seen:?}");
    for o in given_back {
        assert!(
            matches!(
                o.result,
                SignalResult::GivenBack {
                    unknown: "unknown_signal",
                    ..
                }
            ),
            "{o:?}"
        );
        assert_eq!(o.id, Some(envelope.id));
    }
    assert!(
        matches!(
            &last.result,
            SignalResult::Dead {
                kind: DeadKind::UnknownSignal,
                ..
            }
        ),
        "{last:?}"
    );
    assert_eq!(
        summary.given_back_unknown,
        given_back.len() as u64,
        "{summary:?}"
    );
    assert_eq!(summary.dead, 1, "{summary:?}");

    let dead = engine.dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, bytes, "the bytes as sent");
    assert!(
        dead[0]
            .died_at
            .duration_since(envelope.enqueued_at)
            .unwrap_or_default()
            >= grace,
        "not before the grace"
    );
    assert!(
        dead[0]
            .reason
            .contains("within `unknown_grace` (700ms) of its send"),
        "{}",
        dead[0].reason
    );

    let text = metrics.render_counters();
    assert!(
        text.contains(&format!(
            "signalqueue_given_back_total{{queue=\"default\",unknown=\"unknown_signal\"}} {}",
            given_back.len()
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "signalqueue_dead_letters_total{signal=\"unknown\",reason=\"unknown_signal\"} 1"
        ),
        "{text}"
    );
    assert!(!text.contains("from.a.newer.release"), "{text}");
}
