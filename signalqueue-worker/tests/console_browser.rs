//! The console's entry views and actions in a real browser: headless Chromium, driven over the
//! DevTools protocol, on a queue that a real embedded worker left with retries and a dead
//! letter (their history written by the worker), plus delayed sends, one entry in flight and
//! a page and a half of pending ones. Each view is opened by its tab, paged, filtered, an
//! entry's detail opened, and each action tried, per entry and on a selection: first with a
//! wrong token (refused, nothing changes), then with the right one. The lists must follow
//! even when no count changes (an entry replayed that dies again).
//!
//! Run with `cargo test -p signalqueue-worker --test console_browser`. Needs `/usr/bin/chromium`;
//! without it the test is skipped with a message, unless `SIGNALQUEUE_REQUIRE_BROWSER=1`. Set
//! `SQ_SCREENSHOT_DIR` to keep screenshots of each view.

mod browser;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use browser::{Browser, Cdp, EVENTUALLY};
use serde_json::json;
use signalqueue::config::WorkerConfig;
use signalqueue::engine::memory::MemoryEngine;
use signalqueue::engine::{EngineOptions, Section, SharedEngine};
use signalqueue::{BoxError, Envelope, Runtime, SendOptions};
use signalqueue_runner::http::{serve, AdminState};
use signalqueue_runner::metrics::Metrics;
use signalqueue_runner::Worker;
use tokio::net::TcpListener;

/// An order to ship.
#[signalqueue::async_signal(providing_args = [n: u64], name = "console.order")]
pub static ORDER: Order;

/// Fails for odd orders: those become retries, each with its error in the history.
#[signalqueue::receiver(ORDER, retries = 5, name = "console.ship")]
async fn ship(n: u64) -> Result<(), BoxError> {
    if n % 2 == 1 {
        Err(format!("carrier <refused> order {n}").into())
    } else {
        Ok(())
    }
}

/// A refund that never goes through.
#[signalqueue::async_signal(providing_args = [n: u64], name = "console.doomed")]
pub static DOOMED: Doomed;

/// Always fails, without retries: a dead letter with its one failed attempt.
#[signalqueue::receiver(DOOMED, retries = 0, name = "console.refund")]
async fn refund(n: u64) -> Result<(), BoxError> {
    Err(format!("refund {n} rejected by the bank").into())
}

const TOKEN: &str = "s3cret";

/// Rows of a view's table (entry rows only).
fn rows(view: &str) -> String {
    format!(
        r#"document.querySelectorAll('table[data-queue="default"][data-list="{view}"] tbody tr[data-key]').length"#
    )
}

/// The text of the first row's cell `class` in `view`.
fn cell(view: &str, class: &str) -> String {
    format!(
        r#"document.querySelector('table[data-list="{view}"] tbody tr[data-key] td.{class}')?.textContent ?? null"#
    )
}

async fn click(cdp: &mut Cdp, session: &str, selector: &str) {
    let found = cdp
        .eval(
            session,
            &format!(
                "(() => {{ const el = document.querySelector({}); if (!el) return false; el.click(); return true; }})()",
                json!(selector)
            ),
        )
        .await;
    assert_eq!(found, json!(true), "nothing to click at `{selector}`");
}

/// Clicks an action's button, the result lines emptied first, so that waiting for a result
/// waits for this action's, not the one before's.
async fn act(cdp: &mut Cdp, session: &str, selector: &str) {
    cdp.eval(
        session,
        "document.querySelectorAll('.action-result').forEach(el => el.textContent = ''); true",
    )
    .await;
    click(cdp, session, selector).await;
}

