//! The status page in a real browser: headless Chromium, driven over the DevTools protocol on
//! loopback. It checks that the page loads, shows a queue's counts as the engine holds them,
//! and follows the queue live, without a reload, as signals arrive.
//!
//! Run with `cargo test -p signalqueue-worker --test admin_browser`. It needs
//! `/usr/bin/chromium` (Debian: `apt-get install -y chromium`). Without it the test is
//! skipped with a message, unless `SIGNALQUEUE_REQUIRE_BROWSER=1` (set it in CI) makes that a
//! failure.

mod browser;

use std::sync::Arc;
use std::time::Duration;

use browser::{Browser, Cdp, EVENTUALLY};
use serde_json::json;
use signalqueue::engine::memory::MemoryEngine;
use signalqueue::engine::{EngineOptions, SharedEngine};
use signalqueue::Runtime;
use signalqueue_runner::http::{serve, AdminState};
use signalqueue_runner::metrics::{Metrics, RunResult};
use tokio::net::TcpListener;

/// A test signal, registered like any application's.
#[signalqueue::async_signal(providing_args = [n: u64], name = "admin_browser.tick")]
pub static TICK: Tick;

#[signalqueue::receiver(TICK, name = "admin_browser.count")]
async fn count(n: u64) {
    let _ = n;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_shows_counts_and_follows_the_queue_live() {
    if !browser::chromium_available("the status page") {
        return;
    }

    // A worker's admin server over a queue holding two signals.
    let engine: SharedEngine = MemoryEngine::new(EngineOptions::new("default"));
    let runtime = Runtime::builder().queue("default", engine.clone()).build();
    let send = |n: u64| {
        let runtime = runtime.clone();
        async move {
            let _ = runtime.scope(TICK.send(n)).await.unwrap();
        }
    };
    send(1).await;
    send(2).await;
    let metrics = Arc::new(Metrics::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        AdminState {
            runtime: runtime.clone(),
            queues: vec!["default".into()],
            metrics: metrics.clone(),
            token: None,
            hosts: Vec::new(),
        },
        async {
            let _ = stopped.await;
        },
    ));

    let browser = Browser::launch().await;
    let mut cdp = Cdp::connect(&browser.ws_url).await;
    let session = cdp.open_tab(&format!("http://{addr}/status")).await;

    let pending = r#"document.querySelector('[data-queue="default"][data-count="pending"]')?.textContent ?? null"#;
    let rows = r#"document.querySelectorAll('table[data-queue="default"][data-list="pending"] tbody tr[data-key]').length"#;

    // Loaded, with the count the engine holds.
    cdp.eval_until(&session, pending, &json!("2"), "2 pending on load")
        .await;
    assert_eq!(engine.counts().await.unwrap().pending, 2);
    cdp.eval_until(&session, rows, &json!(2), "2 pending rows")
        .await;
    assert_eq!(
        cdp.eval(
            &session,
            r#"document.querySelector('tr[data-signal="admin_browser.tick"]') !== null"#
        )
        .await,
        json!(true),
        "the registry lists the test signal"
    );
    // A reload would lose this.
    cdp.eval(&session, "window.__sqNoReload = 'kept'; true")
        .await;
    cdp.eval_until(
        &session,
        "document.getElementById('live').dataset.live",
        &json!("live"),
        "the live stream connected",
    )
    .await;

    // More signals arrive: the page follows without a reload, counts and rows.
    for n in 3..=5 {
        send(n).await;
    }
    cdp.eval_until(
        &session,
        pending,
        &json!("5"),
        "5 pending after sending 3 more",
    )
    .await;
    cdp.eval_until(&session, rows, &json!(5), "5 pending rows")
        .await;
    assert_eq!(
        cdp.eval(&session, "window.__sqNoReload ?? null").await,
        json!("kept"),
        "the page was not reloaded"
    );

    // And a signal leaving the queue (claimed, then dead-lettered) shows up too.
    let claimed = engine
        .claim(1, Duration::from_secs(60), Duration::ZERO)
        .await
        .unwrap();
    engine
        .dead_letter(
            &claimed[0].token,
            &claimed[0].payload,
            "receiver failed: boom",
        )
        .await
        .unwrap();
    cdp.eval_until(
        &session,
        r#"document.querySelector('[data-queue="default"][data-count="dead"]').textContent"#,
        &json!("1"),
        "1 dead",
    )
    .await;
    cdp.eval_until(&session, pending, &json!("4"), "4 pending")
        .await;
    cdp.eval_until(
        &session,
        r#"document.querySelector('table[data-list="dead"] td.reason')?.textContent ?? null"#,
        &json!("receiver failed: boom"),
        "the dead letter's reason in the dead list",
    )
    .await;

    // The receivers table and the chart follow too (redrawn by the server every 5 s).
    let failed_cell = r#"document.querySelector('tr[data-receiver="admin_browser.count"] td[data-field="failed"]')?.textContent ?? null"#;
    cdp.eval_until(&session, failed_cell, &json!("0"), "the receiver listed")
        .await;
    metrics.record_run(
        "admin_browser.tick",
        "admin_browser.count",
        RunResult::Failed,
        Duration::from_millis(12),
        Some("boom"),
    );
    metrics.record_handled("admin_browser.tick");
    cdp.eval_until(&session, failed_cell, &json!("1"), "its failure shown")
        .await;
    cdp.eval_until(
        &session,
        r#"document.querySelectorAll('#chart svg.chart polyline').length"#,
        &json!(2),
        "the chart drawn",
    )
    .await;
    cdp.screenshot(&session, "status-page.png").await;

    let _ = cdp.call(None, "Browser.close", json!({})).await;
    drop(cdp);
    browser.stop().await;
    let _ = stop.send(());
    tokio::time::timeout(EVENTUALLY, server)
        .await
        .expect("the admin server stops")
        .unwrap()
        .unwrap();
}
