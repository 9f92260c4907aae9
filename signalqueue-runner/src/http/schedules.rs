//! The periodic signals linked into this worker, for `GET /api/schedules` and the status page:
//! the same view as `signalqueue-worker schedule` ([`crate::periodic`]).

use std::fmt::Write as _;
use std::time::SystemTime;

use axum::extract::State;
use axum::Json;
use signalqueue::Registry;

use super::App;
use crate::periodic::{self, PeriodicView};

/// Every periodic signal, with its last tick read from its queue's engine (bounded by the
/// server's engine deadline, so an engine that is down shows as an error on its row).
pub(super) async fn read(app: &App) -> Vec<PeriodicView> {
    periodic::read(Registry::global(), |queue| async move {
        let engine =
            app.admin.runtime.queue(queue).cloned().ok_or_else(|| {
                format!("queue `{queue}` is not configured in this worker's runtime")
            })?;
        match tokio::time::timeout(super::ENGINE_DEADLINE, engine.ping()).await {
            Ok(Ok(())) => Ok(engine),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "{} gave no answer within {} ms",
                engine.describe(),
                super::ENGINE_DEADLINE.as_millis()
            )),
        }
    })
    .await
}

/// `GET /api/schedules`: `{"signals": [...]}`, the shape of `schedule --json`.
pub(super) async fn api(State(app): State<App>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "signals": read(&app).await }))
}

/// The periodic signals as a section of the status page (none: no section).
pub(super) fn render(out: &mut String, views: &[PeriodicView]) {
    if views.is_empty() {
        return;
    }
    let now = SystemTime::now();
    out.push_str("<section id=\"schedules\">\n<h2>Periodic signals</h2>\n<table>\n<tr><th>signal</th><th>when</th><th>catch-up</th><th>queue</th><th>last tick enqueued</th><th>next ticks</th></tr>\n");
    for v in views {
        let e = |s: &str| html_escape::encode_text(s).into_owned();
        let last = match (&v.last_tick, &v.last_tick_error) {
            (Some(t), _) => format!("<time datetime=\"{t}\">{t}</time>"),
            (None, Some(err)) => format!("<span class=\"error\">unknown: {}</span>", e(err)),
            (None, None) => "none yet".to_string(),
        };
        let next = v
            .ticks
            .iter()
            .zip(&v.next)
            .map(|(t, text)| {
                format!(
                    "<time datetime=\"{text}\">{text}</time> (in {})",
                    periodic::until(now, *t)
                )
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            out,
            "<tr class=\"schedule\" data-signal=\"{name}\"><td><code>{name}</code></td><td>{when}</td><td>{catch_up}</td><td><code>{queue}</code></td><td data-field=\"last-tick\">{last}</td><td data-field=\"next-ticks\">{next}</td></tr>",
            name = e(v.name),
            when = e(&v.when),
            catch_up = e(v.catch_up),
            queue = e(v.queue),
            next = if next.is_empty() { "none".to_string() } else { next },
        );
    }
    out.push_str("</table>\n</section>\n");
}
