//! The demo app as a newcomer uses it, in a real browser: the `demo_web` example and the
//! `signalqueue-worker` binary run as the README says (no configuration: the embedded queue
//! and the demo database in one directory), headless Chromium submits the checkout form, the
//! page answers, and the event log page, open in another tab, shows the worker's line appear
//! without a reload.
//!
//! Run with `cargo test -p signalqueue-worker --test demo_browser`. Needs `/usr/bin/chromium`;
//! without it the test is skipped with a message, unless `SIGNALQUEUE_REQUIRE_BROWSER=1`. Set
//! `SQ_SCREENSHOT_DIR` to keep screenshots of the pages.

mod browser;
mod support;

use std::time::{Duration, Instant};

use browser::{Browser, Cdp};
use serde_json::{json, Value};
use support::Sandbox;

const WORKER: &str = env!("CARGO_BIN_EXE_signalqueue-worker");

/// Opens a tab on `url`; returns its session.
async fn open_tab(cdp: &mut Cdp, url: &str) -> String {
    let target = cdp
        .call(None, "Target.createTarget", json!({ "url": url }))
        .await;
    let attached = cdp
        .call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        )
        .await;
    attached["sessionId"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_order_reaches_the_event_log_through_the_worker() {
    if !browser::chromium_available("the demo app") {
        return;
    }
    let web_bin = support::example("demo_web");
    // No signalqueue.toml: the README's setup, every file in the sandbox.
    let sb = Sandbox::new(None);
    let web = sb.start(&web_bin, &["127.0.0.1:0"]);
    web.wait_stderr("demo_web: listening on http://");
    let base = web
        .stderr_so_far()
        .lines()
        .find_map(|l| l.strip_prefix("demo_web: listening on "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the address")
        .trim_end_matches('/')
        .to_string();
    // A free port for the worker's admin server, so the test can open its console.
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let worker = sb.start(WORKER, &["run", &admin.to_string()]);

    let chromium = Browser::launch().await;
    let mut cdp = Cdp::connect(&chromium.ws_url).await;

    // The event log first, empty: what appears later appears live.
    let log = open_tab(&mut cdp, &format!("{base}/events")).await;
    cdp.eval_until(
        &log,
        "document.getElementById('empty')?.hidden ?? null",
        &json!(false),
        "the empty event log",
    )
    .await;
    cdp.eval(&log, "window.__noReload = 'kept'; true").await;

    // The checkout form: fill it in and submit, as a person would.
    let shop = open_tab(&mut cdp, &format!("{base}/")).await;
    cdp.eval_until(
        &shop,
        "document.querySelector('#checkout button') !== null",
        &json!(true),
        "the checkout form",
    )
    .await;
    cdp.eval(
        &shop,
        r#"(() => {
            const f = document.getElementById('checkout');
            f.customer.value = 'Ada Lovelace';
            f.item.value = 'Gadget';
            f.quantity.value = '2';
            f.querySelector('button').click();
            return true;
        })()"#,
    )
    .await;
    let submitted = Instant::now();
    cdp.eval_until(
        &shop,
        "document.getElementById('placed')?.dataset.order ?? null",
        &json!("1"),
        "the order list saying order #1 is placed",
    )
    .await;
    let seen_after = submitted.elapsed();
    // The browser's own measure: from the form's submission to the last byte of the page
    // it was redirected to.
    let navigation = cdp
        .eval(
            &shop,
            "Math.round(performance.getEntriesByType('navigation')[0].responseEnd)",
        )
        .await;
    let log_had_it = cdp
        .eval(
            &log,
            "document.querySelector('#events li[data-order=\"1\"]') !== null",
        )
        .await;
    eprintln!(
        "demo: the order page came back {navigation} ms after submitting (seen by the test after \
         {seen_after:?}); the event log had the order then: {log_had_it}"
    );
    assert_eq!(
        cdp.eval(
            &shop,
            "document.querySelector('#orders tr[data-order=\"1\"]').textContent"
        )
        .await,
        json!("1Ada Lovelace2 × Gadget84.00cancel")
    );
    cdp.screenshot(&shop, "demo-orders.png").await;

    // The worker loads the order, aggregates slowly, and writes the line; the open event log
    // page shows it without being reloaded.
    let line = "document.querySelector('#events li[data-order=\"1\"]')?.textContent ?? null";
    let deadline = Instant::now() + Duration::from_secs(120);
    let text = loop {
        let v = cdp.eval(&log, line).await;
        if let Value::String(s) = v {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the event log never showed order #1; worker stderr:\n{}",
            worker.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        text.contains("order #1 by Ada Lovelace: 2 × Gadget, 84.00; 1 order so far, 84.00 in all"),
        "{text}"
    );
    assert!(text.contains("(took "), "{text}");
    assert_eq!(
        cdp.eval(&log, "window.__noReload ?? null").await,
        json!("kept"),
        "the event log page was not reloaded"
    );
    cdp.screenshot(&log, "demo-events.png").await;

    // A second worker on the same queue (started once the order was handled by the first),
    // killed later: the console must drop it by itself.
    let doomed = sb.start(WORKER, &["run", "127.0.0.1:0"]);
    // The worker's console: both live workers, from their heartbeats, and the receiver that ran.
    let console = open_tab(&mut cdp, &format!("http://{admin}/status")).await;
    let workers = "document.querySelectorAll('table.workers tr[data-worker]').length";
    cdp.eval_until(&console, workers, &json!(2), "two live workers")
        .await;
    for pid in [worker.pid(), doomed.pid()] {
        let row = format!(
            "[...document.querySelectorAll('table.workers tr[data-worker]')].some(r => r.dataset.worker.includes(':{pid}:'))"
        );
        assert_eq!(
            cdp.eval(&console, &row).await,
            json!(true),
            "worker {pid} listed"
        );
    }
    cdp.eval_until(
        &console,
        r#"document.querySelector('tr[data-receiver="examples::update_event_log"] td[data-field="succeeded"]')?.textContent ?? null"#,
        &json!("1"),
        "the event-log receiver's run in the receivers view",
    )
    .await;
    cdp.screenshot(&console, "console.png").await;
    // Killed without a chance to say goodbye: it drops out when its last heartbeat expires.
    doomed.signal("KILL");
    let _ = doomed.wait();
    cdp.eval_until(&console, workers, &json!(1), "the killed worker gone")
        .await;

    let _ = cdp.call(None, "Browser.close", json!({})).await;
    drop(cdp);
    chromium.stop().await;
    worker.signal("TERM");
    let out = worker.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        out.stderr
            .contains("receiver=examples::update_event_log attempt=1 outcome=ok"),
        "{}",
        out.stderr
    );
    web.signal("INT");
    let out = web.wait();
    assert_eq!(out.code(), 0, "{out:?}");
}