async fn tab(cdp: &mut Cdp, session: &str, view: &str) {
    click(
        cdp,
        session,
        &format!(r#"nav.views[data-queue="default"] button[data-view="{view}"]"#),
    )
    .await;
    cdp.eval_until(
        session,
        &format!(r#"document.querySelector('div.view[data-view="{view}"]').hidden"#),
        &json!(false),
        &format!("the {view} view shown"),
    )
    .await;
}

/// The action result line of a view.
fn result(view: &str) -> String {
    format!(r#"document.querySelector('.action-result[data-view="{view}"]')?.textContent ?? null"#)
}

/// Claims the replayed refund, as a worker would, and dead-letters it again with `reason`; the
/// dead count is then what it was before the replay.
async fn die_again(engine: &SharedEngine, reason: &str) {
    let claimed = engine
        .claim(100, Duration::from_secs(60), Duration::ZERO)
        .await
        .unwrap();
    let (doomed, others): (Vec<_>, Vec<_>) = claimed
        .into_iter()
        .partition(|c| Envelope::decode(&c.payload).unwrap().signal == "console.doomed");
    assert_eq!(
        doomed.len(),
        1,
        "the replayed refund is claimable: {:?}, {} others",
        engine.counts().await.unwrap(),
        others.len()
    );
    assert!(engine
        .dead_letter(&doomed[0].token, &doomed[0].payload, reason)
        .await
        .unwrap());
    let others: Vec<_> = others.into_iter().map(|c| c.token).collect();
    engine.release(&others).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_and_action_of_the_console_works_in_a_browser_on_memory() {
    if !browser::chromium_available("the console's views") {
        return;
    }
    console_on(MemoryEngine::new(EngineOptions::new("default")), "-memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_and_action_of_the_console_works_in_a_browser_on_sqlite() {
    if !browser::chromium_available("the console's views") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let engine = signalqueue::engine::open(&url, EngineOptions::new("default"))
        .await
        .unwrap();
    console_on(engine, "-sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_and_action_of_the_console_works_in_a_browser_on_postgres() {
    if !browser::chromium_available("the console's views") {
        return;
    }
    let Some(schema) = support::pg_schema::Schema::create("sq_console").await else {
        return;
    };
    let url = format!("{}?schema={}", support::POSTGRES, schema.0);
    let engine = signalqueue::engine::open(&url, EngineOptions::new("default"))
        .await
        .unwrap();
    console_on(engine, "-postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_and_action_of_the_console_works_in_a_browser_on_redis() {
    if !browser::chromium_available("the console's views") {
        return;
    }
    // The shared server; a queue name of this test's own keeps its keys apart, and the walk
    // leaves the queue empty.
    let name = format!("console-{}", signalqueue::EnvelopeId::new());
    let engine = signalqueue::engine::open("redis://127.0.0.1:6379/0", EngineOptions::new(&name))
        .await
        .unwrap();
    if let Err(e) = engine.counts().await {
        if std::env::var("SIGNALQUEUE_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("Redis is required (SIGNALQUEUE_REQUIRE_REDIS=1): {e}");
        }
        eprintln!("\n*** SKIPPED the console on Redis: {e} ***\n");
        return;
    }
    console_on(engine, "-redis").await;
}

/// The whole walk through the console on `engine`; screenshots are named with `shots`.
async fn console_on(engine: SharedEngine, shots: &str) {
    let runtime = Runtime::builder().queue("default", engine.clone()).build();

    // A real worker makes the retries and the dead letter: orders 1 and 3 fail, 2 succeeds,
    // the refund dies at once. Retries wait an hour, so they stay to be looked at.
    runtime
        .scope(async {
            for n in 1..=3 {
                ORDER
                    .send_with(SendOptions::new().sender("shop.Cart"), n)
                    .await
                    .unwrap();
            }
            DOOMED.send(7).await.unwrap();
        })
        .await;
    let mut settings = WorkerConfig::default();
    settings.retry_base = Duration::from_secs(3600);
    let outcomes = Arc::new(Mutex::new(0usize));
    let seen = outcomes.clone();
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    // The worker's counters are the admin server's, as in `signalqueue-worker run`.
    let metrics = Arc::new(Metrics::new());
    let worker = tokio::spawn(
        Worker::builder()
            .runtime(runtime.clone())
            .metrics(metrics.clone())
            .queue("default")
            .settings(settings)
            .claim_wait(Duration::from_millis(50))
            .on_outcome(move |_| *seen.lock().unwrap() += 1)
            .shutdown(async {
                let _ = worker_stopped.await;
            })
            .build()
            .run(),
    );
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    while *outcomes.lock().unwrap() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker handled all four"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_worker.send(()).unwrap();
    worker.await.unwrap().unwrap();
    let counts = engine.counts().await.unwrap();
    assert_eq!((counts.scheduled, counts.dead), (2, 1), "{counts:?}");

    // One entry in flight (claimed as a worker claims), two delayed sends, and 55 pending
    // (more than one page of 50).
    runtime.scope(ORDER.send(100)).await.unwrap();
    let held = engine
        .claim(1, Duration::from_secs(600), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    runtime
        .scope(async {
            for n in [200, 201] {
                ORDER
                    .send_with(SendOptions::new().delay(Duration::from_secs(3600)), n)
                    .await
                    .unwrap();
            }
            for n in 1000..1055 {
                ORDER
                    .send_with(SendOptions::new().sender("shop.Web"), n)
                    .await
                    .unwrap();
            }
        })
        .await;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        AdminState {
            runtime: runtime.clone(),
            queues: vec!["default".into()],
            metrics,
            token: Some(TOKEN.into()),
            hosts: Vec::new(),
        },
        async {
            let _ = stopped.await;
        },
    ));

    let chromium = Browser::launch().await;
    let mut cdp = Cdp::connect(&chromium.ws_url).await;
    let s = cdp.open_tab(&format!("http://{addr}/status")).await;
    let s = s.as_str();
    // Deleting asks first; the test says yes.
    // The new tab starts on about:blank, itself "complete": wait for the console's own page.
    cdp.eval_until(
        s,
        "document.readyState === 'complete' && document.querySelector('nav.views') !== null",
        &json!(true),
        "the page loaded",
    )
    .await;
    cdp.eval(s, "window.confirm = () => true; true").await;
    cdp.set_width(s, 1280).await;

    // Pending: the first page of 50, then the next (5), then back.
    cdp.eval_until(s, &rows("pending"), &json!(50), "50 pending rows")
        .await;
    cdp.screenshot(s, &format!("console-pending{shots}.png"))
        .await;
    click(
        &mut cdp,
        s,
        r#"table[data-list="pending"] tr.pager a[data-after]:last-child"#,
    )
    .await;
    cdp.eval_until(s, &rows("pending"), &json!(5), "the second page: 5 rows")
        .await;
    click(
        &mut cdp,
        s,
        r#"table[data-list="pending"] tr.pager a[data-after=""]"#,
    )
    .await;
    cdp.eval_until(s, &rows("pending"), &json!(50), "back on the first page")
        .await;

    // Filter by id: the one entry whose id starts so; then by sender; then cleared.
    let last_id = cdp
        .eval(
            s,
            r#"Array.from(document.querySelectorAll('table[data-list="pending"] td.id a')).pop().textContent"#,
        )
        .await;
    let last_id = last_id.as_str().unwrap().to_string();
    let filter = |name: &str, value: &str| {
        format!(
            r#"(() => {{ const f = document.querySelector('form.filter[data-queue="default"]'); f.reset(); f.querySelector('input[name="{name}"]').value = {value}; f.requestSubmit(); return true; }})()"#,
            value = json!(value)
        )
    };
    cdp.eval(s, &filter("id", &last_id.to_lowercase())).await;
    cdp.eval_until(s, &rows("pending"), &json!(1), "one entry with that id")
        .await;
    cdp.eval(s, &filter("sender", "shop.Cart")).await;
    cdp.eval_until(
        s,
        r#"document.querySelector('table[data-list="pending"] tr.empty')?.textContent ?? null"#,
        &json!("no entry matches the filter"),
        "no pending entry from shop.Cart",
    )
    .await;
    cdp.eval(
        s,
        "document.querySelector('form.filter[data-queue=\"default\"]').reset(); true",
    )
    .await;
    cdp.eval_until(s, &rows("pending"), &json!(50), "unfiltered again")
        .await;

    // Scheduled: the two delayed sends with their due time.
    tab(&mut cdp, s, "scheduled").await;
    cdp.eval_until(s, &rows("scheduled"), &json!(2), "2 scheduled")
        .await;
    let due = cdp.eval(s, &cell("scheduled", "due")).await;
    assert!(due.as_str().is_some_and(|d| d.ends_with('Z')), "{due}");
    cdp.screenshot(s, &format!("console-scheduled{shots}.png"))
        .await;

    // Retries: attempt 2, the receiver's last error, the next try.
    tab(&mut cdp, s, "retries").await;
    cdp.eval_until(s, &rows("retries"), &json!(2), "2 retries")
        .await;
    assert_eq!(cdp.eval(s, &cell("retries", "attempt")).await, json!("2"));
    // In order of their next try, which the two failures set a few ms apart.
    assert_eq!(
        cdp.eval(
            s,
            r#"Array.from(document.querySelectorAll('table[data-list="retries"] td.last-error')).map(td => td.textContent).sort()"#
        )
        .await,
        json!([
            "failed: carrier <refused> order 1",
            "failed: carrier <refused> order 3"
        ])
    );
    assert_eq!(
        cdp.eval(s, &cell("retries", "receiver")).await,
        json!("console.ship")
    );
    cdp.screenshot(s, &format!("console-retries{shots}.png"))
        .await;

    // The detail of a retry: where it is, its envelope as `dump` shows it, its history.
    click(
        &mut cdp,
        s,
        r#"table[data-list="retries"] td.id a[data-detail]"#,
    )
    .await;
    cdp.eval_until(
        s,
        r#"document.querySelectorAll('div.detail table.history tbody tr').length"#,
        &json!(1),
        "one failed attempt in the detail's history",
    )
    .await;
    let error = cdp
        .eval(
            s,
            r#"document.querySelector('div.detail table.history td.error').textContent"#,
        )
        .await;
    assert!(
        error
            .as_str()
            .is_some_and(|e| e.starts_with("failed: carrier <refused> order ")),
        "{error}"
    );
    assert_eq!(
        cdp.eval(
            s,
            r#"document.querySelector('div.detail [data-field="section"]').textContent"#
        )
        .await,
        json!("retries")
    );
    let envelope = cdp
        .eval(
            s,
            r#"JSON.parse(document.querySelector('div.detail pre.envelope').textContent)"#,
        )
        .await;
    assert_eq!(envelope["attempt"], 2);
    assert_eq!(envelope["history"][0]["receiver"], "console.ship");
    cdp.screenshot(s, &format!("console-detail{shots}.png"))
        .await;
    click(&mut cdp, s, "div.detail button[data-close]").await;

    // In flight: held by this process, with its lease deadline.
    tab(&mut cdp, s, "in_flight").await;
    cdp.eval_until(s, &rows("in_flight"), &json!(1), "1 in flight")
        .await;
    let worker = cdp.eval(s, &cell("in_flight", "worker")).await;
    assert_eq!(worker, json!(signalqueue::engine::consumer_id()));
    let lease = cdp.eval(s, &cell("in_flight", "lease")).await;
    assert!(lease.as_str().is_some_and(|d| d.ends_with('Z')), "{lease}");
    cdp.screenshot(s, &format!("console-in-flight{shots}.png"))
        .await;

    // Dead letters: kind and reason.
    tab(&mut cdp, s, "dead").await;
    cdp.eval_until(s, &rows("dead"), &json!(1), "1 dead letter")
        .await;
    assert_eq!(cdp.eval(s, &cell("dead", "kind")).await, json!("receiver"));
    let reason = cdp.eval(s, &cell("dead", "reason")).await;
    assert!(
        reason
            .as_str()
            .is_some_and(|r| r.contains("refund 7 rejected by the bank")),
        "{reason}"
    );
    cdp.screenshot(s, &format!("console-dead{shots}.png")).await;

    // Every action needs the token: a wrong one is refused and nothing changes.
    cdp.eval(
        s,
        "document.getElementById('token-input').value = 'wrong'; true",
    )
    .await;
    act(
        &mut cdp,
        s,
        r#"table[data-list="dead"] button[data-entry-action="replay"]"#,
    )
    .await;
    cdp.eval_until(
        s,
        &result("dead"),
        &json!("wrong admin token; use the worker's SIGNALQUEUE_ADMIN_TOKEN"),
        "the refusal",
    )
    .await;
    assert_eq!(engine.counts().await.unwrap().dead, 1);
    cdp.eval(
        s,
        &format!(
            "document.getElementById('token-input').value = {}; true",
            json!(TOKEN)
        ),
    )
    .await;

    // Replay the dead letter; it dies again at once, so the dead count never changes: the
    // list must still show the new dead letter, not the old row.
    act(
        &mut cdp,
        s,
        r#"table[data-list="dead"] button[data-entry-action="replay"]"#,
    )
    .await;
    cdp.eval_until(s, &result("dead"), &json!("1 replayed"), "replayed")
        .await;
    die_again(&engine, "died again: still rejected").await;
    assert_eq!(engine.counts().await.unwrap().dead, 1);
    cdp.eval_until(
        s,
        &cell("dead", "reason"),
        &json!("died again: still rejected"),
        "the dead letter that died again",
    )
    .await;

    // Replayed again, chosen by its checkbox this time; it dies once more.
    click(
        &mut cdp,
        s,
        r#"div.view[data-view="dead"] input[data-select-all]"#,
    )
    .await;
    act(
        &mut cdp,
        s,
        r#"div.view[data-view="dead"] button[data-bulk="replay"]"#,
    )
    .await;
    cdp.eval_until(s, &result("dead"), &json!("1 replayed"), "bulk replay")
        .await;
    die_again(&engine, "died a third time").await;
    cdp.eval_until(
        s,
        &cell("dead", "reason"),
        &json!("died a third time"),
        "the dead letter that died a third time",
    )
    .await;

    // Delete the dead letter from its detail view.
    click(
        &mut cdp,
        s,
        r#"table[data-list="dead"] td.id a[data-detail]"#,
    )
    .await;
    cdp.eval_until(
        s,
        r#"document.querySelector('div.detail [data-field="reason"]')?.textContent ?? null"#,
        &json!("died a third time"),
        "the dead letter's detail",
    )
    .await;
    act(
        &mut cdp,
        s,
        r#"div.detail button[data-entry-action="delete"]"#,
    )
    .await;
    cdp.eval_until(s, &rows("dead"), &json!(0), "no dead letter")
        .await;
    assert_eq!(engine.counts().await.unwrap().dead, 0);

    // Run one retry now, per entry; then the scheduled ones, as a selection.
    tab(&mut cdp, s, "retries").await;
    act(
        &mut cdp,
        s,
        r#"table[data-list="retries"] button[data-entry-action="run_now"]"#,
    )
    .await;
    cdp.eval_until(
        s,
        &result("retries"),
        &json!("1 moved to pending"),
        "run now",
    )
    .await;
    cdp.eval_until(s, &rows("retries"), &json!(1), "1 retry left")
        .await;
    tab(&mut cdp, s, "scheduled").await;
    click(
        &mut cdp,
        s,
        r#"div.view[data-view="scheduled"] input[data-select-all]"#,
    )
    .await;
    act(
        &mut cdp,
        s,
        r#"div.view[data-view="scheduled"] button[data-bulk="run_now"]"#,
    )
    .await;
    cdp.eval_until(
        s,
        &result("scheduled"),
        &json!("2 moved to pending"),
        "bulk run now",
    )
    .await;
    cdp.eval_until(s, &rows("scheduled"), &json!(0), "none scheduled")
        .await;
    let counts = engine.counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.scheduled),
        (55 + 1 + 2, 1),
        "{counts:?}"
    );

    // Delete pending entries: one by its button, then three chosen by their checkboxes.
    tab(&mut cdp, s, "pending").await;
    let deleted = cdp
        .eval(
            s,
            r#"document.querySelector('table[data-list="pending"] tr[data-key]').dataset.key"#,
        )
        .await;
    act(
        &mut cdp,
        s,
        r#"table[data-list="pending"] button[data-entry-action="delete"]"#,
    )
    .await;
    cdp.eval_until(s, &result("pending"), &json!("1 deleted"), "one deleted")
        .await;
    let first = r#"document.querySelector('table[data-list="pending"] tr[data-key]').dataset.key"#;
    cdp.eval_until(
        s,
        &format!("{first} !== {}", json!(deleted)),
        &json!(true),
        "its row gone",
    )
    .await;
    cdp.eval(
        s,
        r#"(() => { const boxes = document.querySelectorAll('table[data-list="pending"] input[data-select]'); for (let i = 0; i < 3; i++) boxes[i].checked = true; return true; })()"#,
    )
    .await;
    act(
        &mut cdp,
        s,
        r#"div.view[data-view="pending"] button[data-bulk="delete"]"#,
    )
    .await;
    cdp.eval_until(s, &result("pending"), &json!("3 deleted"), "three deleted")
        .await;
    assert_eq!(engine.counts().await.unwrap().pending, 58 - 4);
    cdp.eval_until(
        s,
        r#"document.querySelector('[data-queue="default"][data-count="pending"]').textContent"#,
        &json!("54"),
        "the count follows",
    )
    .await;

    // Leave nothing behind on a shared server.
    engine.ack(&[held[0].token.clone()]).await.unwrap();
    engine.purge_pending().await.unwrap();
    engine.purge_dead().await.unwrap();
    let browse = engine.browse().expect("every built-in engine browses");
    let left = browse
        .page(Section::Scheduled, None, 100)
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|l| l.key)
        .collect::<Vec<_>>();
    browse.delete(Section::Scheduled, &left).await.unwrap();
    assert_eq!(engine.counts().await.unwrap(), Default::default());

    let _ = cdp.call(None, "Browser.close", json!({})).await;
    drop(cdp);
    chromium.stop().await;
    let _ = stop.send(());
    tokio::time::timeout(EVENTUALLY, server)
        .await
        .expect("the admin server stops")
        .unwrap()
        .unwrap();
}
