//! The outboxes the worker relays (`[outbox]`): how many rows wait and for how long, for
//! `GET /api/outboxes`, `/metrics` and the status page.

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

/// The outboxes in Prometheus text: depth, age of the oldest row, and whether it answered.
/// The label is the configured URL (redacted), so its values are bounded by the configuration.
pub(super) fn prometheus(views: &[OutboxView]) -> String {
    let mut out = String::new();
    if views.is_empty() {
        return out;
    }
    let label = |v: &OutboxView| v.url.replace('\\', "\\\\").replace('"', "\\\"");
    out.push_str("# HELP signalqueue_outbox_depth Rows waiting in the outbox to be relayed.\n# TYPE signalqueue_outbox_depth gauge\n");
    for v in views.iter().filter(|v| v.depth.is_some()) {
        let _ = writeln!(
            out,
            "signalqueue_outbox_depth{{outbox=\"{}\"}} {}",
            label(v),
            v.depth.unwrap_or(0)
        );
    }
    out.push_str("# HELP signalqueue_outbox_oldest_age_seconds How long the oldest row of the outbox has waited.\n# TYPE signalqueue_outbox_oldest_age_seconds gauge\n");
    for v in views.iter().filter(|v| v.oldest_age_ms.is_some()) {
        let _ = writeln!(
            out,
            "signalqueue_outbox_oldest_age_seconds{{outbox=\"{}\"}} {:.3}",
            label(v),
            v.oldest_age_ms.unwrap_or(0) as f64 / 1000.0
        );
    }
    out.push_str("# HELP signalqueue_outbox_up Whether the outbox's database answered (1) or not (0).\n# TYPE signalqueue_outbox_up gauge\n");
    for v in views {
        let _ = writeln!(
            out,
            "signalqueue_outbox_up{{outbox=\"{}\"}} {}",
            label(v),
            u8::from(v.error.is_none())
        );
    }
    out
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
