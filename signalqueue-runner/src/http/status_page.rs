//! `GET /status`: the status page.
//!
//! The server renders the whole page (so it is useful from `curl` and without JavaScript),
//! with its stylesheet and script inline: the page loads nothing else and works on a machine
//! without internet access. The script then keeps it current from `/events` and swaps in the
//! rows of the view shown, as `view_html.rs` renders them (`GET /status/queues/NAME/VIEW`),
//! every few seconds and after every action: one renderer for first load and updates.
//!
//! Elements a test or a script may read carry data attributes that do not change between
//! versions: `data-queue="NAME"` with `data-count="pending|scheduled|in_flight|dead"`,
//! `data-rate="handled"`, `data-list="pending|scheduled|retries|in_flight|dead"` (a table
//! whose rows carry `data-key`; see `view_html.rs`), and `#live` whose `data-live` is
//! `connecting`, `live` or `offline`.

use std::fmt::Write;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use signalqueue::engine::Counts;
use signalqueue::Registry;

use super::api::QueueView;
use super::api_error::ApiError;
use super::views::{self, View, ViewQuery};
use super::{App, ServedQueue};

/// The stylesheet, inlined into the page.
const STYLE: &str = include_str!("assets/status.css");
/// The live-update script, inlined into the page.
const SCRIPT: &str = include_str!("assets/status.js");
/// How many entries of each list the page shows; the JSON API gives more.
const PAGE_ENTRIES: usize = 50;

/// `GET /status`.
pub(super) async fn page(State(app): State<App>) -> Html<String> {
    let mut out = String::with_capacity(16 * 1024);
    let metrics = &app.admin.metrics;
    let rate = app.live.borrow().handled_per_second();
    let actions = app.actions_enabled();
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>signalqueue worker</title>
<style>{STYLE}</style>
</head>
<body data-actions="{actions}">
<header>
<h1>signalqueue worker <small>{version}</small></h1>
<p class="summary">up <span id="uptime" data-field="uptime" data-seconds="{uptime}">{uptime_text}</span>
 · handled <span id="handled-total" data-field="handled-total">{handled}</span>
 (<span id="handled-rate" data-field="handled-rate">{rate:.1}</span>/s)
 · <span id="live" data-live="connecting">connecting…</span></p>
</header>
<main>
"#,
        version = env!("CARGO_PKG_VERSION"),
        uptime = metrics.uptime().as_secs(),
        uptime_text = duration_text(metrics.uptime().as_secs()),
        handled = metrics.handled_total(),
    );
    if app.queues.is_empty() {
        out.push_str("<p class=\"error\">This worker serves no queue.</p>\n");
    }
    // Concurrently: several engines that do not answer cost one deadline, not one each.
    let queue_sections = futures_util::future::join_all(app.queues.iter().map(|queue| async {
        let mut section = String::new();
        render_queue(&mut section, &app, queue).await;
        section
    }));
    let (sections, outboxes, schedules, (workers, worker_errors)) = tokio::join!(
        queue_sections,
        super::outboxes::read(&app),
        super::schedules::read(&app),
        super::workers::read(&app)
    );
    super::charts::render(&mut out, &metrics.history());
    for section in sections {
        out.push_str(&section);
    }
    super::workers::render(&mut out, &workers, &worker_errors);
    super::receivers::render(&mut out, &metrics.receivers());
    super::outboxes::render(&mut out, &outboxes);
    super::schedules::render(&mut out, &schedules);
    render_actions_help(&mut out, actions);
    render_registry(&mut out, Registry::global());
    let _ = write!(
        out,
        "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    Html(out)
}

async fn render_queue(out: &mut String, app: &App, queue: &ServedQueue) {
    let view = QueueView::read(app, queue).await;
    let q = escape(&queue.name);
    let _ = write!(
        out,
        r#"<section class="queue" id="queue-{q}" data-queue="{q}">
<h2>Queue <code>{q}</code></h2>
<p class="engine"><span data-queue="{q}" data-field="engine">{kind}</span> <code data-queue="{q}" data-field="url">{url}</code></p>
<p class="error" data-queue="{q}" data-field="error"{hidden}>{error}</p>
<dl class="counts">
"#,
        kind = escape(view.engine),
        url = escape(&view.url),
        hidden = if view.error.is_some() { "" } else { " hidden" },
        error = escape(view.error.as_deref().unwrap_or("")),
    );
    let counts = view.counts.unwrap_or_default();
    for (key, label, n) in count_fields(&counts) {
        let shown = if view.counts.is_some() {
            n.to_string()
        } else {
            "?".into()
        };
        let _ = writeln!(
            out,
            r#"<div class="count count-{key}"><dt>{label}</dt><dd data-queue="{q}" data-count="{key}">{shown}</dd></div>"#
        );
    }
    let _ = write!(
        out,
        r#"<div class="count"><dt>handled / s</dt><dd data-queue="{q}" data-rate="handled">{rate:.1}</dd></div>
<div class="count"><dt>handled</dt><dd data-queue="{q}" data-handled="total">{total}</dd></div>
</dl>
"#,
        rate = view.handled_per_second,
        total = view.handled_total,
    );

    // An engine that did not answer the counts is not asked for its lists: the page renders
    // at once, says so, and the live updates fill the lists in when the engine answers again.
    let reachable = view.counts.is_some();
    let pages = futures_util::future::join_all(View::ALL.into_iter().map(|v| async move {
        let page = if reachable {
            views::read(queue, v, &ViewQuery::default(), PAGE_ENTRIES).await
        } else {
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not read: the engine did not answer (see above); the list fills in when it does",
            ))
        };
        (v, page)
    }))
    .await;
    super::view_html::render_views(out, &q, app.actions_enabled(), pages);
    out.push_str("</section>\n");
}

