//! `GET /metrics`: the worker's counters and the queues' depths, OpenMetrics text.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::App;
use crate::metrics::openmetrics::{self, Gauges, OutboxGauges};

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
    let outboxes = super::outboxes::read(&app)
        .await
        .into_iter()
        .map(|o| OutboxGauges {
            url: o.url,
            depth: o.depth,
            oldest_age_seconds: o.oldest_age_ms.map(|ms| ms as f64 / 1000.0),
        })
        .collect();
    let gauges = Gauges {
        queues: samples,
        outboxes,
    };
    let text = openmetrics::encode(app.admin.metrics.clone(), gauges);
    ([(header::CONTENT_TYPE, openmetrics::CONTENT_TYPE)], text)
}
