//! Signals declared in `shop-signals`, receivers in `shop-receivers` and `audit-receivers`,
//! dispatched from this third crate: the registry sees all of them, `send_now` runs them, and
//! `send` queues envelopes a worker can read.

use std::time::{Duration, SystemTime};

use shop_signals::{Order, EMAIL, FLAKY, FORM_SUBMIT, TWO_ARGS, UNNAMED};
use signalqueue::engine::{EngineOptions, SharedEngine};
use signalqueue::{
    Codec, Envelope, Outcome, Payload, Registry, Runmode, Runtime, SendOptions, Sent,
};

// The receivers' crates are linked through the library of this package.
use signalqueue_tests as _;

fn lines_with(tag: &str) -> Vec<String> {
    shop_receivers::journal()
        .into_iter()
        .filter(|l| l.contains(tag))
        .collect()
}

async fn memory_runtime(name: &str, runmode: Runmode, codec: Codec) -> (Runtime, SharedEngine) {
    let engine =
        signalqueue::engine::open(&format!("memory://{name}"), EngineOptions::new("default"))
            .await
            .unwrap();
    let rt = Runtime::builder()
        .runmode(runmode)
        .codec(codec)
        .queue("default", engine.clone())
        .build();
    (rt, engine)
}

#[test]
fn the_registry_sees_every_crate() {
    let registry = Registry::global();
    registry.check().unwrap();
    let names: Vec<&str> = registry.signals().map(|s| s.name).collect();
    for expected in [
        "shop.form_submit",
        "shop.two_args",
        "shop.flaky",
        "shop.email",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // Without `name = ...` the wire name is the static's Rust path.
    assert_eq!(shop_signals::Unnamed::NAME, "shop_signals::UNNAMED");
    assert!(names.contains(&"shop_signals::UNNAMED"));

    let receivers: Vec<&str> = registry
        .receivers("shop.form_submit")
        .iter()
        .map(|r| r.name)
        .collect();
    // Both crates' receivers, in name order.
    assert_eq!(
        receivers,
        [
            "audit_receivers::audit_order",
            "shop_receivers::only_from_orders",
            "shop_receivers::update_event_log"
        ]
    );
    let flaky = registry.receivers("shop.flaky");
    assert_eq!(flaky.len(), 3);
    assert_eq!(flaky[2].name, "shop_receivers::flaky");
    assert_eq!(flaky[2].retries, Some(2));
    let def = registry.signal("shop.two_args").unwrap();
    assert_eq!(def.queue, "default");
    assert_eq!(
        def.args.iter().map(|a| (a.name, a.ty)).collect::<Vec<_>>(),
        [("a", "u32"), ("b", "String")]
    );
    // The summary is the doc's first paragraph, as rustdoc's.
    assert_eq!(def.doc, "Two arguments, with the wire name pinned.");
    assert_eq!(registry.signal("shop.email").unwrap().queue, "emails");
    assert_eq!(
        registry.signal("shop.form_submit").unwrap().doc,
        "Sent when the checkout form is submitted."
    );
}

#[tokio::test]
async fn send_now_runs_every_receiver_of_every_crate_in_order() {
    let report = FORM_SUBMIT
        .send_now(Order {
            id: 1001,
            total_cents: 5,
        })
        .await;
    assert!(report.is_success(), "{report:?}");
    let ran: Vec<&str> = report.outcomes.iter().map(|o| o.receiver).collect();
    // `only_from_orders` filters on a sender this send does not have.
    assert_eq!(
        ran,
        [
            "audit_receivers::audit_order",
            "shop_receivers::update_event_log"
        ]
    );
    let lines = lines_with(" 1001");
    assert!(
        lines.contains(&"update_event_log 1001".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"audit_order 1001".to_string()), "{lines:?}");
}

#[tokio::test]
async fn a_sender_reaches_the_receivers_that_filter_on_it() {
    let report = FORM_SUBMIT
        .send_now_with(
            SendOptions::new().sender("shop.Order"),
            Order {
                id: 1002,
                total_cents: 5,
            },
        )
        .await;
    assert_eq!(report.outcomes.len(), 3, "{report:?}");
    assert_eq!(
        lines_with("only_from_orders 1002"),
        ["only_from_orders 1002 shop.Order"]
    );
}

#[tokio::test]
async fn failing_and_panicking_receivers_do_not_hide_the_others() {
    for (key, mode) in [("k-fail", "fail"), ("k-panic", "panic")] {
        let report = FLAKY.send_now(key.into(), mode.into()).await;
        assert!(!report.is_success());
        assert_eq!(report.outcomes.len(), 3, "{report:?}");
        // The audits sort first and succeed; flaky fails or panics, and is reported.
        assert!(report.outcomes[0].outcome.is_success());
        assert!(report.outcomes[1].outcome.is_success());
        match (&report.outcomes[2].outcome, mode) {
            (Outcome::Failed(e), "fail") => assert!(e.to_string().contains("failed as asked")),
            (Outcome::Panicked(m), "panic") => {
                assert!(m.contains("panicked as asked"), "{m}")
            }
            (other, _) => panic!("unexpected outcome for {mode}: {other:?}"),
        }
        assert_eq!(report.failures().count(), 1);
    }
}

#[tokio::test]
async fn receivers_after_a_panicking_one_still_run() {
    let report = FLAKY.send_now("k-order".into(), "panic-first".into()).await;
    let names: Vec<&str> = report.outcomes.iter().map(|o| o.receiver).collect();
    assert_eq!(
        names,
        [
            "audit_receivers::a_panicking_audit",
            "audit_receivers::audit_flaky",
            "shop_receivers::flaky"
        ]
    );
    assert!(
        matches!(&report.outcomes[0].outcome, Outcome::Panicked(m) if m.contains("panicked first"))
    );
    assert!(report.outcomes[1].outcome.is_success());
    assert!(report.outcomes[2].outcome.is_success());
    assert_eq!(lines_with("audit_flaky k-order").len(), 1);
    assert_eq!(lines_with("flaky k-order attempt 1").len(), 1);
}

#[tokio::test]
async fn plain_fn_receivers_run_on_the_blocking_pool() {
    let report = TWO_ARGS.send_now(41, "blocking".into()).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(lines_with("on_two_blocking 41 blocking").len(), 1);
}

#[tokio::test]
async fn async_send_queues_an_envelope_with_everything_a_worker_needs() {
    for codec in [Codec::Bincode, Codec::Json] {
        let (rt, engine) =
            memory_runtime(&format!("dispatch-env-{codec:?}"), Runmode::Async, codec).await;
        let sent = rt
            .scope(TWO_ARGS.send_with(SendOptions::new().sender("shop.Cart"), 7, "x".into()))
            .await
            .unwrap();
        let Sent::Queued(id) = sent else {
            panic!("async runmode must queue, got {sent:?}")
        };
        let claimed = engine
            .claim(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let env = Envelope::decode(&claimed[0].payload).unwrap();
        assert_eq!(env.id, id);
        assert_eq!(env.signal, "shop.two_args");
        assert_eq!(env.sender.as_deref(), Some("shop.Cart"));
        assert_eq!(env.attempt, 1);
        assert_eq!(env.owed, None);
        assert_eq!(env.args.codec(), codec);
        let def = Registry::global().signal(&env.signal).unwrap();
        let json = (def.to_json)(&env.args).unwrap();
        assert_eq!(json, serde_json::json!({"a": 7, "b": "x"}));
        if let Payload::Json(v) = &env.args {
            assert_eq!(v["b"], "x");
        }
        // The decoded arguments are what the receivers get.
        assert!((def.decode)(&env.args).is_ok());
    }
}

#[tokio::test]
async fn send_many_queues_a_batch_in_order() {
    let (rt, engine) = memory_runtime("dispatch-many", Runmode::Async, Codec::Bincode).await;
    let batch = (0..100).map(|a| shop_signals::TwoArgsArgs {
        a,
        b: format!("n{a}"),
    });
    let ids = rt.scope(TWO_ARGS.send_many(batch)).await.unwrap();
    assert_eq!(ids.len(), 100);
    let claimed = engine
        .claim(1000, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    let got: Vec<_> = claimed
        .iter()
        .map(|c| Envelope::decode(&c.payload).unwrap().id)
        .collect();
    assert_eq!(got, ids);
}

#[tokio::test]
async fn sync_runmode_runs_receivers_inline_and_can_be_overridden_per_call() {
    let (rt, engine) = memory_runtime("dispatch-sync", Runmode::Sync, Codec::Bincode).await;
    let sent = rt.scope(UNNAMED.send(77)).await.unwrap();
    match sent {
        Sent::Ran(report) => assert_eq!(report.outcomes.len(), 1),
        other => panic!("sync runmode must run inline, got {other:?}"),
    }
    assert_eq!(lines_with("on_unnamed 77").len(), 1);
    assert_eq!(engine.counts().await.unwrap().pending, 0);

    // Per call: queue even though the runtime is sync.
    let sent = rt
        .scope(UNNAMED.send_with(SendOptions::new().runmode(Runmode::Async), 78))
        .await
        .unwrap();
    assert!(matches!(sent, Sent::Queued(_)));
    assert_eq!(engine.counts().await.unwrap().pending, 1);
    assert!(lines_with("on_unnamed 78").is_empty());
}

/// A signal whose argument type does not survive bincode: `serde_json::Value` encodes, but
/// decoding it needs `deserialize_any`, which bincode does not have.
#[signalqueue::async_signal(providing_args = [doc: serde_json::Value], name = "dispatch.untyped")]
pub static UNTYPED: Untyped;

#[tokio::test]
async fn sync_runmode_failures_are_errors_and_arguments_go_through_the_codec() {
    let (rt, engine) = memory_runtime("dispatch-sync-errors", Runmode::Sync, Codec::Bincode).await;
    // A failing receiver: an `Err` that names it and says why, with the report.
    let err = rt
        .scope(FLAKY.send("sync-a".into(), "fail".into()))
        .await
        .expect_err("a failed receiver is an error in the sync runmode");
    let text = err.to_string();
    assert!(text.contains("`shop.flaky`"), "{text}");
    assert!(text.contains("flaky sync-a failed as asked"), "{text}");
    match &err {
        signalqueue::Error::ReceiversFailed { reports, .. } => {
            assert_eq!(reports.len(), 1);
            assert_eq!(reports[0].failures().count(), 1);
        }
        other => panic!("{other:?}"),
    }
    // A panicking one too.
    let err = rt
        .scope(FLAKY.send("sync-b".into(), "panic".into()))
        .await
        .expect_err("a panic is an error too");
    assert!(err.to_string().contains("panicked"), "{err}");

    // `send_many` respects the runmode: every signal's receivers run here, and the failures
    // of the batch are in one error.
    let ids = rt
        .scope(FLAKY.send_many([
            shop_signals::FlakyArgs {
                key: "sync-c".into(),
                mode: "ok".into(),
            },
            shop_signals::FlakyArgs {
                key: "sync-d".into(),
                mode: "ok".into(),
            },
        ]))
        .await
        .expect("a batch that succeeds");
    assert_eq!(ids.len(), 2);
    assert_eq!(lines_with("flaky sync-c attempt 1").len(), 1);
    assert_eq!(lines_with("flaky sync-d attempt 1").len(), 1);
    let err = rt
        .scope(FLAKY.send_many([
            shop_signals::FlakyArgs {
                key: "sync-e".into(),
                mode: "fail".into(),
            },
            shop_signals::FlakyArgs {
                key: "sync-f".into(),
                mode: "ok".into(),
            },
            shop_signals::FlakyArgs {
                key: "sync-g".into(),
                mode: "fail".into(),
            },
        ]))
        .await
        .expect_err("a batch with failures");
    match &err {
        signalqueue::Error::ReceiversFailed { reports, .. } => assert_eq!(reports.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        lines_with("flaky sync-f attempt 1").len(),
        1,
        "the rest ran"
    );
    assert_eq!(
        engine.counts().await.unwrap().pending,
        0,
        "nothing was queued"
    );

    // Arguments go through the codec, as on their way to a worker: one that would not decode
    // there fails here, in the test, naming the codec.
    let err = rt
        .scope(UNTYPED.send(serde_json::json!({"any": "shape"})))
        .await
        .expect_err("bincode cannot decode a serde_json::Value");
    assert!(
        matches!(
            err,
            signalqueue::Error::RoundTrip {
                codec: "bincode",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("a worker could not decode them"),
        "{err}"
    );
    // With JSON it round-trips.
    let (json_rt, _) = memory_runtime("dispatch-sync-json", Runmode::Sync, Codec::Json).await;
    json_rt
        .scope(UNTYPED.send(serde_json::json!({"any": "shape"})))
        .await
        .expect("JSON round-trips a Value");
}

#[tokio::test]
async fn delayed_sends_carry_their_due_time_to_the_engine_and_the_envelope() {
    for codec in [Codec::Bincode, Codec::Json] {
        let (rt, engine) =
            memory_runtime(&format!("dispatch-delay-{codec:?}"), Runmode::Async, codec).await;
        let before = SystemTime::now();
        let delay = Duration::from_secs(3600);
        let _ = rt
            .scope(TWO_ARGS.send_with(SendOptions::new().delay(delay), 1, "later".into()))
            .await
            .unwrap();
        let when = SystemTime::now() + Duration::from_secs(7200);
        let _ = rt
            .scope(TWO_ARGS.send_with(SendOptions::new().at(when), 2, "at".into()))
            .await
            .unwrap();
        let batch = (3..5).map(|a| shop_signals::TwoArgsArgs {
            a,
            b: "batch".into(),
        });
        let ids = rt
            .scope(TWO_ARGS.send_many_with(SendOptions::new().delay(delay), batch))
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        // A time in the past means now.
        let past = SystemTime::now() - Duration::from_secs(60);
        let _ = rt
            .scope(TWO_ARGS.send_with(SendOptions::new().at(past), 5, "past".into()))
            .await
            .unwrap();

        let counts = engine.counts().await.unwrap();
        assert_eq!((counts.pending, counts.scheduled), (1, 4), "{counts:?}");
        let claimed = engine
            .claim(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let env = Envelope::decode(&claimed[0].payload).unwrap();
        assert_eq!(
            env.scheduled_for.map(signalqueue::engine::unix_ms),
            Some(signalqueue::engine::unix_ms(past))
        );

        let waiting = engine.pending(10).await.unwrap();
        let mut due: Vec<u64> = waiting
            .iter()
            .map(|e| Envelope::decode(&e.payload).unwrap().scheduled_for.unwrap())
            .map(signalqueue::engine::unix_ms)
            .collect();
        due.sort();
        assert_eq!(due.len(), 4);
        // The envelope keeps milliseconds.
        let ms = signalqueue::engine::unix_ms;
        assert!(due[0] >= ms(before + delay) && due[0] <= ms(SystemTime::now() + delay));
        assert!(due[0] <= due[1], "the batch was sent after the first");
        assert_eq!(due[1], due[2], "a batch shares one due time");
        assert_eq!(due[3], ms(when));
        engine.purge_pending().await.unwrap();
    }
}

#[tokio::test]
async fn a_delay_in_the_sync_runmode_is_refused_and_runs_nothing() {
    let (rt, engine) = memory_runtime("dispatch-delay-sync", Runmode::Sync, Codec::Bincode).await;
    let err = rt
        .scope(UNNAMED.send_with(SendOptions::new().delay(Duration::from_secs(5)), 91))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, signalqueue::Error::DelayedInSync { .. }),
        "{err:?}"
    );
    assert!(message.contains("needs the async runmode"), "{message}");
    assert!(lines_with("on_unnamed 91").is_empty(), "nothing ran");
    assert_eq!(engine.counts().await.unwrap(), Default::default());
    // A time already past is now: it runs here as any sync send.
    let past = SystemTime::now() - Duration::from_secs(1);
    let sent = rt
        .scope(UNNAMED.send_with(SendOptions::new().at(past), 92))
        .await
        .unwrap();
    assert!(matches!(sent, Sent::Ran(_)));
    assert_eq!(lines_with("on_unnamed 92").len(), 1);
    // Per call, the async runmode queues it for later.
    let sent = rt
        .scope(
            UNNAMED.send_with(
                SendOptions::new()
                    .runmode(Runmode::Async)
                    .delay(Duration::from_secs(5)),
                93,
            ),
        )
        .await
        .unwrap();
    assert!(matches!(sent, Sent::Queued(_)));
    assert_eq!(engine.counts().await.unwrap().scheduled, 1);
}

#[tokio::test]
async fn a_signal_for_an_unconfigured_queue_is_a_clear_error() {
    let (rt, _engine) = memory_runtime("dispatch-noqueue", Runmode::Async, Codec::Bincode).await;
    let err = rt.scope(EMAIL.send("a@b.c".into())).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("queue `emails`"), "{msg}");
    assert!(msg.contains("[queues.emails]"), "{msg}");
}

#[test]
fn send_blocking_refuses_inside_an_async_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = rt
        .block_on(async { TWO_ARGS.send_blocking(1, "x".into()) })
        .unwrap_err();
    assert!(err.to_string().contains("inside an async runtime"), "{err}");
}

#[tokio::test]
async fn the_hygiene_crates_receivers_run() {
    assert_eq!(hygiene::run_all().await, 3);
}

#[test]
fn the_hygiene_crate_builds_deliveries_and_configurations_from_outside() {
    assert_eq!(hygiene::call_a_receiver_directly(), 2);
    let config = hygiene::configure();
    assert_eq!(config.runmode, signalqueue::Runmode::Sync);
    assert_eq!(config.worker.retries, 3);
    assert_eq!(config.queues["default"].url, "memory://hygiene");
    assert_eq!(config.queues["default"].lease, Duration::from_secs(10));
    assert!(!config.outbox.relay);
}

#[test]
fn duplicate_wire_names_and_orphan_receivers_are_reported() {
    static FIRST: signalqueue::SignalDef = signalqueue::SignalDef {
        name: "dup.name",
        rust_path: "a::FIRST",
        location: "a.rs:1",
        queue: "default",
        args: &[],
        doc: "",
        decode: |_| unreachable!(),
        to_json: |_| unreachable!(),
        from_json: |_, _| unreachable!(),
        resolve: None,
        on_missing: signalqueue::OnMissing::Deliver,
        schedule: None,
    };
    static SECOND: signalqueue::SignalDef = signalqueue::SignalDef {
        rust_path: "b::SECOND",
        location: "b.rs:9",
        ..FIRST
    };
    let registry = Registry::build(
        [&FIRST, &SECOND],
        Registry::global()
            .receivers("shop.two_args")
            .iter()
            .copied(),
    );
    let problems = registry.problems().join("\n");
    assert!(
        problems.contains("two signals share the wire name `dup.name`"),
        "{problems}"
    );
    assert!(
        problems.contains("a::FIRST") && problems.contains("b::SECOND"),
        "{problems}"
    );
    assert!(
        problems.contains("listens to `shop.two_args`, which is not registered"),
        "{problems}"
    );
    assert!(registry.check().is_err());
}

#[tokio::test]
async fn a_receiver_past_its_time_limit_is_abandoned_and_reported() {
    let report = shop_signals::SLOW.send_now("t-limit".into(), 30_000).await;
    assert_eq!(report.outcomes.len(), 1);
    match &report.outcomes[0].outcome {
        Outcome::Failed(e) => {
            let msg = e.to_string();
            assert!(msg.contains("timed out after 300ms"), "{msg}");
            assert!(msg.contains("timeout_ms"), "{msg}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(lines_with("slow_with_limit t-limit started").len(), 1);
    assert!(lines_with("slow_with_limit t-limit finished").is_empty());

    // Within the limit it succeeds.
    let report = shop_signals::SLOW.send_now("t-quick".into(), 1).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(lines_with("slow_with_limit t-quick finished").len(), 1);
}
