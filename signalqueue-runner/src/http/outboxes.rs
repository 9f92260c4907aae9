//! The outboxes the worker relays (`[outbox]`): how many rows wait and for how long, for
//! `GET /api/outboxes`, `/metrics` (`metrics::openmetrics`) and the status page.

use std::fmt::Write as _;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::App;

/// One outbox, as read at request time.
#[derive(Debug, Serialize)]
pub(super) struct OutboxView {
    /// The outbox's database, password removed.
    pub(super) url: String,
    /// Rows waiting to be relayed; `None` when the database did not answer.
    pub(super) depth: Option<u64>,
    /// How long the oldest has waited, in milliseconds.
    pub(super) oldest_age_ms: Option<u64>,
    /// Why the database did not answer.
    pub(super) error: Option<String>,
}

/// Every outbox of the runtime, read now.
pub(super) async fn read(app: &App) -> Vec<OutboxView> {
    futures_util::future::join_all(app.admin.runtime.outboxes().iter().map(|o| async move {
        match o.stats().await {
            Ok(s) => OutboxView {
                url: o.describe().to_string(),
                depth: Some(s.depth),
                oldest_age_ms: Some(s.oldest_age_ms),
                error: None,
            },
            Err(e) => OutboxView {
                url: o.describe().to_string(),
                depth: None,
                oldest_age_ms: None,
                error: Some(e.to_string()),
            },
        }
    }))
    .await
}

/// `GET /api/outboxes`: `{"outboxes": [{url, depth, oldest_age_ms, error}]}`.
pub(super) async fn api(State(app): State<App>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "outboxes": read(&app).await }))
}

/// The outboxes as a section of the status page.
pub(super) fn render(out: &mut String, views: &[OutboxView]) {
    if views.is_empty() {
        return;
    }
    out.push_str("<section id=\"outboxes\">\n<h2>Outboxes</h2>\n<table>\n<tr><th>database</th><th>waiting</th><th>oldest</th></tr>\n");
    for v in views {
        let url = html_escape::encode_text(&v.url);
        match (&v.error, v.depth, v.oldest_age_ms) {
            (None, Some(depth), Some(age)) => {
                let _ = writeln!(
                    out,
                    "<tr class=\"outbox\"><td><code>{url}</code></td><td data-field=\"outbox-depth\">{depth}</td><td>{:.1} s</td></tr>",
                    age as f64 / 1000.0
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "<tr class=\"outbox\"><td><code>{url}</code></td><td colspan=\"2\" class=\"error\">unreachable: {}</td></tr>",
                    html_escape::encode_text(v.error.as_deref().unwrap_or("no answer"))
                );
            }
        }
    }
    out.push_str("</table>\n</section>\n");
}
