//! The receivers view: for each receiver linked into the worker, its runs, failures, run
//! time (p50, p99) and last error, for `GET /api/receivers` and the status page.

use std::fmt::Write as _;

use axum::extract::State;
use axum::Json;

use super::App;
use crate::metrics::ReceiverView;

/// `GET /api/receivers`: `{"receivers": [RECEIVER...]}` (`docs/operations.md`).
pub(super) async fn api(State(app): State<App>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "receivers": app.admin.metrics.receivers() }))
}

/// `GET /status/receivers`: the table's rows, for the script to swap in.
pub(super) async fn rows(State(app): State<App>) -> axum::response::Html<String> {
    let mut out = String::new();
    render_rows(&mut out, &app.admin.metrics.receivers());
    axum::response::Html(out)
}

/// The receivers as a section of the status page.
pub(super) fn render(out: &mut String, views: &[ReceiverView]) {
    out.push_str(
        "<section id=\"receivers\">\n<h2>Receivers <small>(since this worker started)</small></h2>\n\
         <table class=\"receivers\" data-list=\"receivers\">\n<thead><tr><th>receiver</th><th>signal</th>\
         <th>succeeded</th><th>failed</th><th>panicked</th><th>retries</th><th>p50</th><th>p99</th>\
         <th>last error</th></tr></thead>\n<tbody>\n",
    );
    render_rows(out, views);
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn render_rows(out: &mut String, views: &[ReceiverView]) {
    if views.is_empty() {
        out.push_str("<tr class=\"empty\"><td colspan=\"9\">no receiver is linked into this worker</td></tr>\n");
    }
    let e = |s: &str| html_escape::encode_text(s).into_owned();
    let ms = |v: Option<f64>| v.map_or("—".to_string(), duration_text);
    for v in views {
        let last = match (&v.last_error, &v.last_error_at) {
            (Some(err), Some(at)) => format!(
                "<span class=\"error\">{}</span><br><small><time datetime=\"{at}\">{at}</time></small>",
                e(err)
            ),
            _ => "—".to_string(),
        };
        let _ = writeln!(
            out,
            "<tr data-receiver=\"{receiver}\" data-signal=\"{signal}\"><td><code>{receiver}</code></td><td><code>{signal}</code></td>\
             <td data-field=\"succeeded\">{ok}</td><td data-field=\"failed\">{failed}</td><td data-field=\"panicked\">{panicked}</td>\
             <td data-field=\"retries\">{retries}</td><td data-field=\"p50\">{p50}</td><td data-field=\"p99\">{p99}</td>\
             <td data-field=\"last-error\">{last}</td></tr>",
            receiver = html_escape::encode_double_quoted_attribute(v.receiver),
            signal = html_escape::encode_double_quoted_attribute(v.signal),
            ok = v.succeeded,
            failed = v.failed,
            panicked = v.panicked,
            retries = v.retries,
            p50 = ms(v.p50_ms),
            p99 = ms(v.p99_ms),
        );
    }
}

/// `0.42 ms`, `37 ms`, `2.5 s`: three significant figures at most.
fn duration_text(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}
