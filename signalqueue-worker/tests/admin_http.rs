//! The admin HTTP server over real HTTP on loopback, against engines holding real envelopes.
//!
//! Run with `cargo test -p signalqueue-worker --test admin_http`.
//!
//! The client is a few lines of HTTP/1.0 over a `TcpStream`: 1.0 makes the server close the
//! connection after each response and never use chunked encoding, so reading to the end (or,
//! for `/events`, up to a blank line) is all the parsing needed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use signalqueue::engine::memory::MemoryEngine;
use signalqueue::engine::{EngineOptions, Outgoing, SharedEngine};
use signalqueue::{Codec, EnvelopeId, Runtime, SendOptions};
use signalqueue_runner::http::{serve, AdminState};
use signalqueue_runner::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A test signal, registered like any application's.
#[signalqueue::async_signal(
    providing_args = [order_id: u64, note: String],
    name = "admin_test.order_placed"
)]
pub static ORDER_PLACED: OrderPlaced;

#[signalqueue::receiver(
    ORDER_PLACED,
    sender = "shop.Order",
    retries = 2,
    name = "admin_test.audit"
)]
async fn audit(order_id: u64, note: String) {
    let _ = (order_id, note);
}

/// A periodic signal, for the schedules view; nothing in these tests runs its scheduler.
#[signalqueue::async_signal(every = "10m", catch_up = "none", name = "admin_test.sweep")]
pub static SWEEP: Sweep;

/// Long enough for a loaded CI machine; the checks return as soon as they pass.
const EVENTUALLY: Duration = Duration::from_secs(20);

struct Server {
    addr: SocketAddr,
    runtime: Runtime,
    engine: SharedEngine,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// A server over queues `default` and `emails`, on private in-memory engines.
    async fn start(token: Option<&str>) -> Server {
        Server::start_on(MemoryEngine::new(EngineOptions::new("default")), token).await
    }

    /// A server whose `default` queue is `engine`.
    async fn start_on(engine: SharedEngine, token: Option<&str>) -> Server {
        let emails: SharedEngine = MemoryEngine::new(EngineOptions::new("emails"));
        let runtime = Runtime::builder()
            .queue("default", engine)
            .queue("emails", emails)
            .build();
        Server::start_runtime(runtime, token).await
    }

    /// A server over `runtime`, whose queues must be `default` and `emails`.
    async fn start_runtime(runtime: Runtime, token: Option<&str>) -> Server {
        let engine = runtime.queue("default").expect("a default queue").clone();
        let metrics = Arc::new(Metrics::new());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let state = AdminState {
            runtime: runtime.clone(),
            queues: vec!["default".into(), "emails".into()],
            metrics: metrics.clone(),
            token: token.map(str::to_string),
            hosts: Vec::new(),
        };
        let task = tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            runtime,
            engine,
            metrics,
            stop: Some(stop),
            task,
        }
    }

    /// Sends `ORDER_PLACED` through the real `send` path (bincode, as by default).
    async fn send(&self, order_id: u64, note: &str) -> EnvelopeId {
        self.runtime
            .scope(ORDER_PLACED.send_with(
                SendOptions::new().sender("shop.Order"),
                order_id,
                note.to_string(),
            ))
            .await
            .unwrap()
            .id()
    }

    /// Sends one and dead-letters it as the worker would, with `reason`; other entries are
    /// claimed on the way and given back untouched.
    async fn send_dead(&self, order_id: u64, reason: &str) {
        let id = self.send(order_id, "doomed").await;
        let claimed = self
            .engine
            .claim(1000, Duration::from_secs(60), Duration::ZERO)
            .await
            .unwrap();
        let (ours, others): (Vec<_>, Vec<_>) = claimed
            .into_iter()
            .partition(|c| signalqueue::Envelope::decode(&c.payload).is_ok_and(|e| e.id == id));
        assert_eq!(ours.len(), 1, "the entry just sent is claimable");
        assert!(self
            .engine
            .dead_letter(&ours[0].token, &ours[0].payload, reason)
            .await
            .unwrap());
        let others: Vec<_> = others.into_iter().map(|c| c.token).collect();
        self.engine.release(&others).await.unwrap();
    }

    async fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, &[], "").await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &str) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        request(self.addr, "POST", path, &headers, body).await
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(EVENTUALLY, self.task)
            .await
            .expect("the server stops after shutdown")
            .unwrap()
            .unwrap();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

fn parse_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, headers)
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut stream = send_request(addr, method, path, headers, body).await;
    let mut raw = Vec::new();
    tokio::time::timeout(EVENTUALLY, stream.read_to_end(&mut raw))
        .await
        .expect("the server answers")
        .unwrap();
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let (status, headers) = parse_head(head);
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

