//! The last hour of handled and failed signals per second, for `GET /api/history` and as an
//! inline SVG chart on the status page (drawn here, so it needs no script library and no
//! network: the page works offline).

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;
use axum::Json;

use super::App;
use crate::metrics::history::{Point, SPAN};

/// The chart's size in SVG units; the page scales it to its width.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 120.0;

/// `GET /api/history`: `{"span_seconds": 3600, "points": [{"t", "handled", "failed"}...]}`,
/// one point per second the admin server sampled, oldest first.
pub(super) async fn api(State(app): State<App>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "span_seconds": SPAN.as_secs(),
        "points": app.admin.metrics.history(),
    }))
}

/// `GET /status/chart`: the chart alone, for the script to swap in.
pub(super) async fn fragment(State(app): State<App>) -> Html<String> {
    let mut out = String::new();
    render_chart(&mut out, &app.admin.metrics.history());
    Html(out)
}

/// The chart as a section of the status page.
pub(super) fn render(out: &mut String, points: &[Point]) {
    out.push_str("<section id=\"activity\">\n<h2>Last hour <small>(signals handled and receiver runs failed, per second)</small></h2>\n<div id=\"chart\" data-chart=\"activity\">\n");
    render_chart(out, points);
    out.push_str("</div>\n</section>\n");
}

fn render_chart(out: &mut String, points: &[Point]) {
    let Some(last) = points.last() else {
        out.push_str("<p class=\"muted\">No samples yet: the chart fills in while this page or the admin server runs.</p>\n");
        return;
    };
    // The last hour, or less while the worker is younger than that (at least a minute), so a
    // fresh worker's first seconds are not a sliver at the right edge.
    let first = points.first().map_or(last.t, |p| p.t.saturating_sub(1));
    let span = (last.t - first.max(last.t.saturating_sub(SPAN.as_secs()))).max(60);
    let start = last.t - span;
    let peak = points
        .iter()
        .map(|p| p.handled.max(p.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |t: u64| t.saturating_sub(start) as f64 / span as f64 * WIDTH;
    let y = |n: u64| HEIGHT - n as f64 / peak as f64 * (HEIGHT - 4.0);
    let line = |value: fn(&Point) -> u64| {
        points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.t), y(value(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let handled_now = last.handled;
    let failed_total: u64 = points.iter().map(|p| p.failed).sum();
    let handled_total: u64 = points.iter().map(|p| p.handled).sum();
    let ago = |secs: u64| humantime::format_duration(std::time::Duration::from_secs(secs));
    // The scale, outside the SVG (which stretches to the page's width, text with it): the
    // peak at the top and half of it on a dashed line, and the time below, oldest at the left.
    let _ = write!(
        out,
        r#"<div class="chart-frame">
<span class="y-label top">{peak}/s</span><span class="y-label mid">{half}/s</span><span class="y-label zero">0</span>
<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" aria-label="handled and failed per second over the last hour" data-points="{n}" data-peak="{peak}">
<line class="grid" x1="0" y1="{top:.1}" x2="{WIDTH}" y2="{top:.1}"/>
<line class="grid" x1="0" y1="{mid:.1}" x2="{WIDTH}" y2="{mid:.1}"/>
<line class="axis" x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}"/>
<polyline class="handled" fill="none" points="{handled}"/>
<polyline class="failed" fill="none" points="{failed}"/>
</svg>
<div class="x-labels"><span>{oldest} ago</span><span>{middle} ago</span><span>now</span></div>
</div>
<p class="legend"><span class="key handled">handled</span> {handled_total}, {handled_now}/s in the last second · <span class="key failed">failed</span> {failed_total} · peak {peak}/s · over the last {span_text}</p>
"#,
        n = points.len(),
        half = peak as f64 / 2.0,
        top = y(peak),
        mid = HEIGHT - (HEIGHT - 4.0) / 2.0,
        handled = line(|p| p.handled),
        failed = line(|p| p.failed),
        oldest = ago(span),
        middle = ago(span / 2),
        span_text = ago(span),
    );
}