fn count_fields(c: &Counts) -> [(&'static str, &'static str, u64); 4] {
    [
        ("pending", "pending", c.pending),
        ("scheduled", "scheduled", c.scheduled),
        ("in_flight", "in flight", c.in_flight),
        ("dead", "dead", c.dead),
    ]
}

/// Arguments on one line when short, indented otherwise: most signals carry an id or two, and
/// one line per entry keeps the list scannable.
pub(super) fn args_text(args: &serde_json::Value) -> String {
    let compact = args.to_string();
    if compact.len() <= ARGS_ONE_LINE {
        compact
    } else {
        serde_json::to_string_pretty(args).unwrap_or(compact)
    }
}

/// The longest arguments shown on one line.
const ARGS_ONE_LINE: usize = 80;

fn render_actions_help(out: &mut String, enabled: bool) {
    if enabled {
        out.push_str(
            "<section id=\"token\"><h2>Actions</h2><p><label>Admin token \
             <input type=\"password\" id=\"token-input\" autocomplete=\"off\"></label> \
             (kept in this tab only) is needed to act on entries: replay, delete, run now, \
             purge.</p></section>\n",
        );
    } else {
        out.push_str(
            "<section id=\"token\"><h2>Actions</h2><p class=\"muted\">Acting on entries (replay, \
             delete, run now, purge) is disabled: set SIGNALQUEUE_ADMIN_TOKEN on the worker.</p></section>\n",
        );
    }
}

fn render_registry(out: &mut String, registry: &Registry) {
    out.push_str(
        "<section id=\"signals\">\n<h2>Registered signals</h2>\n<table>\n\
         <thead><tr><th>signal</th><th>arguments</th><th>queue</th><th>receivers</th></tr></thead>\n<tbody>\n",
    );
    let mut any = false;
    for def in registry.signals() {
        any = true;
        let args = def
            .args
            .iter()
            .map(|a| format!("{}: {}", a.name, a.ty))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            out,
            r#"<tr data-signal="{name}"><td><code>{name}</code>{doc}</td><td><code>{args}</code></td><td>{queue}</td><td><ul class="receivers">"#,
            name = escape(def.name),
            doc = if def.doc.is_empty() {
                String::new()
            } else {
                format!("<br><small>{}</small>", doc_html(def.doc))
            },
            args = escape(&args),
            queue = escape(def.queue),
        );
        let receivers = registry.receivers(def.name);
        if receivers.is_empty() {
            out.push_str("<li class=\"muted\">no receiver</li>");
        }
        for r in receivers {
            let _ = write!(
                out,
                r#"<li data-receiver="{name}"><code>{name}</code>"#,
                name = escape(r.name)
            );
            if let Some(sender) = r.sender {
                let _ = write!(out, " <small>sender {}</small>", escape(sender));
            }
            match r.retries {
                Some(n) => {
                    let _ = write!(out, " <small>retries {n}</small>");
                }
                None => out.push_str(" <small>default retries</small>"),
            }
            out.push_str("</li>");
        }
        out.push_str("</ul></td></tr>\n");
    }
    if !any {
        out.push_str(
            "<tr class=\"empty\"><td colspan=\"4\">no signal is linked into this worker</td></tr>\n",
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// `3d 4h`, `2h 5m`, `7m 3s`, `12s`: enough to tell a restart from a long run.
fn duration_text(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Escapes text for HTML content and double- or single-quoted attributes.
pub(super) fn escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

/// A doc summary as HTML: escaped, its `code spans` set as code (the only markdown a one-line
/// summary commonly holds; an unpaired backtick stays as it is).
fn doc_html(doc: &str) -> String {
    let parts: Vec<&str> = doc.split('`').collect();
    if parts.len() % 2 == 0 {
        return escape(doc);
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doc_summary_shows_its_code_spans_as_code() {
        assert_eq!(
            doc_html("For the CLI's `send`, or `None` <b>"),
            "For the CLI&#x27;s <code>send</code>, or <code>None</code> &lt;b&gt;"
        );
        assert_eq!(doc_html("one ` alone"), "one ` alone");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(12), "12s");
        assert_eq!(duration_text(7 * 60 + 3), "7m 3s");
        assert_eq!(duration_text(2 * 3600 + 5 * 60 + 9), "2h 5m");
        assert_eq!(duration_text(3 * 86_400 + 4 * 3600), "3d 4h");
    }
}
