//! The warning for an acknowledgement the engine refused names why the lease was gone: lost by
//! the engine while it still had time to run (what a failover to a replica that had not
//! received the claim does), not "the worker stalled".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use examples::TWO_ARGS;
use signalqueue::engine::{ClaimToken, EngineError, EngineOptions, SharedEngine};
use signalqueue::Runtime;
use signalqueue_runner::{Halt, Worker};

#[path = "support/hooked.rs"]
mod hooked;
use hooked::{Hooked, Hooks};

/// Forgets the leases of the first acknowledgement just before it, as a primary that fails
/// over to a replica without the claim does.
struct ForgetsLeases {
    forgot: AtomicBool,
}

#[async_trait::async_trait]
impl Hooks for ForgetsLeases {
    async fn ack(
        &self,
        inner: &SharedEngine,
        tokens: &[ClaimToken],
    ) -> Result<Vec<bool>, EngineError> {
        if !self.forgot.swap(true, Ordering::SeqCst) {
            // Given back: the claim's fence no longer holds, as after a failover.
            inner.release(tokens).await?;
        }
        inner.ack(tokens).await
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
    let engine = Arc::new(Hooked {
        inner,
        hooks: ForgetsLeases {
            forgot: AtomicBool::new(false),
        },
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
    assert!(
        engine.hooks.forgot.load(Ordering::SeqCst),
        "never acknowledged"
    );
    // Released, the entry came back and was handled again, this time acknowledged.
    assert_eq!(summary.handled, 1, "{summary:?}");
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("acknowledgement refused: the engine lost the lease before it ran out"),
        "{logs}"
    );
    assert!(!logs.contains("stalled"), "{logs}");
}
