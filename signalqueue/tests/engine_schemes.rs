//! Engines by scheme: an engine defined outside signalqueue registers its URL scheme with
//! `register_engine!`, and is then named in `signalqueue.toml` like the built-in ones; unknown
//! and doubly registered schemes are clear errors.

use std::sync::Arc;

use signalqueue::engine::memory::MemoryEngine;
use signalqueue::engine::{EngineOptions, SharedEngine};
use signalqueue::{Config, Runtime};

// A "toy" engine: the memory engine under a scheme of its own, as another crate would register
// a real one. It keeps what follows `toy://` as the memory queue's name.
signalqueue::register_engine! {
    schemes: ["toy"],
    form: "toy://NAME",
    open: |request| Box::pin(async move {
        let name = format!("toy-{}", request.parsed.rest);
        Ok(MemoryEngine::named(&name, request.options) as SharedEngine)
    }),
}

// Two crates claiming one scheme.
signalqueue::register_engine! {
    schemes: ["twice"],
    form: "twice://A",
    open: |r| Box::pin(async move { Ok(MemoryEngine::new(r.options) as SharedEngine) }),
}
signalqueue::register_engine! {
    schemes: ["twice"],
    form: "twice://B",
    open: |r| Box::pin(async move { Ok(MemoryEngine::new(r.options) as SharedEngine) }),
}

#[tokio::test]
async fn a_registered_scheme_opens_from_a_url_and_from_the_configuration() {
    let a = signalqueue::engine::open("toy://shared", EngineOptions::new("default"))
        .await
        .expect("a registered scheme opens");
    let b = signalqueue::engine::open("TOY://shared", EngineOptions::new("default"))
        .await
        .expect("schemes are case-insensitive");
    a.enqueue(&[signalqueue::engine::Outgoing::new(
        signalqueue::EnvelopeId::new(),
        b"x".to_vec(),
    )])
    .await
    .unwrap();
    assert_eq!(
        b.counts().await.unwrap().pending,
        1,
        "one queue behind both"
    );

    let config = Config::from_toml(
        "[queues.default]\nurl = \"toy://from-config\"\n",
        "test.toml",
    )
    .expect("the configuration accepts the registered scheme");
    let runtime = Runtime::from_config(&config)
        .await
        .expect("the runtime opens it");
    let engine = runtime.queue("default").unwrap();
    assert_eq!(engine.kind(), "memory");
    assert_eq!(engine.describe(), "memory://toy-from-config");
    assert!(!Arc::ptr_eq(engine, &a));
}

#[tokio::test]
async fn unknown_and_ambiguous_schemes_are_clear_errors() {
    let err = signalqueue::engine::open("nosuch://x", EngineOptions::new("default"))
        .await
        .expect_err("an unknown scheme");
    let text = err.to_string();
    assert!(text.contains("unknown engine `nosuch://`"), "{text}");
    // The list of what may be written includes the registered engine and the built-in ones.
    for form in [
        "`toy://NAME`",
        "`sqlite://PATH`",
        "`memory://NAME`",
        "`postgres://",
    ] {
        assert!(text.contains(form), "{form} missing from: {text}");
    }
    assert!(text.contains("register_engine!"), "{text}");

    let err = Config::from_toml("[queues.default]\nurl = \"nosuch://x\"\n", "test.toml")
        .expect_err("the configuration refuses it too");
    assert!(
        err.to_string().contains("unknown engine `nosuch://`"),
        "{err}"
    );

    let err = signalqueue::engine::open("twice://x", EngineOptions::new("default"))
        .await
        .expect_err("a scheme registered twice");
    let text = err.to_string();
    assert!(text.contains("more than one engine"), "{text}");
    assert!(
        text.contains("twice://A") && text.contains("twice://B"),
        "{text}"
    );
}
