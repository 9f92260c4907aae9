//! `signalqueue::install`: an app that builds its runtime in code makes it the process's, and
//! every `send` uses it, in spawned tasks and on other threads too, never falling back to a
//! configuration file. One test: the global runtime is per process.

use std::sync::Arc;

use signalqueue::engine::memory::MemoryEngine;
use signalqueue::engine::{EngineOptions, SharedEngine};
use signalqueue::{async_signal, Error, Runtime};

/// A signal for the test.
#[async_signal(providing_args = [n: u32])]
pub static PINGED: Pinged;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_runtime_is_used_everywhere_and_installed_once() {
    // A configuration that would fail to load: if anything fell back to it, a send would fail.
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("signalqueue.toml");
    std::fs::write(&bogus, "this is = = not toml").unwrap();
    // Safe here: this test binary runs one test, and sets the variable before any thread
    // reads the environment.
    std::env::set_var("SIGNALQUEUE_CONFIG", &bogus);
    assert!(
        signalqueue::Config::load().is_err(),
        "the bogus configuration must not load"
    );

    let engine: SharedEngine = MemoryEngine::new(EngineOptions::new("default"));
    let runtime = Runtime::builder().queue("default", engine.clone()).build();
    signalqueue::install(runtime).expect("the first install");

    // In a spawned task.
    tokio::spawn(async { PINGED.send(1).await })
        .await
        .unwrap()
        .expect("a send in a spawned task");
    // On another thread with a runtime of its own.
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(PINGED.send(2))
    })
    .join()
    .unwrap()
    .expect("a send on another thread");
    assert_eq!(engine.counts().await.unwrap().pending, 2);

    // `init` returns the installed runtime rather than loading the file.
    let current = signalqueue::init()
        .await
        .expect("init returns the installed runtime");
    assert!(Arc::ptr_eq(current.queue("default").unwrap(), &engine));

    // A second install is refused, saying what installed the first.
    let again = Runtime::builder()
        .queue("default", MemoryEngine::new(EngineOptions::new("default")))
        .build();
    let err = signalqueue::install(again).expect_err("a second install");
    assert!(matches!(err, Error::AlreadyInstalled { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("an earlier `signalqueue::install`"), "{text}");
    assert!(text.contains("once, at start-up"), "{text}");
    PINGED.send(3).await.unwrap();
    assert_eq!(
        engine.counts().await.unwrap().pending,
        3,
        "still the first runtime"
    );
}
