//! The status page in a real browser: headless Chromium, driven over the DevTools protocol on
//! loopback. It checks that the page loads, shows a queue's counts as the engine holds them,
//! and follows the queue live, without a reload, as signals arrive.
//!
//! Run with `cargo test -p signalqueue-worker --test admin_browser`. It needs
//! `/usr/bin/chromium` (Debian: `apt-get install -y chromium`). Without it the test is
//! skipped with a message, unless `SIGNALQUEUE_REQUIRE_BROWSER=1` (set it in CI) makes that a
//! failure.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use signalqueue::engine::memory::MemoryEngine;
use signalqueue::engine::{EngineOptions, SharedEngine};
use signalqueue::Runtime;
use signalqueue_worker::http::{serve, AdminState};
use signalqueue_worker::metrics::Metrics;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Generous: a cold Chromium start on a loaded two-core CI machine can take many seconds.
const EVENTUALLY: Duration = Duration::from_secs(30);

/// A test signal, registered like any application's.
#[signalqueue::async_signal(providing_args = [n: u64], name = "admin_browser.tick")]
pub static TICK: Tick;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_shows_counts_and_follows_the_queue_live() {
    if !Path::new(CHROMIUM).exists() {
        let message = format!(
            "{CHROMIUM} is missing, so the status page was not tested in a browser; \
             install it with `apt-get install -y chromium chromium-driver`"
        );
        if std::env::var_os("SIGNALQUEUE_REQUIRE_BROWSER").is_some_and(|v| v != "0") {
            panic!("{message}");
        }
        eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        AdminState {
            runtime: runtime.clone(),
            queues: vec!["default".into()],
            metrics: Arc::new(Metrics::new()),
            token: None,
        },
        async {
            let _ = stopped.await;
        },
    ));

    let browser = Browser::launch().await;
    let mut cdp = Cdp::connect(&browser.ws_url).await;
    let target = cdp
        .call(
            None,
            "Target.createTarget",
            json!({ "url": format!("http://{addr}/status") }),
        )
        .await;
    let target_id = target["targetId"].as_str().unwrap().to_string();
    let attached = cdp
        .call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        )
        .await;
    let session = attached["sessionId"].as_str().unwrap().to_string();

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

/// A headless Chromium with its own profile directory, killed when dropped.
struct Browser {
    child: tokio::process::Child,
    ws_url: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let log_path = profile.path().join("chromium.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = tokio::process::Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        // Chromium writes the port it chose, and the browser's websocket path, to this file.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        let ws_url = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break format!("ws://127.0.0.1:{port}{path}");
                }
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "chromium did not open its DevTools port within {EVENTUALLY:?}; its log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Browser {
            child,
            ws_url,
            _profile: profile,
        }
    }

    async fn stop(mut self) {
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// A minimal DevTools protocol client: one call at a time, events skipped.
struct Cdp {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Cdp {
    async fn connect(url: &str) -> Cdp {
        let (ws, _) = tokio::time::timeout(EVENTUALLY, tokio_tungstenite::connect_async(url))
            .await
            .expect("the DevTools websocket answers")
            .expect("the DevTools websocket accepts");
        Cdp { ws, next_id: 1 }
    }

    /// Calls `method` (in `session`, or on the browser) and returns its result.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method} within {EVENTUALLY:?}"));
            let Some(Ok(Message::Text(text))) = next else {
                if method == "Browser.close" {
                    return Value::Null;
                }
                panic!("the DevTools connection ended while waiting for {method}: {next:?}");
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] != json!(id) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                panic!("{method} failed: {error}");
            }
            return answer["result"].clone();
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let result = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("`{expression}` threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until it equals `expected`; fails after [`EVENTUALLY`].
    async fn eval_until(&mut self, session: &str, expression: &str, expected: &Value, what: &str) {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            let value = self.eval(session, expression).await;
            if &value == expected {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the page never showed {what}: `{expression}` is {value}, not {expected}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
