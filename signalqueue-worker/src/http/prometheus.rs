//! `GET /metrics`: the worker's counters and the queues' depths in Prometheus text format.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::App;

/// The content type of the Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Reads the depths at request time rather than from the sampler, so a scrape is never older
/// than the scrape itself.
pub(super) async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let samples = futures_util::future::join_all(
        app.queues
            .iter()
            .map(|q| async { (q.name.clone(), q.counts().await.map_err(|e| e.to_string())) }),
    )
    .await;
    for (queue, result) in &samples {
        if let Err(e) = result {
            tracing::warn!(%queue, "queue depth left out of /metrics: {e}");
        }
    }
    let mut text = app.admin.metrics.render_prometheus_with_health(&samples);
    text.push_str(&super::outboxes::prometheus(
        &super::outboxes::read(&app).await,
    ));
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}
