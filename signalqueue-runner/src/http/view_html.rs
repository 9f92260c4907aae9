//! The entry views and the detail of one entry as HTML: the tabs, filter and tables of a queue
//! on the status page, the rows of one view page (`GET /status/queues/NAME/VIEW`) that the
//! page's script swaps in, and one entry's detail (`GET /status/queues/NAME/entry?key=KEY`).
//! The page and the fragments are written by the same functions: one renderer.
//!
//! What a script or a test may read: each view is `div.view[data-queue][data-view]` holding
//! `table[data-list=VIEW]` whose entry rows carry `data-key`; a row's checkbox is
//! `input[data-select]`; buttons carry `data-entry-action` (`replay`, `delete`, `run_now`)
//! per entry and `data-bulk` on a selection; `tr.pager a[data-after]` turns the page; the
//! detail is `div.detail[data-queue]` with `[data-field]` cells and `table.history`.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::response::Html;

use super::api_error::ApiError;
use super::entries::EntryView;
use super::status_page::{args_text, escape};
use super::views::{self, EntryQuery, View, ViewPage, ViewQuery};
use super::App;

/// What a view's table shows, column by column.
#[derive(Clone, Copy)]
enum Column {
    Id,
    Signal,
    Sender,
    Attempt,
    EnqueuedAt,
    Due,
    Receiver,
    LastError,
    NextTry,
    Worker,
    Since,
    LeaseUntil,
    Kind,
    Reason,
    DiedAt,
    Args,
}

