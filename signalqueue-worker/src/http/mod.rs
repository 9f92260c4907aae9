//! The admin HTTP server: health, status page, JSON API, metrics, dead-letter actions.

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};

use crate::metrics::Metrics;

/// What the admin server reads.
#[derive(Clone)]
pub struct AdminState {
    /// The queues (engines) and settings.
    pub runtime: signalqueue::Runtime,
    /// The queues this worker serves, by name.
    pub queues: Vec<String>,
    /// The worker's counters.
    pub metrics: Arc<Metrics>,
    /// The token `POST` actions require; `None` disables them.
    pub token: Option<String>,
}

/// Serves the admin pages on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
