//! The workers view: every live worker process serving the shown queues, as its heartbeats
//! describe it (host, pid, version, queues, concurrency, busy, started at, last heartbeat), for
//! `GET /api/workers` and the status page. Read from the engines, so it lists the other
//! machines' workers too; a worker that died drops out when its last beat expires.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::App;

/// The live workers, one object each (its last heartbeat's JSON), by id; and the queues that
/// could not be read, with why.
pub(super) async fn read(app: &App) -> (Vec<Value>, Vec<(String, String)>) {
    let answers = futures_util::future::join_all(app.queues.iter().map(|q| async move {
        let Some(beats) = q.engine.heartbeats() else {
            return (q.name.clone(), Ok(Vec::new()));
        };
        (q.name.clone(), q.bounded(beats.workers()).await)
    }))
    .await;
    let mut workers: BTreeMap<String, Value> = BTreeMap::new();
    let mut errors = Vec::new();
    for (queue, answer) in answers {
        match answer {
            Err(e) => errors.push((queue, e.to_string())),
            Ok(beats) => {
                for beat in beats {
                    // Several queues on one engine each hold the worker's beat: one row.
                    let info = serde_json::from_slice::<Value>(&beat.info).unwrap_or_else(|e| {
                        serde_json::json!({
                            "id": beat.worker,
                            "error": format!("its heartbeat is not JSON: {e}"),
                        })
                    });
                    workers.entry(beat.worker).or_insert(info);
                }
            }
        }
    }
    (workers.into_values().collect(), errors)
}

/// `GET /api/workers`: `{"workers": [WORKER...], "errors": [{"queue", "error"}]}`.
pub(super) async fn api(State(app): State<App>) -> Json<Value> {
    let (workers, errors) = read(&app).await;
    Json(serde_json::json!({
        "workers": workers,
        "errors": errors
            .into_iter()
            .map(|(queue, error)| serde_json::json!({ "queue": queue, "error": error }))
            .collect::<Vec<_>>(),
    }))
}

/// `GET /status/workers`: the table's rows, for the script to swap in.
pub(super) async fn rows(State(app): State<App>) -> axum::response::Html<String> {
    let (workers, errors) = read(&app).await;
    let mut out = String::new();
    render_rows(&mut out, &workers, &errors);
    axum::response::Html(out)
}

/// The workers as a section of the status page.
pub(super) fn render(out: &mut String, workers: &[Value], errors: &[(String, String)]) {
    out.push_str(
        "<section id=\"workers\">\n<h2>Workers <small>(live, from their heartbeats)</small></h2>\n\
         <table class=\"workers\" data-list=\"workers\">\n<thead><tr><th>host</th><th>pid</th><th>version</th>\
         <th>queues</th><th>busy</th><th>started at</th><th>last heartbeat</th></tr></thead>\n<tbody>\n",
    );
    render_rows(out, workers, errors);
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn render_rows(out: &mut String, workers: &[Value], errors: &[(String, String)]) {
    let e = |s: &str| html_escape::encode_text(s).into_owned();
    let text = |v: &Value| match v {
        Value::String(s) => e(s),
        Value::Null => "—".to_string(),
        other => e(&other.to_string()),
    };
    for (queue, error) in errors {
        let _ = writeln!(
            out,
            "<tr class=\"error\"><td colspan=\"7\">queue <code>{}</code>: {}</td></tr>",
            e(queue),
            e(error)
        );
    }
    if workers.is_empty() && errors.is_empty() {
        out.push_str("<tr class=\"empty\"><td colspan=\"7\">no live worker</td></tr>\n");
    }
    for w in workers {
        let queues = w["queues"]
            .as_array()
            .map(|qs| {
                qs.iter()
                    .map(|q| format!("<code>{}</code>", text(q)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr data-worker=\"{id}\"><td>{host}</td><td>{pid}</td><td>{version}</td><td>{queues}</td>\
             <td data-field=\"busy\">{busy} / {concurrency}</td><td><time>{started}</time></td><td><time>{beat}</time></td></tr>",
            id = html_escape::encode_double_quoted_attribute(w["id"].as_str().unwrap_or("")),
            host = text(&w["host"]),
            pid = text(&w["pid"]),
            version = text(&w["version"]),
            busy = text(&w["busy"]),
            concurrency = text(&w["concurrency"]),
            started = text(&w["started_at"]),
            beat = text(&w["beat_at"]),
        );
    }
}
