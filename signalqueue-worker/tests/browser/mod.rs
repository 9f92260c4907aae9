//! A minimal headless-Chromium driver over the DevTools protocol (a websocket on loopback),
//! shared by the browser tests: the admin status page, the console and the demo app.
//!
//! Chosen over Playwright: the tests need only a tab, `Runtime.evaluate` (to read the page and
//! to click and type as a person would, through the DOM) and screenshots, which this does in a
//! few hundred lines over crates the workspace already has (tokio-tungstenite). Playwright
//! would bring Node and npm into `cargo test` and CI, a download at install time (which an
//! offline machine lacks) and a second language for the tests; this drives Debian's
//! `/usr/bin/chromium` directly.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Generous: a cold Chromium start on a loaded two-core CI machine can take many seconds.
pub const EVENTUALLY: Duration = Duration::from_secs(30);

/// False (after saying so loudly) when Chromium is missing and not required; a failure when
/// `SIGNALQUEUE_REQUIRE_BROWSER=1` (CI sets it) requires it.
pub fn chromium_available(what: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    let message = format!(
        "{CHROMIUM} is missing, so {what} was not tested in a browser; \
         install it with `apt-get install -y chromium chromium-driver`"
    );
    if std::env::var_os("SIGNALQUEUE_REQUIRE_BROWSER").is_some_and(|v| v != "0") {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    false
}

/// A headless Chromium with its own profile directory, killed when dropped.
pub struct Browser {
    child: tokio::process::Child,
    pub ws_url: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn launch() -> Browser {
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

    pub async fn stop(mut self) {
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// A minimal DevTools protocol client: one call at a time, events skipped.
pub struct Cdp {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Cdp {
    pub async fn connect(url: &str) -> Cdp {
        let (ws, _) = tokio::time::timeout(EVENTUALLY, tokio_tungstenite::connect_async(url))
            .await
            .expect("the DevTools websocket answers")
            .expect("the DevTools websocket accepts");
        Cdp { ws, next_id: 1 }
    }

    /// Opens a tab on `url`; returns its session.
    pub async fn open_tab(&mut self, url: &str) -> String {
        let target = self
            .call(None, "Target.createTarget", json!({ "url": url }))
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        attached["sessionId"].as_str().unwrap().to_string()
    }

    /// Calls `method` (in `session`, or on the browser) and returns its result.
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
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
    /// Saves a screenshot of the whole page (beyond the window) under `SQ_SCREENSHOT_DIR`,
    /// when that is set; else does nothing.
    #[allow(dead_code)] // not every test binary that includes this module takes screenshots
    pub async fn screenshot(&mut self, session: &str, name: &str) {
        use base64::Engine as _;
        let Some(dir) = std::env::var_os("SQ_SCREENSHOT_DIR") else {
            return;
        };
        let shot = self
            .call(
                Some(session),
                "Page.captureScreenshot",
                serde_json::json!({ "captureBeyondViewport": true }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("a screenshot"))
            .expect("base64 from Chromium");
        std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
    }

    /// Makes the page `width` CSS pixels wide (the headless default is 800), as a desktop
    /// browser window would be, for tables as wide as the console's and for screenshots.
    pub async fn set_width(&mut self, session: &str, width: u32) {
        self.call(
            Some(session),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
    }

    pub async fn eval(&mut self, session: &str, expression: &str) -> Value {
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
    pub async fn eval_until(
        &mut self,
        session: &str,
        expression: &str,
        expected: &Value,
        what: &str,
    ) {
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
