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
use signalqueue::engine::Outgoing;
use signalqueue::EnvelopeId;
use support::Sandbox;

const WORKER: &str = env!("CARGO_BIN_EXE_signalqueue-worker");

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
    let log = cdp.open_tab(&format!("{base}/events")).await;
    cdp.eval_until(
        &log,
        "document.getElementById('empty')?.hidden ?? null",
        &json!(false),
        "the empty event log",
    )
    .await;
    cdp.eval(&log, "window.__noReload = 'kept'; true").await;

    // The checkout form: fill it in and submit, as a person would.
    let shop = cdp.open_tab(&format!("{base}/")).await;
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
    let console = cdp.open_tab(&format!("http://{admin}/status")).await;
    cdp.set_width(&console, 1280).await;
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
    if std::env::var_os("SQ_SCREENSHOT_DIR").is_some() {
        // For the picture, some traffic on the chart: twenty seconds of quick signals sent
        // from the shell, a few a second, rising and falling.
        for second in 0..20u32 {
            let started = Instant::now();
            for i in 0..(second % 7) {
                let args = format!(r#"{{"a": {i}, "b": "from the shell"}}"#);
                sb.run(WORKER, &["send", "demo.two_args", "--json", &args])
                    .ok();
            }
            tokio::time::sleep(Duration::from_secs(1).saturating_sub(started.elapsed())).await;
        }
        // The chart is redrawn every few seconds.
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    cdp.screenshot(&console, "console.png").await;
    // Killed without a chance to say goodbye: it drops out when its last heartbeat expires.
    doomed.signal("KILL");
    let _ = doomed.wait();
    cdp.eval_until(&console, workers, &json!(1), "the killed worker gone")
        .await;

    worker.signal("TERM");
    let out = worker.wait();
    assert_eq!(out.code(), 0, "{out:?}");
    // At info a signal is one line, with how many receivers ran and how many failed.
    assert!(
        out.stderr.lines().any(|l| l.contains("signal ran")
            && l.contains("signal=examples.form_submit")
            && l.contains("attempt=1 receivers=1 failed=0")),
        "{}",
        out.stderr
    );

    // The console's entry views on the demo's queue, with a worker slow on purpose (its
    // aggregation takes 10 minutes, one order at a time), so an order stays in flight and the
    // next one waits in pending.
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut slow = sb.command(WORKER, &["run", &admin.to_string(), "--concurrency", "1"]);
    slow.env("DEMO_AGGREGATION_MS", "600000")
        .env("SIGNALQUEUE_ADMIN_TOKEN", "demo-token");
    let slow = support::Running::spawn(slow);
    let console = cdp.open_tab(&format!("http://{admin}/status")).await;
    cdp.eval_until(
        &console,
        "document.querySelector('nav.views') !== null",
        &json!(true),
        "the slow worker's console",
    )
    .await;
    cdp.set_width(&console, 1280).await;
    // A producer in another language gets an argument's type wrong: dead, as `decode`.
    let engine = sb.engine("default").await;
    engine
        .enqueue(&[Outgoing::new(
            EnvelopeId::new(),
            format!(
                r#"{{"v":1,"signal":"demo.two_args","sender":"billing.py","enqueued_at_ms":{},"args":{{"a":"seven","b":"x"}}}}"#,
                signalqueue::engine::unix_ms(std::time::SystemTime::now())
            )
            .into_bytes(),
        )])
        .await
        .unwrap();
    let dead_count = r#"document.querySelector('[data-count="dead"]')?.textContent ?? null"#;
    cdp.eval_until(&console, dead_count, &json!("1"), "the foreign entry dead")
        .await;
    // A delayed send from the command line.
    sb.run(
        WORKER,
        &[
            "send",
            "demo.two_args",
            "--json",
            r#"{"a":7,"b":"in an hour"}"#,
            "--delay",
            "1h",
        ],
    )
    .ok();
    // Two more orders through the shop.
    for (n, customer) in [(2, "Grace Hopper"), (3, "Alan Turing")] {
        cdp.call(
            Some(&shop),
            "Page.navigate",
            json!({ "url": format!("{base}/") }),
        )
        .await;
        cdp.eval_until(
            &shop,
            "document.querySelector('#checkout button') !== null && !document.getElementById('placed')",
            &json!(true),
            "the checkout form again",
        )
        .await;
        cdp.eval(
            &shop,
            &format!(
                r#"(() => {{ const f = document.getElementById('checkout'); f.customer.value = {}; f.item.value = 'Widget'; f.quantity.value = '1'; f.querySelector('button').click(); return true; }})()"#,
                json!(customer)
            ),
        )
        .await;
        cdp.eval_until(
            &shop,
            "document.getElementById('placed')?.dataset.order ?? null",
            &json!(n.to_string()),
            "the order placed",
        )
        .await;
    }
    let view = |v: &str| {
        format!(
            r#"(() => {{ document.querySelector('nav.views button[data-view="{v}"]').click(); return true; }})()"#
        )
    };
    let rows = |v: &str| {
        format!(r#"document.querySelectorAll('table[data-list="{v}"] tbody tr[data-key]').length"#)
    };
    cdp.eval(&console, &view("in_flight")).await;
    cdp.eval_until(
        &console,
        &rows("in_flight"),
        &json!(1),
        "one order in flight",
    )
    .await;
    let holder = cdp
        .eval(
            &console,
            r#"document.querySelector('table[data-list="in_flight"] td.worker').textContent"#,
        )
        .await;
    assert!(
        holder
            .as_str()
            .is_some_and(|h| h.contains(&format!(":{}:", slow.pid()))),
        "held by the slow worker: {holder}"
    );
    let count = |c: &str| format!(r#"document.querySelector('[data-count="{c}"]').textContent"#);
    cdp.eval_until(
        &console,
        &count("in_flight"),
        &json!("1"),
        "the count in flight",
    )
    .await;
    cdp.screenshot(&console, "console-in-flight.png").await;
    cdp.eval(&console, &view("pending")).await;
    cdp.eval_until(
        &console,
        &rows("pending"),
        &json!(1),
        "the next order pending",
    )
    .await;
    cdp.eval_until(
        &console,
        &count("pending"),
        &json!("1"),
        "the count pending",
    )
    .await;
    cdp.screenshot(&console, "console-pending.png").await;
    cdp.eval(&console, &view("scheduled")).await;
    cdp.eval_until(&console, &rows("scheduled"), &json!(1), "the delayed send")
        .await;
    cdp.eval_until(
        &console,
        &count("scheduled"),
        &json!("1"),
        "the count scheduled",
    )
    .await;
    cdp.screenshot(&console, "console-scheduled.png").await;
    cdp.eval(&console, &view("dead")).await;
    cdp.eval_until(
        &console,
        r#"document.querySelector('table[data-list="dead"] td.kind')?.textContent ?? null"#,
        &json!("decode"),
        "the dead letter, kind decode",
    )
    .await;
    cdp.eval(
        &console,
        r#"(() => { document.querySelector('table[data-list="dead"] a[data-detail]').click(); return true; })()"#,
    )
    .await;
    cdp.eval_until(
        &console,
        r#"document.querySelector('div.detail [data-field="kind"]')?.textContent ?? null"#,
        &json!("decode"),
        "the dead letter's detail",
    )
    .await;
    cdp.screenshot(&console, "console-dead.png").await;
    slow.signal("KILL");
    let _ = slow.wait();

    let _ = cdp.call(None, "Browser.close", json!({})).await;
    drop(cdp);
    chromium.stop().await;
    web.signal("INT");
    let out = web.wait();
    assert_eq!(out.code(), 0, "{out:?}");
}
