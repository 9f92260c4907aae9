//! The read-only JSON API: health and the queues with their counts (the entry views are
//! `views.rs`).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use signalqueue::engine::Counts;

use super::{App, ServedQueue};

/// `GET /`: answers as long as the server runs; it does not touch the engines, so a load
/// balancer's health check stays cheap and says "the process is up", nothing more.
pub(super) async fn health(State(app): State<App>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.admin.metrics.uptime().as_secs(),
        "queues": app.queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
    }))
}

/// One queue in `GET /api/queues`.
#[derive(Debug, Serialize)]
pub(super) struct QueueView {
    pub(super) name: String,
    /// The engine kind: `memory`, `sqlite`, `redis`...
    pub(super) engine: &'static str,
    /// The engine's URL, password removed.
    pub(super) url: String,
    /// `None` when the engine did not answer; `error` says why.
    pub(super) counts: Option<Counts>,
    pub(super) error: Option<String>,
    /// Signals of this queue whose receivers all finished, since the worker started.
    pub(super) handled_total: u64,
    /// The same, per second over the last few seconds.
    pub(super) handled_per_second: f64,
}

impl QueueView {
    pub(super) async fn read(app: &App, queue: &ServedQueue) -> QueueView {
        let (counts, error) = match queue.counts().await {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let (handled_total, handled_per_second) = app.live.borrow().handled(&queue.name);
        QueueView {
            name: queue.name.clone(),
            engine: queue.engine.kind(),
            // `describe` already hides passwords; redacting again costs nothing and keeps a
            // future engine that forgets from putting one on a page anyone may open.
            url: signalqueue::engine::redact_url(&queue.engine.describe()),
            counts,
            error,
            handled_total,
            handled_per_second,
        }
    }
}

/// `GET /api/queues`: `{"queues": [...]}`; an object so fields can be added without breaking
/// clients.
pub(super) async fn queues(State(app): State<App>) -> Json<serde_json::Value> {
    let mut views = Vec::with_capacity(app.queues.len());
    for q in app.queues.iter() {
        views.push(QueueView::read(&app, q).await);
    }
    Json(serde_json::json!({ "queues": views }))
}
