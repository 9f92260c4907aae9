//! The read-only JSON API: health, queues with their counts, pending entries, dead letters.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use signalqueue::engine::Counts;

use super::api_error::ApiError;
use super::entries::EntryView;
use super::{App, ServedQueue};

/// How many entries a list returns when the request does not say.
const DEFAULT_LIMIT: usize = 100;
/// The most a list returns, so one request cannot make the worker read a whole queue.
const MAX_LIMIT: usize = 1000;

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

/// The query of the list endpoints. `limit` is text so a bad value gets our error message.
#[derive(Debug, Deserialize)]
pub(super) struct ListParams {
    limit: Option<String>,
}

impl ListParams {
    fn limit(&self) -> Result<usize, ApiError> {
        match self.limit.as_deref() {
            None | Some("") => Ok(DEFAULT_LIMIT),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("`limit` must be a number from 1 to {MAX_LIMIT}, not `{text}`"),
                )),
            },
        }
    }
}

/// `GET /api/queues/NAME/pending?limit=N`: pending (and scheduled) entries, oldest first.
pub(super) async fn pending(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    list(&app, &name, &params, Listed::Pending).await
}

/// `GET /api/queues/NAME/dead?limit=N`: dead letters, oldest first, with why they died.
pub(super) async fn dead(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    list(&app, &name, &params, Listed::Dead).await
}

/// Which entries a list shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Listed {
    Pending,
    Dead,
}

/// The first `limit` entries of a list of `queue`, decoded for showing (bounded in time).
pub(super) async fn entries(
    queue: &ServedQueue,
    listed: Listed,
    limit: usize,
) -> Result<Vec<EntryView>, signalqueue::engine::EngineError> {
    match listed {
        Listed::Pending => queue
            .bounded(queue.engine.pending(limit))
            .await
            .map(|all| all.iter().map(EntryView::pending).collect()),
        Listed::Dead => queue
            .bounded(queue.engine.dead(limit))
            .await
            .map(|all| all.iter().map(EntryView::dead).collect()),
    }
}

/// The answer of a list endpoint: up to `limit` entries of queue `name`, decoded.
async fn list(
    app: &App,
    name: &str,
    params: &ListParams,
    listed: Listed,
) -> Result<Json<serde_json::Value>, ApiError> {
    let queue = app.queue(name)?;
    let limit = params.limit()?;
    let entries = entries(queue, listed, limit)
        .await
        .map_err(|e| ApiError::engine(name, &e))?;
    Ok(Json(serde_json::json!({
        "queue": name,
        "limit": limit,
        "entries": entries,
    })))
}
