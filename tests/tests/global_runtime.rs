//! The process-wide runtime: built from the environment by `init()` (or lazily by the first
//! send), used by `send_blocking` from plain threads. One test function, because the
//! environment and the global runtime belong to the whole process.

use std::time::Duration;

use shop_signals::TWO_ARGS;
use signalqueue::engine::EngineOptions;
use signalqueue::{Envelope, Sent};

use signalqueue_tests as _;

#[test]
fn the_global_runtime_comes_from_the_environment() {
    // A config file in the working directory would take part; make sure none does.
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();

    // A bad runmode fails `init`, naming the variable and what is allowed...
    std::env::set_var("SIGNALQUEUE_RUNMODE", "SQ_TURBO");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt.block_on(signalqueue::init()).unwrap_err().to_string();
    assert!(err.contains("SIGNALQUEUE_RUNMODE"), "{err}");
    assert!(err.contains("unknown runmode `SQ_TURBO`"), "{err}");
    assert!(err.contains("SQ_ASYNC_REQUEST"), "{err}");
    // ...and the first send reports the same error rather than dropping the signal.
    let err = TWO_ARGS
        .send_blocking(1, "x".into())
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown runmode `SQ_TURBO`"), "{err}");

    // Fixed, the next attempt succeeds: a failed initialisation is not cached.
    std::env::set_var("SIGNALQUEUE_RUNMODE", "SQ_ASYNC_REQUEST");
    std::env::set_var("SIGNALQUEUE_URL", "memory://global-runtime-test");
    let sent = TWO_ARGS
        .send_blocking(5, "from a plain thread".into())
        .unwrap();
    let Sent::Queued(id) = sent else {
        panic!("async runmode must queue: {sent:?}")
    };

    // The same process-wide memory queue, opened again, holds the envelope.
    rt.block_on(async {
        let engine = signalqueue::engine::open(
            "memory://global-runtime-test",
            EngineOptions::new("default"),
        )
        .await
        .unwrap();
        let claimed = engine
            .claim(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let env = Envelope::decode(&claimed[0].payload).unwrap();
        assert_eq!(env.id, id);
        assert_eq!(env.signal, "shop.two_args");
        // And `init` now returns the runtime that is installed.
        let runtime = signalqueue::init().await.unwrap();
        assert_eq!(runtime.runmode(), signalqueue::Runmode::Async);
        assert_eq!(
            runtime.queue("default").unwrap().describe(),
            "memory://global-runtime-test"
        );
    });
}
