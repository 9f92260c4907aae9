//! The warning for an acknowledgement the engine refused names why the lease was gone: lost by
//! the engine while it still had time to run (what a failover to a replica that had not
//! received the claim does), not "the worker stalled".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use examples::TWO_ARGS;
use signalqueue::engine::{
    ClaimToken, Claimed, Counts, DeadEntry, EngineError, EngineOptions, Entry, Outgoing,
    SharedEngine,
};
use signalqueue::Runtime;
use signalqueue_worker::{Halt, Worker};

/// A memory engine that forgets the leases of the first acknowledgement just before it, as a
/// primary that fails over to a replica without the claim does.
struct ForgetsLeases {
    inner: SharedEngine,
    forgot: AtomicBool,
}

#[async_trait::async_trait]
impl signalqueue::engine::Engine for ForgetsLeases {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn ping(&self) -> Result<(), EngineError> {
        self.inner.ping().await
    }
    async fn enqueue(&self, batch: &[Outgoing]) -> Result<(), EngineError> {
        self.inner.enqueue(batch).await
    }
    async fn claim(
        &self,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Claimed>, EngineError> {
        self.inner.claim(max, lease, wait).await
    }
    async fn renew(
        &self,
        tokens: &[ClaimToken],
        lease: Duration,
    ) -> Result<Vec<bool>, EngineError> {
        self.inner.renew(tokens, lease).await
    }
    async fn ack(&self, tokens: &[ClaimToken]) -> Result<Vec<bool>, EngineError> {
        if !self.forgot.swap(true, Ordering::SeqCst) {
            // Given back: the claim's fence no longer holds, as after a failover.
            self.inner.release(tokens).await?;
        }
        self.inner.ack(tokens).await
    }
    async fn retry(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        not_before: SystemTime,
    ) -> Result<bool, EngineError> {
        self.inner.retry(token, payload, not_before).await
    }
    async fn dead_letter(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        reason: &str,
    ) -> Result<bool, EngineError> {
        self.inner.dead_letter(token, payload, reason).await
    }
    async fn split(
        &self,
        token: &ClaimToken,
        entries: &[Outgoing],
        dead: &[signalqueue::engine::DeadLetter],
    ) -> Result<bool, EngineError> {
        self.inner.split(token, entries, dead).await
    }
    async fn release(&self, tokens: &[ClaimToken]) -> Result<(), EngineError> {
        self.inner.release(tokens).await
    }
    async fn counts(&self) -> Result<Counts, EngineError> {
        self.inner.counts().await
    }
    async fn pending(&self, limit: usize) -> Result<Vec<Entry>, EngineError> {
        self.inner.pending(limit).await
    }
    async fn dead(&self, limit: usize) -> Result<Vec<DeadEntry>, EngineError> {
        self.inner.dead(limit).await
    }
    async fn purge_pending(&self) -> Result<u64, EngineError> {
        self.inner.purge_pending().await
    }
    async fn purge_dead(&self) -> Result<u64, EngineError> {
        self.inner.purge_dead().await
    }
    async fn replay_dead(&self, keys: Option<&[String]>) -> Result<u64, EngineError> {
        self.inner.replay_dead(keys).await
    }
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
async fn an_ack_refused_because_the_engine_lost_the_lease_says_so() {
    let inner = signalqueue::engine::open("memory://lease-loss", EngineOptions::new("default"))
        .await
        .unwrap();
    let engine = Arc::new(ForgetsLeases {
        inner,
        forgot: AtomicBool::new(false),
    });
    let runtime = Runtime::builder().queue("default", engine.clone()).build();
    let _ = runtime.scope(TWO_ARGS.send(1, "x".into())).await.unwrap();

    let logs = LogBuffer::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    // The only test of this binary, on a one-thread runtime: every event is logged here.
    let _logging = tracing::subscriber::set_default(subscriber);
    let summary = Worker::builder()
        .runtime(runtime)
        .lease(Duration::from_secs(30))
        .claim_wait(Duration::from_millis(50))
        .halt(Halt::WhenExhausted)
        .build()
        .run()
        .await
        .unwrap();
    assert!(engine.forgot.load(Ordering::SeqCst), "never acknowledged");
    // Released, the entry came back and was handled again, this time acknowledged.
    assert_eq!(summary.handled, 1, "{summary:?}");
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("acknowledgement refused: the engine lost the lease before it ran out"),
        "{logs}"
    );
    assert!(!logs.contains("stalled"), "{logs}");
}