/// An open `GET /events`.
struct Events {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Events {
    async fn open(addr: SocketAddr) -> Events {
        let mut stream = send_request(addr, "GET", "/events", &[], "").await;
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(EVENTUALLY, stream.read(&mut chunk))
                .await
                .expect("the server answers")
                .unwrap();
            assert!(n > 0, "connection closed before the headers");
            buf.extend_from_slice(&chunk[..n]);
        };
        let (status, headers) = parse_head(std::str::from_utf8(&buf[..head_end]).unwrap());
        assert_eq!(status, 200);
        let ct = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.clone());
        assert_eq!(ct.as_deref(), Some("text/event-stream"));
        buf.drain(..head_end + 4);
        Events { stream, buf }
    }

    /// The next `snapshot` event's data, or `None` when the server closed the stream.
    async fn next(&mut self) -> Option<Value> {
        loop {
            while let Some(i) = find(&self.buf, b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..i + 2).collect();
                let block = String::from_utf8(block).unwrap();
                // Keep-alive comments (`:`) and other events are skipped.
                if block.lines().any(|l| l == "event: snapshot") {
                    let data: String = block
                        .lines()
                        .filter_map(|l| l.strip_prefix("data: "))
                        .collect();
                    return Some(serde_json::from_str(&data).unwrap());
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(EVENTUALLY, self.stream.read(&mut chunk))
                .await
                .expect("an event within the deadline")
                .unwrap();
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads snapshots until one satisfies `pred`.
    async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no snapshot showed {what} within {EVENTUALLY:?}"
            );
            let snap = self.next().await.expect("the stream stays open");
            if pred(&snap) {
                return snap;
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn queue<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no queue {name} in {body}"))
}

#[tokio::test]
async fn health_answers_with_version_and_queues() {
    let server = Server::start(None).await;
    let r = server.get("/").await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_seconds"].is_u64());
    assert_eq!(body["queues"], json!(["default", "emails"]));
    server.shutdown().await;
}

#[tokio::test]
async fn queues_show_engine_and_counts() {
    let server = Server::start(None).await;
    server.send(1, "one").await;
    server.send(2, "two").await;
    server
        .send_dead(3, "receiver `admin_test.audit` failed: boom")
        .await;

    let r = server.get("/api/queues").await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let body = r.json();
    let default = queue(&body, "default");
    assert_eq!(default["engine"], "memory");
    assert_eq!(
        default["counts"],
        json!({"pending": 2, "scheduled": 0, "in_flight": 0, "dead": 1})
    );
    assert_eq!(default["error"], Value::Null);
    assert_eq!(queue(&body, "emails")["counts"]["pending"], 0);
    server.shutdown().await;
}

#[tokio::test]
async fn pending_entries_are_decoded_and_garbage_is_shown_raw() {
    let server = Server::start(None).await;
    let id = server.send(42, "gift wrap").await;
    // The same signal in the JSON codec, as another service might send it.
    let json_runtime = Runtime::builder()
        .codec(Codec::Json)
        .queue("default", server.engine.clone())
        .build();
    let _ = json_runtime
        .scope(ORDER_PLACED.send(43, "json".into()))
        .await
        .unwrap();
    server
        .engine
        .enqueue(&[Outgoing::new(
            EnvelopeId::new(),
            b"not an envelope\x00\xff".to_vec(),
        )])
        .await
        .unwrap();

    let r = server.get("/api/queues/default/pending").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 3);

    let first = &entries[0];
    assert_eq!(first["id"], id.to_string());
    assert_eq!(first["signal"], "admin_test.order_placed");
    assert_eq!(first["sender"], "shop.Order");
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["codec"], "bincode");
    assert_eq!(first["args"], json!({"order_id": 42, "note": "gift wrap"}));
    assert_eq!(first["error"], Value::Null);
    assert!(first["enqueued_at"].as_str().unwrap().ends_with('Z'));

    assert_eq!(entries[1]["codec"], "json");
    assert_eq!(entries[1]["sender"], Value::Null);
    assert_eq!(entries[1]["args"], json!({"order_id": 43, "note": "json"}));

    let garbage = &entries[2];
    assert_eq!(garbage["signal"], Value::Null);
    assert_eq!(garbage["raw"], "not an envelope\\x00\\xff");
    assert!(garbage["error"]
        .as_str()
        .unwrap()
        .contains("not a signalqueue envelope"));

    let r = server.get("/api/queues/default/pending?limit=1").await;
    assert_eq!(r.json()["entries"].as_array().unwrap().len(), 1);
    for bad in ["0", "abc", "100000"] {
        let r = server
            .get(&format!("/api/queues/default/pending?limit={bad}"))
            .await;
        assert_eq!(r.status, 400, "limit={bad}");
        assert!(r.json()["error"].as_str().unwrap().contains("`limit`"));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn dead_letters_carry_their_reason() {
    let server = Server::start(None).await;
    server
        .send_dead(7, "receiver `admin_test.audit` failed: boom")
        .await;
    let r = server.get("/api/queues/default/dead").await;
    assert_eq!(r.status, 200);
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["signal"], "admin_test.order_placed");
    assert_eq!(entries[0]["args"], json!({"order_id": 7, "note": "doomed"}));
    assert_eq!(
        entries[0]["reason"],
        "receiver `admin_test.audit` failed: boom"
    );
    assert!(entries[0]["died_at"].as_str().unwrap().ends_with('Z'));
    assert!(entries[0]["key"].is_string());
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_queue_is_a_404_naming_the_known_ones() {
    let server = Server::start(Some("t0ken")).await;
    for r in [
        server.get("/api/queues/nope/pending").await,
        server.get("/api/queues/nope/dead").await,
        server
            .post("/api/queues/nope/dead/replay", Some("t0ken"), "")
            .await,
    ] {
        assert_eq!(r.status, 404);
        let body = r.json();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("unknown queue `nope`"), "{error}");
        assert!(error.contains("`default`"), "{error}");
        assert_eq!(body["known_queues"], json!(["default", "emails"]));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn actions_are_disabled_without_a_configured_token() {
    let server = Server::start(None).await;
    server.send_dead(1, "boom").await;
    for action in ["replay", "purge"] {
        let r = server
            .post(
                &format!("/api/queues/default/dead/{action}"),
                Some("anything"),
                "",
            )
            .await;
        assert_eq!(r.status, 403, "{action}");
        assert_eq!(
            r.json()["error"],
            "actions are disabled: set SIGNALQUEUE_ADMIN_TOKEN on the worker"
        );
    }
    assert_eq!(
        server.engine.counts().await.unwrap().dead,
        1,
        "nothing changed"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn actions_need_the_right_token() {
    let server = Server::start(Some("s3cret")).await;
    server.send_dead(1, "boom").await;
    for token in [None, Some("wrong"), Some("s3cre"), Some("s3cret-and-more")] {
        let r = server
            .post("/api/queues/default/dead/purge", token, "")
            .await;
        assert_eq!(r.status, 401, "token {token:?}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        assert!(r.json()["error"].is_string());
    }
    // GET requests stay open: they only read.
    assert_eq!(server.get("/api/queues/default/dead").await.status, 200);
    assert_eq!(server.engine.counts().await.unwrap().dead, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn replay_moves_dead_letters_back_and_purge_removes_them() {
    let server = Server::start(Some("s3cret")).await;
    server.send_dead(1, "boom").await;
    server.send_dead(2, "boom").await;
    server.send_dead(3, "boom").await;

    // Replay one dead letter by key.
    let dead = server.get("/api/queues/default/dead").await.json();
    let key = dead["entries"][0]["key"].as_str().unwrap().to_string();
    let body = json!({ "keys": [key] }).to_string();
    let r = server
        .post("/api/queues/default/dead/replay", Some("s3cret"), &body)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["replayed"], 1);
    let counts = server.engine.counts().await.unwrap();
    assert_eq!((counts.pending, counts.dead), (1, 2));
    let pending = server.get("/api/queues/default/pending").await.json();
    assert_eq!(pending["entries"][0]["args"]["order_id"], 1);

    // A body that is not the expected shape is refused, changing nothing.
    let r = server
        .post(
            "/api/queues/default/dead/replay",
            Some("s3cret"),
            "{\"key\": 1}",
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("\"keys\""));

    // Replay all (empty body), then purge what died again.
    let r = server
        .post("/api/queues/default/dead/replay", Some("s3cret"), "")
        .await;
    assert_eq!(r.json()["replayed"], 2);
    let counts = server.engine.counts().await.unwrap();
    assert_eq!((counts.pending, counts.dead), (3, 0));

    server.send_dead(4, "boom").await;
    let r = server
        .post("/api/queues/default/dead/purge", Some("s3cret"), "")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["purged"], 1);
    assert_eq!(server.engine.counts().await.unwrap().dead, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn sqlite_queue_shows_counts_entries_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let engine = signalqueue::engine::open(&url, EngineOptions::new("default"))
        .await
        .unwrap();
    let server = Server::start_on(engine, Some("s3cret")).await;
    server.send(1, "one").await;
    server.send(2, "two").await;
    server.send_dead(3, "receiver failed: boom").await;

    let body = server.get("/api/queues").await.json();
    let default = queue(&body, "default");
    assert_eq!(default["engine"], "sqlite");
    assert_eq!(default["url"], url);
    assert_eq!(
        default["counts"],
        json!({"pending": 2, "scheduled": 0, "in_flight": 0, "dead": 1})
    );
    let pending = server.get("/api/queues/default/pending").await.json();
    let args: Vec<&Value> = pending["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["args"])
        .collect();
    assert_eq!(
        args,
        [
            &json!({"order_id": 1, "note": "one"}),
            &json!({"order_id": 2, "note": "two"})
        ]
    );
    let dead = server.get("/api/queues/default/dead").await.json();
    assert_eq!(dead["entries"][0]["reason"], "receiver failed: boom");

    let r = server
        .post("/api/queues/default/dead/replay", Some("s3cret"), "")
        .await;
    assert_eq!(r.json()["replayed"], 1);
    let counts = server.engine.counts().await.unwrap();
    assert_eq!((counts.pending, counts.dead), (3, 0));
    let text = server.get("/metrics").await.body;
    assert!(text.contains("signalqueue_queue_depth{queue=\"default\",state=\"pending\"} 3"));
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_queue_depths() {
    let server = Server::start(None).await;
    server.send(1, "a").await;
    server.send(2, "b").await;
    server.send_dead(3, "boom").await;
    server.metrics.record_handled("admin_test.order_placed");

    let r = server.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(r.body.ends_with("# EOF\n"), "{}", r.body);
    for line in [
        "# TYPE signalqueue_queue_depth gauge",
        "signalqueue_queue_depth{queue=\"default\",state=\"pending\"} 2",
        "signalqueue_queue_depth{queue=\"default\",state=\"dead\"} 1",
        "signalqueue_queue_depth{queue=\"emails\",state=\"pending\"} 0",
        "signalqueue_queue_up{queue=\"default\"} 1",
        "signalqueue_handled_total{signal=\"admin_test.order_placed\"} 1",
    ] {
        assert!(
            r.body.lines().any(|l| l == line),
            "missing `{line}` in\n{}",
            r.body
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn status_page_is_self_contained_and_shows_queues_entries_and_registry() {
    let server = Server::start(None).await;
    server.send(1, "<b>not markup</b>").await;
    server.send(2, "two").await;
    server.send_dead(3, "receiver failed: <boom>").await;
    server
        .engine
        .enqueue(&[Outgoing::new(
            EnvelopeId::new(),
            b"garbage<script>".to_vec(),
        )])
        .await
        .unwrap();

    let r = server.get("/status").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let html = &r.body;
    for needle in [
        r#"<dd data-queue="default" data-count="pending">3</dd>"#,
        r#"<dd data-queue="default" data-count="dead">1</dd>"#,
        r#"<dd data-queue="emails" data-count="pending">0</dd>"#,
        r#"data-field="engine">memory<"#,
        r#"<table class="entries" id="pending-default" data-queue="default" data-list="pending">"#,
        // Arguments decoded, and escaped.
        "&quot;note&quot;:&quot;&lt;b&gt;not markup&lt;/b&gt;&quot;",
        // The garbage entry: raw preview and the decode error, escaped.
        "<pre class=\"raw\">garbage&lt;script&gt;</pre>",
        "not a signalqueue envelope",
        "receiver failed: &lt;boom&gt;",
        // The registry: signal, arguments, queue, receiver with sender and retries.
        r#"<tr data-signal="admin_test.order_placed">"#,
        "order_id: u64, note: String",
        r#"<li data-receiver="admin_test.audit">"#,
        "sender shop.Order",
        "retries 2",
        // Actions are off without a token, and the page says how to turn them on.
        "set SIGNALQUEUE_ADMIN_TOKEN on the worker",
        "new EventSource(\"events\")",
    ] {
        assert!(html.contains(needle), "missing `{needle}` in the page");
    }
    // Nothing is loaded from elsewhere: the page works offline.
    for external in ["<link", " src=", "http://", "https://", "@import"] {
        assert!(
            !html.contains(external),
            "the page refers to an external resource: `{external}`"
        );
    }
    assert!(!html.contains("<b>not markup</b>"), "arguments are escaped");
    server.shutdown().await;
}

#[tokio::test]
async fn list_rows_are_served_as_the_page_renders_them() {
    let server = Server::start(None).await;
    server.send(1, "<i>one</i>").await;
    server.send_dead(2, "receiver failed: <boom>").await;
    let page = server.get("/status").await.body;
    for list in ["pending", "scheduled", "retries", "in_flight", "dead"] {
        let r = server.get(&format!("/status/queues/default/{list}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        let rows = if ["pending", "dead"].contains(&list) {
            "<tr data-key="
        } else {
            r#"<tr class="empty">"#
        };
        assert!(r.body.starts_with(rows), "{list}: {}", r.body);
        // The same markup as the page's own table: one renderer.
        assert!(
            page.contains(&r.body),
            "{list}: `{}` is not in the page",
            r.body
        );
    }
    assert!(server
        .get("/status/queues/default/pending")
        .await
        .body
        .contains("&lt;i&gt;one&lt;/i&gt;"));
    let empty = server.get("/status/queues/emails/dead").await;
    assert_eq!(
        empty.body.trim(),
        r#"<tr class="empty"><td colspan="8">none</td></tr>"#
    );
    let unknown = server.get("/status/queues/default/flying").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"]
        .as_str()
        .unwrap()
        .contains("the views are `pending`, `scheduled`, `retries`, `in_flight`, `dead`"));
    let no_queue = server.get("/status/queues/nope/pending").await;
    assert_eq!(no_queue.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn receivers_show_runs_failures_run_times_and_the_last_error() {
    use signalqueue_runner::metrics::RunResult;
    let server = Server::start(None).await;
    let (signal, receiver) = ("admin_test.order_placed", "admin_test.audit");
    for _ in 0..9 {
        server.metrics.record_run(
            signal,
            receiver,
            RunResult::Succeeded,
            Duration::from_millis(2),
            None,
        );
    }
    server.metrics.record_run(
        signal,
        receiver,
        RunResult::Failed,
        Duration::from_millis(40),
        Some("payment API said <503>"),
    );
    server.metrics.record_retry(signal, receiver);
    let api = server.get("/api/receivers").await.json();
    let audit = api["receivers"]
        .as_array()
        .expect("receivers")
        .iter()
        .find(|r| r["receiver"] == receiver)
        .unwrap_or_else(|| panic!("{api:#}"));
    assert_eq!(audit["signal"], signal);
    assert_eq!(
        (
            &audit["succeeded"],
            &audit["failed"],
            &audit["panicked"],
            &audit["retries"]
        ),
        (&json!(9), &json!(1), &json!(0), &json!(1)),
        "{api:#}"
    );
    let p50 = audit["p50_ms"].as_f64().expect("a p50");
    assert!(p50 > 1.0 && p50 <= 5.0, "{api:#}");
    let p99 = audit["p99_ms"].as_f64().expect("a p99");
    assert!(p99 > 25.0 && p99 <= 50.0, "{api:#}");
    assert_eq!(audit["last_error"], "payment API said <503>");
    assert!(humantime::parse_rfc3339(audit["last_error_at"].as_str().unwrap()).is_ok());

    let page = server.get("/status").await.body;
    let rows = server.get("/status/receivers").await.body;
    assert!(
        page.contains(&rows),
        "the page and the fragment differ:\n{rows}"
    );
    assert!(
        rows.contains("data-receiver=\"admin_test.audit\""),
        "{rows}"
    );
    assert!(rows.contains("<td data-field=\"failed\">1</td>"), "{rows}");
    assert!(rows.contains("payment API said &lt;503&gt;"), "{rows}");
    let metrics = server.get("/metrics").await.body;
    assert!(
        metrics.contains("signalqueue_receiver_duration_seconds_count{signal=\"admin_test.order_placed\",receiver=\"admin_test.audit\"} 10"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_last_hour_is_charted_from_the_handled_and_failed_counts() {
    use signalqueue_runner::metrics::RunResult;
    let server = Server::start(None).await;
    let page = server.get("/status").await.body;
    assert!(page.contains("<section id=\"activity\">"), "{page}");
    // The sampler keeps a point per second; a second's handled signals land in one of them.
    let deadline = std::time::Instant::now() + EVENTUALLY;
    let mut handled = 0u64;
    let history = loop {
        server.metrics.record_handled("admin_test.order_placed");
        server.metrics.record_run(
            "admin_test.order_placed",
            "admin_test.audit",
            RunResult::Panicked,
            Duration::ZERO,
            None,
        );
        handled += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let history = server.get("/api/history").await.json();
        let points = history["points"].as_array().unwrap();
        let sum = |k: &str| points.iter().map(|p| p[k].as_u64().unwrap()).sum::<u64>();
        if sum("handled") >= 3 && sum("failed") >= 3 {
            break history;
        }
        assert!(std::time::Instant::now() < deadline, "{history:#}");
    };
    assert_eq!(history["span_seconds"], 3600);
    let points = history["points"].as_array().unwrap();
    let total: u64 = points.iter().map(|p| p["handled"].as_u64().unwrap()).sum();
    assert!(total <= handled, "{total} charted, {handled} handled");
    let t: Vec<u64> = points.iter().map(|p| p["t"].as_u64().unwrap()).collect();
    assert!(
        t.windows(2).all(|w| w[1] == w[0] + 1),
        "one point a second: {t:?}"
    );
    let chart = server.get("/status/chart").await.body;
    assert!(chart.starts_with("<div class=\"chart-frame\""), "{chart}");
    assert_eq!(chart.matches("<svg class=\"chart\"").count(), 1, "{chart}");
    assert_eq!(chart.matches("<polyline").count(), 2, "{chart}");
    // Its scale: the peak at the top, and how far back it reaches.
    let peak = chart
        .split("data-peak=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the peak");
    assert!(chart.contains(&format!(">{peak}/s</span>")), "{chart}");
    assert!(chart.contains(">1m ago</span>"), "{chart}");
    assert!(chart.contains(">now</span>"), "{chart}");
    server.shutdown().await;
}

#[tokio::test]
async fn workers_are_listed_from_their_heartbeats_once_each() {
    let server = Server::start(None).await;
    let beats = server.engine.heartbeats().expect("heartbeats");
    let info = json!({"id": "web-1:42:ab", "host": "web-1", "pid": 42, "version": "9.9.9",
        "queues": ["default"], "concurrency": 8, "busy": 3,
        "started_at": "2026-12-01T10:00:00Z", "beat_at": "2026-12-01T10:05:00Z"});
    beats
        .beat(
            "web-1:42:ab",
            info.to_string().as_bytes(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    // The same worker on the other queue's engine is one row, not two.
    let emails = server.runtime.queue("emails").unwrap().clone();
    emails
        .heartbeats()
        .unwrap()
        .beat(
            "web-1:42:ab",
            info.to_string().as_bytes(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    beats
        .beat("odd:1:1", b"not json", Duration::from_secs(60))
        .await
        .unwrap();
    let api = server.get("/api/workers").await.json();
    let workers = api["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2, "{api:#}");
    let web = workers.iter().find(|w| w["id"] == "web-1:42:ab").unwrap();
    assert_eq!(web, &info);
    let odd = workers.iter().find(|w| w["id"] == "odd:1:1").unwrap();
    assert!(
        odd["error"].as_str().unwrap().contains("not JSON"),
        "{api:#}"
    );
    assert_eq!(api["errors"], json!([]));
    let rows = server.get("/status/workers").await.body;
    assert!(
        rows.contains("<tr data-worker=\"web-1:42:ab\"><td>web-1</td><td>42</td><td>9.9.9</td>"),
        "{rows}"
    );
    assert!(rows.contains("3 / 8"), "{rows}");
    let page = server.get("/status").await.body;
    assert!(page.contains(&rows), "{page}");
    server.shutdown().await;
}

#[tokio::test]
async fn events_stream_snapshots_that_follow_the_queue() {
    let server = Server::start(None).await;
    server.send(1, "a").await;
    let mut events = Events::open(server.addr).await;
    let first = events.next().await.expect("a first snapshot");
    assert_eq!(queue(&first, "default")["counts"]["pending"], 1);
    assert!(first["at"].as_str().unwrap().ends_with('Z'));

    server.send(2, "b").await;
    server.send(3, "c").await;
    events
        .until("3 pending", |s| {
            queue(s, "default")["counts"]["pending"] == 3
        })
        .await;

    // Handled signals show up in the queue of their signal, with a rate.
    for _ in 0..4 {
        server.metrics.record_handled("admin_test.order_placed");
    }
    let snap = events
        .until("4 handled", |s| queue(s, "default")["handled_total"] == 4)
        .await;
    assert!(
        queue(&snap, "default")["handled_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(queue(&snap, "emails")["handled_total"], 0);
    assert_eq!(snap["handled_total"], 4);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_event_streams() {
    let server = Server::start(None).await;
    let mut events = Events::open(server.addr).await;
    events.next().await.expect("a first snapshot");
    // A browser left open on the status page must not hold the shutdown up.
    server.shutdown().await;
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    while events.next().await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream did not end"
        );
    }
}

#[tokio::test]
async fn outboxes_show_their_depth_in_the_api_the_metrics_and_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let app_db = dir.path().join("app.db");
    let outbox = signalqueue::outbox::Outbox::open(&format!("sqlite://{}", app_db.display()))
        .await
        .unwrap();
    let runtime = Runtime::builder()
        .queue("default", MemoryEngine::new(EngineOptions::new("default")))
        .queue("emails", MemoryEngine::new(EngineOptions::new("emails")))
        .outbox(outbox)
        .build();
    // Three signals committed into the outbox by the app's own transaction; nothing relays.
    let mut conn = rusqlite::Connection::open(&app_db).unwrap();
    runtime
        .scope(async {
            let tx = conn.transaction().unwrap();
            for n in 0..3 {
                let _ = ORDER_PLACED.send_in(&tx, n, "held".into()).await.unwrap();
            }
            tx.commit().unwrap();
        })
        .await;
    let server = Server::start_runtime(runtime, None).await;

    let api = server.get("/api/outboxes").await.json();
    let shown = format!("sqlite://{}", app_db.display());
    assert_eq!(api["outboxes"][0]["url"], json!(shown), "{api}");
    assert_eq!(api["outboxes"][0]["depth"], json!(3), "{api}");
    assert!(api["outboxes"][0]["oldest_age_ms"].is_u64(), "{api}");

    let metrics = server.get("/metrics").await.body;
    for line in [
        format!("signalqueue_outbox_depth{{outbox=\"{shown}\"}} 3"),
        format!("signalqueue_outbox_up{{outbox=\"{shown}\"}} 1"),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing `{line}` in\n{metrics}"
        );
    }
    assert!(
        metrics.contains("signalqueue_outbox_oldest_age_seconds{outbox="),
        "{metrics}"
    );

    let page = server.get("/status").await.body;
    assert!(page.contains("<h2>Outboxes</h2>"), "{page}");
    assert!(page.contains("data-field=\"outbox-depth\">3<"), "{page}");
    server.shutdown().await;
}

#[tokio::test]
async fn schedules_show_the_last_tick_and_the_next_ones_in_the_api_and_the_page() {
    let server = Server::start(None).await;
    let api = server.get("/api/schedules").await.json();
    let signals = api["signals"].as_array().expect("signals");
    assert_eq!(signals.len(), 1, "{api:#}");
    let sweep = &signals[0];
    assert_eq!(sweep["name"], "admin_test.sweep", "{api:#}");
    assert_eq!(sweep["every"], "10m");
    assert_eq!(sweep["every_ms"], 600_000);
    assert_eq!(sweep["catch_up"], "none");
    assert_eq!(sweep["queue"], "default");
    assert_eq!(sweep["last_tick"], Value::Null, "{api:#}");
    assert_eq!(sweep["last_tick_error"], Value::Null, "{api:#}");
    let next: Vec<std::time::SystemTime> = sweep["next"]
        .as_array()
        .expect("next ticks")
        .iter()
        .map(|t| humantime::parse_rfc3339(t.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(next.len(), 3, "{api:#}");
    assert!(next[0] > std::time::SystemTime::now(), "{api:#}");
    for pair in next.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]).ok(),
            Some(Duration::from_secs(600)),
            "{api:#}"
        );
    }
    let page = server.get("/status").await.body;
    assert!(page.contains("<h2>Periodic signals</h2>"), "{page}");
    assert!(page.contains("data-signal=\"admin_test.sweep\""), "{page}");
    assert!(page.contains("every 10m"), "{page}");
    assert!(page.contains("none yet"), "{page}");

    // A tick enqueued (as a worker's scheduler would) shows as the last one, in both.
    let tick = humantime::parse_rfc3339("2026-01-01T00:10:00Z").unwrap();
    let entry = Outgoing::new(EnvelopeId::new(), b"tick".to_vec());
    let ticks = server
        .engine
        .ticks()
        .expect("the memory engine keeps ticks");
    assert!(ticks
        .enqueue_tick("admin_test.sweep", tick, &entry)
        .await
        .unwrap());
    let api = server.get("/api/schedules").await.json();
    assert_eq!(
        api["signals"][0]["last_tick"], "2026-01-01T00:10:00Z",
        "{api:#}"
    );
    let page = server.get("/status").await.body;
    assert!(
        page.contains("<time datetime=\"2026-01-01T00:10:00Z\">"),
        "{page}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_schedule_whose_engine_is_down_says_why_and_the_rest_still_shows() {
    // Nothing listens on port 1: the engine cannot answer.
    let down = signalqueue::engine::open("redis://127.0.0.1:1/0", EngineOptions::new("default"))
        .await
        .unwrap();
    let server = Server::start_on(down, None).await;
    let api = server.get("/api/schedules").await.json();
    let sweep = &api["signals"][0];
    assert_eq!(sweep["last_tick"], Value::Null, "{api:#}");
    assert!(
        sweep["last_tick_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{api:#}"
    );
    assert_eq!(sweep["next"].as_array().map(Vec::len), Some(3), "{api:#}");
    let page = server.get("/status").await.body;
    assert!(page.contains("<span class=\"error\">unknown: "), "{page}");
    server.shutdown().await;
}

/// `GET path` with exactly this `Host` header; the status code and body.
async fn get_with_host(addr: SocketAddr, path: &str, host: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(EVENTUALLY, stream.read_to_end(&mut raw))
        .await
        .expect("the server answers")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    (parse_head(head).0, body.to_string())
}

#[tokio::test]
async fn requests_for_other_host_names_are_refused() {
    let server = Server::start(None).await;
    server.send(1, "secret argument").await;
    // What a DNS-rebinding page's requests look like: its own name, pointed at loopback.
    for path in ["/api/queues/default/pending", "/status", "/metrics"] {
        let (status, body) = get_with_host(server.addr, path, "evil.example:11231").await;
        assert_eq!(status, 421, "{path}: {body}");
        assert!(body.contains("admin_hosts"), "says what to do: {body}");
        assert!(!body.contains("secret argument"), "{body}");
    }
    let port = server.addr.port();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let (status, body) = get_with_host(server.addr, "/api/queues/default/pending", &host).await;
        assert_eq!(status, 200, "{host}: {body}");
        assert!(body.contains("secret argument"), "{body}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_status_page_renders_with_its_engine_down_and_says_so() {
    // Nothing listens on port 1: every call fails (or waits) as with a Redis that is down.
    let engine = signalqueue::engine::open("redis://127.0.0.1:1/0", EngineOptions::new("default"))
        .await
        .unwrap();
    let server = Server::start_on(engine, None).await;
    let page = server.get("/status").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("cannot reach redis://127.0.0.1:1/0"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("not read: the engine did not answer"),
        "the lists are not asked for: {}",
        page.body
    );
    // The other queue, on a healthy engine, is shown as usual.
    assert!(page.body.contains("id=\"queue-emails\""), "{}", page.body);
    assert!(
        page.body.contains(r#"id="retries-emails""#),
        "{}",
        page.body
    );
    server.shutdown().await;
}

#[tokio::test]
async fn views_are_paged_filtered_and_entries_found_through_the_json_api() {
    let server = Server::start(None).await;
    for n in 0..7 {
        server.send(n, "page").await;
    }
    // A retry as the worker writes it: attempt 2, its failure in the history.
    let _ = server
        .runtime
        .scope(ORDER_PLACED.send_with(
            SendOptions::new().delay(Duration::from_secs(3600)),
            100,
            "later".into(),
        ))
        .await
        .unwrap();
    let claimed = server
        .engine
        .claim(1, Duration::from_secs(60), Duration::ZERO)
        .await
        .unwrap();
    let mut retry = signalqueue::Envelope::decode(&claimed[0].payload).unwrap();
    retry.attempt = 2;
    retry.record_failure(
        1,
        "admin_test.audit",
        "payment API said <503>",
        std::time::SystemTime::now(),
    );
    assert!(server
        .engine
        .retry(
            &claimed[0].token,
            &retry.encode(),
            std::time::SystemTime::now() + Duration::from_secs(600)
        )
        .await
        .unwrap());

    // Keyset pages: 3 + 3 of the 6 pending left, then none.
    let first = server
        .get("/api/queues/default/pending?limit=3")
        .await
        .json();
    assert_eq!(first["entries"].as_array().unwrap().len(), 3, "{first:#}");
    assert_eq!(first["browsable"], true);
    let next = first["next"].as_str().expect("a next page").to_string();
    let second = server
        .get(&format!("/api/queues/default/pending?limit=3&after={next}"))
        .await
        .json();
    let notes: Vec<_> = second["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["args"]["order_id"].as_u64().unwrap())
        .collect();
    assert_eq!(notes, [4, 5, 6]);
    assert_eq!(second["next"], Value::Null);

    // Scheduled and retries split the scheduled section by attempt.
    let scheduled = server.get("/api/queues/default/scheduled").await.json();
    assert_eq!(
        scheduled["entries"].as_array().unwrap().len(),
        1,
        "{scheduled:#}"
    );
    assert_eq!(scheduled["entries"][0]["args"]["order_id"], 100);
    assert!(scheduled["entries"][0]["due"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let retries = server.get("/api/queues/default/retries").await.json();
    let r = &retries["entries"][0];
    assert_eq!(r["attempt"], 2, "{retries:#}");
    assert_eq!(r["history"][0]["error"], "payment API said <503>");
    assert_eq!(r["history"][0]["receiver"], "admin_test.audit");

    // A filter that matches one entry; one that matches none says so with an empty page.
    let id = r["id"].as_str().unwrap();
    let by_id = server
        .get(&format!(
            "/api/queues/default/retries?id={}",
            &id[..20].to_lowercase()
        ))
        .await
        .json();
    assert_eq!(by_id["entries"].as_array().unwrap().len(), 1);
    let none = server
        .get("/api/queues/default/pending?signal=nope")
        .await
        .json();
    assert_eq!(none["entries"], json!([]));
    assert_eq!(none["scanned"], 6);

    // One entry by key, with its envelope as `dump` shows it.
    let key = r["key"].as_str().unwrap();
    let found = server
        .get(&format!("/api/queues/default/entry?key={key}"))
        .await
        .json();
    assert_eq!(found["entry"]["section"], "scheduled");
    assert_eq!(found["entry"]["envelope"]["attempt"], 2);
    assert_eq!(
        found["entry"]["envelope"]["history"][0]["error"],
        "payment API said <503>"
    );
    let gone = server.get("/api/queues/default/entry?key=999999").await;
    assert_eq!(gone.status, 404);
    assert!(gone.json()["error"]
        .as_str()
        .unwrap()
        .contains("no entry with key `999999`"));
    let unnamed = server.get("/api/queues/default/entry").await;
    assert_eq!(unnamed.status, 400);
    let detail = server
        .get(&format!("/status/queues/default/entry?key={key}"))
        .await;
    assert!(
        detail.body.contains("payment API said &lt;503&gt;"),
        "{}",
        detail.body
    );
    server.shutdown().await;
}

#[tokio::test]
async fn entry_actions_need_the_token_and_act_on_the_chosen_entries() {
    let server = Server::start(Some("s3cret")).await;
    for n in 0..3 {
        server.send(n, "x").await;
    }
    let _ = server
        .runtime
        .scope(ORDER_PLACED.send_with(
            SendOptions::new().delay(Duration::from_secs(3600)),
            9,
            "later".into(),
        ))
        .await
        .unwrap();
    let pending = server.get("/api/queues/default/pending").await.json();
    let keys: Vec<String> = pending["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect();
    let body = json!({ "keys": &keys[..2] }).to_string();
    for token in [None, Some("wrong")] {
        for path in [
            "/api/queues/default/pending/delete",
            "/api/queues/default/scheduled/run_now",
            "/api/queues/default/dead/replay",
        ] {
            let r = server.post(path, token, &body).await;
            assert_eq!(r.status, 401, "{path} with {token:?}");
        }
    }
    assert_eq!(server.engine.counts().await.unwrap().pending, 3);
    let r = server
        .post("/api/queues/default/pending/delete", Some("s3cret"), &body)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["deleted"], 2);
    assert_eq!(server.engine.counts().await.unwrap().pending, 1);

    let scheduled = server.get("/api/queues/default/scheduled").await.json();
    let key = scheduled["entries"][0]["key"].as_str().unwrap().to_string();
    let r = server
        .post(
            "/api/queues/default/scheduled/run_now",
            Some("s3cret"),
            &json!({ "keys": [key] }).to_string(),
        )
        .await;
    assert_eq!(r.json()["moved"], 1, "{}", r.body);
    let counts = server.engine.counts().await.unwrap();
    assert_eq!((counts.pending, counts.scheduled), (2, 0));

    for (path, body, status, says) in [
        (
            "/api/queues/default/pending/run_now",
            r#"{"keys":["1"]}"#,
            400,
            "not waiting for a time",
        ),
        (
            "/api/queues/default/in_flight/delete",
            r#"{"keys":["1"]}"#,
            400,
            "belongs to the worker",
        ),
        (
            "/api/queues/default/pending/delete",
            r#"{"keys":[]}"#,
            400,
            "choose at least one",
        ),
        ("/api/queues/default/pending/delete", "", 400, "{\"keys\""),
        (
            "/api/queues/default/pending/explode",
            r#"{"keys":["1"]}"#,
            404,
            "no action `explode`",
        ),
        (
            "/api/queues/default/flying/delete",
            r#"{"keys":["1"]}"#,
            404,
            "no view `flying`",
        ),
    ] {
        let r = server.post(path, Some("s3cret"), body).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains(says),
            "{path}: {}",
            r.body
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_filter_scans_a_bounded_number_of_entries_and_hands_back_a_cursor() {
    let server = Server::start(None).await;
    let many: Vec<Outgoing> = (0..2500u64)
        .map(|n| {
            let e = signalqueue::Envelope::new(
                "admin_test.order_placed",
                None,
                signalqueue::Payload::Json(json!({"order_id": n, "note": "bulk"})),
            );
            Outgoing::new(e.id, e.encode())
        })
        .collect();
    server.engine.enqueue(&many).await.unwrap();
    // Nothing matches: the first request stops at its bound and says where to go on.
    let first = server
        .get("/api/queues/default/pending?signal=nope&limit=10")
        .await
        .json();
    assert_eq!(first["entries"], json!([]));
    let scanned = first["scanned"].as_u64().unwrap();
    assert!((2000..2500).contains(&scanned), "{first:#}");
    let next = first["next"].as_str().expect("a cursor to go on from");
    let rest = server
        .get(&format!(
            "/api/queues/default/pending?signal=nope&limit=10&after={next}"
        ))
        .await
        .json();
    assert_eq!(rest["next"], Value::Null, "{rest:#}");
    assert_eq!(scanned + rest["scanned"].as_u64().unwrap(), 2500);
    // The page says so too.
    let rows = server
        .get("/status/queues/default/pending?signal=nope")
        .await
        .body;
    assert!(rows.contains("no match among the"), "{rows}");
    assert!(rows.contains("next page"), "{rows}");
    server.shutdown().await;
}