impl Column {
    fn heading(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::Signal => "signal",
            Column::Sender => "sender",
            Column::Attempt => "attempt",
            Column::EnqueuedAt => "enqueued at",
            Column::Due => "due",
            Column::Receiver => "receiver",
            Column::LastError => "last error",
            Column::NextTry => "next try",
            Column::Worker => "worker",
            Column::Since => "since",
            Column::LeaseUntil => "lease until",
            Column::Kind => "kind",
            Column::Reason => "reason",
            Column::DiedAt => "died at",
            Column::Args => "arguments",
        }
    }

    fn cell(self, out: &mut String, e: &EntryView, q: &str) {
        let opt = |v: &Option<String>| escape(v.as_deref().unwrap_or("—"));
        let _ = match self {
            Column::Id => write!(
                out,
                r#"<td class="id"><a href="status/queues/{q}/entry?key={key_url}" data-detail="{key}">{id}</a></td>"#,
                key_url = escape(&query_value(&e.key)),
                key = escape(&e.key),
                id = match &e.id {
                    Some(id) => escape(id),
                    None => format!("key {}", escape(&e.key)),
                },
            ),
            Column::Signal => write!(out, r#"<td class="signal">{}</td>"#, opt(&e.signal)),
            Column::Sender => write!(out, "<td>{}</td>", opt(&e.sender)),
            Column::Attempt => write!(
                out,
                r#"<td class="attempt">{}</td>"#,
                e.attempt.map_or("—".to_string(), |a| a.to_string())
            ),
            Column::EnqueuedAt => write!(
                out,
                r#"<td class="time">{}{}</td>"#,
                opt(&e.enqueued_at),
                // A delayed send listed by an engine that cannot browse: its due time under it.
                match (&e.due, &e.scheduled_for) {
                    (None, Some(due)) => format!(r#"<span class="due">due {}</span>"#, escape(due)),
                    _ => String::new(),
                }
            ),
            Column::Due | Column::NextTry => {
                write!(out, r#"<td class="time due">{}</td>"#, opt(&e.due))
            }
            Column::Receiver => write!(
                out,
                r#"<td class="receiver">{}</td>"#,
                escape(&e.owed.as_ref().map_or("all".to_string(), |o| o.join(", ")))
            ),
            Column::LastError => write!(
                out,
                r#"<td class="last-error">{}</td>"#,
                e.last_failure()
                    .map_or("—".to_string(), |f| escape(&f.error))
            ),
            Column::Worker => write!(out, r#"<td class="worker">{}</td>"#, opt(&e.worker)),
            Column::Since => write!(out, r#"<td class="time">{}</td>"#, opt(&e.since)),
            Column::LeaseUntil => {
                write!(
                    out,
                    r#"<td class="time lease">{}</td>"#,
                    opt(&e.lease_until)
                )
            }
            Column::Kind => write!(out, r#"<td class="kind">{}</td>"#, e.kind.unwrap_or("—")),
            Column::Reason => write!(out, r#"<td class="reason">{}</td>"#, opt(&e.reason)),
            Column::DiedAt => write!(out, r#"<td class="time">{}</td>"#, opt(&e.died_at)),
            Column::Args => {
                out.push_str(r#"<td class="args">"#);
                args_cell(out, e);
                out.push_str("</td>");
                Ok(())
            }
        };
    }
}

/// The arguments, or why they do not decode with the bytes that did not.
fn args_cell(out: &mut String, e: &EntryView) {
    if let Some(args) = &e.args {
        let _ = write!(
            out,
            "<pre class=\"json\">{}</pre>",
            escape(&args_text(args))
        );
    }
    if let Some(error) = &e.error {
        let _ = write!(out, "<p class=\"decode-error\">{}</p>", escape(error));
    }
    if let Some(raw) = &e.raw {
        let _ = write!(out, "<pre class=\"raw\">{}</pre>", escape(raw));
    }
}

/// What an operator can do to entries of a view, by the name the API takes.
fn actions(view: View) -> &'static [(&'static str, &'static str)] {
    match view {
        View::Pending => &[("delete", "Delete")],
        View::Scheduled | View::Retries => &[("run_now", "Run now"), ("delete", "Delete")],
        View::InFlight => &[],
        View::Dead => &[("replay", "Replay"), ("delete", "Delete")],
    }
}

fn columns(view: View) -> &'static [Column] {
    use Column::*;
    match view {
        View::Pending => &[Id, Signal, Sender, Attempt, EnqueuedAt, Args],
        View::Scheduled => &[Id, Signal, Sender, Due, EnqueuedAt, Args],
        View::Retries => &[Id, Signal, Receiver, Attempt, LastError, NextTry, Args],
        View::InFlight => &[Id, Signal, Attempt, Worker, Since, LeaseUntil, Args],
        View::Dead => &[Id, Signal, Kind, Reason, DiedAt, Args],
    }
}

fn title(view: View) -> &'static str {
    match view {
        View::Pending => "Pending",
        View::Scheduled => "Scheduled",
        View::Retries => "Retries",
        View::InFlight => "In flight",
        View::Dead => "Dead letters",
    }
}

/// How many cells an entry row of `view` has (selection and actions included).
fn width(view: View) -> usize {
    let selectable = !actions(view).is_empty();
    columns(view).len() + if selectable { 2 } else { 0 }
}

/// A queue's views on the status page: tabs, the filter, and one table per view (the first
/// shown, the others hidden until their tab is chosen).
pub(super) fn render_views(
    out: &mut String,
    q: &str,
    enabled: bool,
    pages: Vec<(View, Result<ViewPage, ApiError>)>,
) {
    let _ = write!(
        out,
        r#"<nav class="views" data-queue="{q}" role="tablist" aria-label="entries of queue {q}">"#
    );
    for (i, view) in View::ALL.iter().enumerate() {
        let _ = write!(
            out,
            r#"<button type="button" role="tab" data-view="{name}" data-queue="{q}" aria-selected="{selected}">{title}</button>"#,
            name = view.name(),
            selected = i == 0,
            title = title(*view),
        );
    }
    let _ = write!(
        out,
        r#"</nav>
<form class="filter" data-queue="{q}"><label>signal <input name="signal" size="18"></label> <label>sender <input name="sender" size="14"></label> <label>id or key <input name="id" size="28"></label> <button type="submit">Filter</button> <button type="reset">Clear</button></form>
"#
    );
    let disabled = if enabled { "" } else { " disabled" };
    for (i, (view, page)) in pages.into_iter().enumerate() {
        let name = view.name();
        let _ = writeln!(
            out,
            r#"<div class="view" role="tabpanel" data-queue="{q}" data-view="{name}"{hidden}>"#,
            hidden = if i == 0 { "" } else { " hidden" },
        );
        if !actions(view).is_empty() {
            let _ = write!(
                out,
                r#"<p class="actions bulk" data-queue="{q}" data-view="{name}"><label><input type="checkbox" data-select-all> all on this page</label>"#
            );
            for (action, label) in actions(view) {
                let _ = write!(
                    out,
                    r#" <button type="button" data-bulk="{action}"{disabled}>{label} selected</button>"#
                );
            }
            if view == View::Dead {
                let _ = write!(
                    out,
                    r#" · <button type="button" data-action="replay" data-queue="{q}"{disabled}>Replay all</button> <button type="button" data-action="purge" data-queue="{q}"{disabled}>Purge all</button>"#
                );
            }
            let _ = writeln!(
                out,
                r#" <span class="action-result" data-queue="{q}" data-view="{name}"></span></p>"#
            );
        }
        let _ = write!(
            out,
            r#"<table class="entries" id="{name}-{q}" data-queue="{q}" data-list="{name}">
<thead><tr>{select}"#,
            select = if actions(view).is_empty() {
                ""
            } else {
                "<th></th>"
            },
        );
        for c in columns(view) {
            let _ = write!(out, "<th>{}</th>", c.heading());
        }
        if !actions(view).is_empty() {
            out.push_str("<th></th>");
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        render_rows(out, q, view, enabled, &ViewQuery::default(), page);
        out.push_str("</tbody>\n</table>\n</div>\n");
    }
    let _ = writeln!(out, r#"<div class="detail" data-queue="{q}" hidden></div>"#);
}

/// The rows of one page of a view: its entries (or "none", or the error that kept them from
/// being read), then a pager row when there is another page.
pub(super) fn render_rows(
    out: &mut String,
    q: &str,
    view: View,
    enabled: bool,
    query: &ViewQuery,
    page: Result<ViewPage, ApiError>,
) {
    let width = width(view);
    let page = match page {
        Err(e) => {
            let _ = writeln!(
                out,
                r#"<tr class="error"><td colspan="{width}">{}</td></tr>"#,
                escape(e.message())
            );
            return;
        }
        Ok(page) => page,
    };
    let filtered = !query.filter.is_empty();
    if page.entries.is_empty() {
        let text = match (filtered, page.next.is_some()) {
            (false, _) => "none".to_string(),
            (true, false) => "no entry matches the filter".to_string(),
            (true, true) => format!(
                "no match among the {} entries scanned; the next page scans on",
                page.scanned
            ),
        };
        let _ = writeln!(
            out,
            r#"<tr class="empty"><td colspan="{width}">{text}</td></tr>"#
        );
    }
    for e in &page.entries {
        render_row(out, q, view, enabled, e);
    }
    let first = query.after.as_deref().is_some_and(|a| !a.is_empty());
    if page.next.is_some() || first {
        let _ = write!(out, r#"<tr class="pager"><td colspan="{width}">"#);
        if first {
            out.push_str(r#"<a href="" data-after="">« first page</a> "#);
        }
        if let Some(next) = &page.next {
            let _ = write!(
                out,
                r#"<a href="" data-after="{}">next page »</a>"#,
                escape(next)
            );
        }
        if filtered {
            let _ = write!(out, r#" <small>({} scanned)</small>"#, page.scanned);
        }
        out.push_str("</td></tr>\n");
    }
}

fn render_row(out: &mut String, q: &str, view: View, enabled: bool, e: &EntryView) {
    let key = escape(&e.key);
    let _ = write!(
        out,
        r#"<tr data-key="{key}"{undecoded}>"#,
        undecoded = if e.error.is_some() {
            r#" class="undecoded""#
        } else {
            ""
        },
    );
    let selectable = !actions(view).is_empty();
    if selectable {
        let _ = write!(
            out,
            r#"<td class="select"><input type="checkbox" data-select value="{key}" aria-label="select"></td>"#
        );
    }
    for c in columns(view) {
        c.cell(out, e, q);
    }
    if selectable {
        out.push_str(r#"<td class="row-actions">"#);
        entry_buttons(out, view, enabled, &e.key);
        out.push_str("</td>");
    }
    out.push_str("</tr>\n");
}

/// The buttons that act on one entry of `view`.
fn entry_buttons(out: &mut String, view: View, enabled: bool, key: &str) {
    let disabled = if enabled { "" } else { " disabled" };
    for (action, label) in actions(view) {
        let _ = write!(
            out,
            r#"<button type="button" data-entry-action="{action}" data-view="{view}" data-key="{key}"{disabled}>{label}</button> "#,
            view = view.name(),
            key = escape(key),
        );
    }
}

/// `GET /status/queues/NAME/VIEW?after=&signal=&sender=&id=`: the rows of one page of a view
/// as the page shows them, for the script to swap in.
pub(super) async fn rows(
    State(app): State<App>,
    Path((name, view)): Path<(String, String)>,
    Query(query): Query<ViewQuery>,
) -> Result<Html<String>, ApiError> {
    let queue = app.queue(&name)?;
    let view = View::named(&view)?;
    let limit = query.limit()?;
    let page = views::read(queue, view, &query, limit).await;
    let mut out = String::new();
    render_rows(
        &mut out,
        &escape(&name),
        view,
        app.actions_enabled(),
        &query,
        page,
    );
    Ok(Html(out))
}

/// `GET /status/queues/NAME/entry?key=KEY`: one entry in full, for the page's detail panel:
/// where it is, its envelope as `dump` shows it, its failed attempts, and what can be done.
pub(super) async fn detail(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(query): Query<EntryQuery>,
) -> Result<Html<String>, ApiError> {
    let queue = app.queue(&name)?;
    let key = query.key()?;
    let found = views::found(queue, key).await?;
    let e = &found.view;
    let mut out = String::new();
    let section = e.section.unwrap_or("pending");
    // The view an entry is acted on from: retries are the scheduled entries past attempt 1.
    let view = match section {
        "scheduled" if e.attempt.is_some_and(|a| a > 1) => View::Retries,
        other => View::named(other).unwrap_or(View::Pending),
    };
    let _ = write!(
        out,
        r#"<h3>Entry <code>{id}</code> <small>{title}</small> <button type="button" data-close>close</button></h3>
<dl class="fields" data-key="{key}">
"#,
        id = escape(e.id.as_deref().unwrap_or(&e.key)),
        title = title(view),
        key = escape(&e.key),
    );
    let fields: [(&str, &str, Option<String>); 14] = [
        ("key", "key", Some(e.key.clone())),
        ("section", "where", Some(view.name().to_string())),
        ("signal", "signal", e.signal.clone()),
        ("sender", "sender", e.sender.clone()),
        ("attempt", "attempt", e.attempt.map(|a| a.to_string())),
        ("enqueued_at", "enqueued at", e.enqueued_at.clone()),
        ("due", "due", e.due.clone()),
        ("worker", "held by", e.worker.clone()),
        ("since", "since", e.since.clone()),
        ("lease_until", "lease until", e.lease_until.clone()),
        ("kind", "kind", e.kind.map(str::to_string)),
        ("reason", "reason", e.reason.clone()),
        ("died_at", "died at", e.died_at.clone()),
        (
            "deliveries",
            "deliveries",
            e.deliveries.map(|d| d.to_string()),
        ),
    ];
    for (field, label, value) in fields {
        if let Some(value) = value {
            let _ = writeln!(
                out,
                r#"<div><dt>{label}</dt><dd data-field="{field}">{}</dd></div>"#,
                escape(&value)
            );
        }
    }
    out.push_str("</dl>\n");
    if !actions(view).is_empty() {
        out.push_str(r#"<p class="actions">"#);
        entry_buttons(&mut out, view, app.actions_enabled(), &e.key);
        let _ = writeln!(
            out,
            r#"<span class="action-result" data-queue="{}" data-view="detail"></span></p>"#,
            escape(&name)
        );
    }
    out.push_str("<h4>History</h4>\n");
    if e.history.is_empty() {
        out.push_str(r#"<p class="muted history-none">no failed attempt</p>"#);
        out.push('\n');
    } else {
        out.push_str(
            "<table class=\"history\"><thead><tr><th>attempt</th><th>receiver</th><th>error</th><th>at</th></tr></thead>\n<tbody>\n",
        );
        for f in &e.history {
            let _ = writeln!(
                out,
                r#"<tr><td class="attempt">{}</td><td class="receiver">{}</td><td class="error">{}</td><td class="time">{}</td></tr>"#,
                f.attempt,
                escape(&f.receiver),
                escape(&f.error),
                escape(&f.at)
            );
        }
        out.push_str("</tbody></table>\n");
    }
    let _ = writeln!(
        out,
        "<h4>Envelope <small>(as <code>dump</code> shows it)</small></h4>\n<pre class=\"json envelope\">{}</pre>",
        escape(&serde_json::to_string_pretty(&found.dump).expect("JSON values serialize"))
    );
    Ok(Html(out))
}

/// `value` for a URL's query: unreserved characters as they are, every other byte as `%XX`.
fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_for_the_query() {
        assert_eq!(query_value("42"), "42");
        assert_eq!(query_value("a b/c&d=é"), "a%20b%2Fc%26d%3D%C3%A9");
    }

    #[test]
    fn every_view_has_a_width_matching_its_headings() {
        for view in View::ALL {
            let mut out = String::new();
            render_views(
                &mut out,
                "q",
                true,
                vec![(
                    view,
                    Err(ApiError::new(axum::http::StatusCode::NOT_FOUND, "x")),
                )],
            );
            let headings = out.matches("<th>").count();
            assert_eq!(headings, width(view), "{}: {out}", view.name());
        }
    }
}
