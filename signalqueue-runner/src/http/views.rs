//! The per-queue entry views (pending, scheduled, retries, in flight, dead letters): reading one
//! page of a view, filtered, through the engine's [`Browse`] extension, and one entry by key.
//! The JSON endpoints and the page's fragments (`view_html.rs`) both read through here.
//!
//! Filters (signal, sender, id) and the split of scheduled entries into delayed sends and
//! retries (by the envelope's attempt) are applied by decoding the envelopes page after page,
//! since engines never decode. A request scans a bounded number of entries and stops early,
//! handing back a cursor to go on from, so that a filter that matches nothing in a long queue
//! costs one bounded request per click, never a whole scan.

use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use signalqueue::engine::Section;

use super::api_error::ApiError;
use super::entries::EntryView;
use super::{App, ServedQueue};

/// How many entries a view returns when the request does not say.
pub(super) const DEFAULT_LIMIT: usize = 50;
/// The most a view returns, so one request cannot make the worker read a whole queue.
pub(super) const MAX_LIMIT: usize = 1000;
/// The most entries one filtered request decodes before it answers with what it found and a
/// cursor to continue.
pub(super) const SCAN_MAX: usize = 2000;
/// How long one filtered request scans before it answers the same way.
const SCAN_TIME: Duration = Duration::from_millis(1000);

/// One of a queue's entry views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum View {
    Pending,
    /// Delayed sends waiting for their time (attempt 1).
    Scheduled,
    /// Failed receivers waiting for their next try (attempt 2 and later).
    Retries,
    InFlight,
    Dead,
}

impl View {
    /// Every view, in the page's order.
    pub(super) const ALL: [View; 5] = [
        View::Pending,
        View::Scheduled,
        View::Retries,
        View::InFlight,
        View::Dead,
    ];

    /// The name in URLs and JSON.
    pub(super) fn name(self) -> &'static str {
        match self {
            View::Pending => "pending",
            View::Scheduled => "scheduled",
            View::Retries => "retries",
            View::InFlight => "in_flight",
            View::Dead => "dead",
        }
    }

    /// The view named `name`, or the 404 that lists the views.
    pub(super) fn named(name: &str) -> Result<View, ApiError> {
        View::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no view `{name}`; the views are {}",
                        View::ALL
                            .iter()
                            .map(|v| format!("`{}`", v.name()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// The engine's section this view reads.
    pub(super) fn section(self) -> Section {
        match self {
            View::Pending => Section::Pending,
            View::Scheduled | View::Retries => Section::Scheduled,
            View::InFlight => Section::InFlight,
            View::Dead => Section::Dead,
        }
    }

    /// Whether an entry of this view's section belongs to it: the scheduled section holds
    /// both delayed sends and retries, told apart by the attempt (an entry that does not
    /// decode is shown with the delayed sends, where an operator looks first).
    fn holds(self, entry: &EntryView) -> bool {
        match self {
            View::Scheduled => entry.attempt.is_none_or(|a| a <= 1),
            View::Retries => entry.attempt.is_some_and(|a| a > 1),
            _ => true,
        }
    }
}

/// The query of a view: where to start, how many, and the filter.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ViewQuery {
    /// A cursor from the page before (`next`); absent for the first page.
    pub(super) after: Option<String>,
    /// Text, so a bad value gets our error message.
    pub(super) limit: Option<String>,
    #[serde(flatten)]
    pub(super) filter: Filter,
}

impl ViewQuery {
    pub(super) fn limit(&self) -> Result<usize, ApiError> {
        match self.limit.as_deref() {
            None | Some("") => Ok(DEFAULT_LIMIT),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("`limit` must be a number from 1 to {MAX_LIMIT}, not `{text}`"),
                )),
            },
        }
    }

    fn after(&self) -> Option<&str> {
        self.after.as_deref().filter(|a| !a.is_empty())
    }
}

/// Which entries to show: each given part must match (blank parts are ignored).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(super) struct Filter {
    /// Part of the signal's wire name.
    pub(super) signal: Option<String>,
    /// Part of the sender label.
    pub(super) sender: Option<String>,
    /// The start of the envelope's id, or the engine key, in any case.
    pub(super) id: Option<String>,
}

impl Filter {
    fn part(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    pub(super) fn is_empty(&self) -> bool {
        Self::part(&self.signal).is_none()
            && Self::part(&self.sender).is_none()
            && Self::part(&self.id).is_none()
    }

    fn matches(&self, e: &EntryView) -> bool {
        let contains =
            |have: &Option<String>, want: &str| have.as_deref().is_some_and(|h| h.contains(want));
        Self::part(&self.signal).is_none_or(|w| contains(&e.signal, w))
            && Self::part(&self.sender).is_none_or(|w| contains(&e.sender, w))
            && Self::part(&self.id).is_none_or(|w| {
                // ULIDs are Crockford base32, case-insensitive; engine keys are exact.
                let upper = w.to_ascii_uppercase();
                e.key == w || e.id.as_deref().is_some_and(|id| id.starts_with(&upper))
            })
    }
}

/// One page of a view.
#[derive(Debug, Serialize)]
pub(super) struct ViewPage {
    pub(super) view: &'static str,
    pub(super) entries: Vec<EntryView>,
    /// Where the next page starts (`after=`); `None` on the last page. With a filter, a page
    /// may hold fewer entries than asked (even none) and still have a next: the scan stopped at
    /// its bound.
    pub(super) next: Option<String>,
    /// How many entries this request read from the engine (more than `entries` when filtered).
    pub(super) scanned: usize,
    /// False when the engine cannot browse: then only the pending and dead views exist, as the
    /// oldest entries, with no pages or cursors.
    pub(super) browsable: bool,
}

/// Reads one page of `view` of `queue`, filtered, bounded in entries and time.
pub(super) async fn read(
    queue: &ServedQueue,
    view: View,
    query: &ViewQuery,
    limit: usize,
) -> Result<ViewPage, ApiError> {
    let Some(browse) = queue.engine.browse() else {
        return read_unbrowsable(queue, view, &query.filter, limit).await;
    };
    let started = Instant::now();
    let mut cursor = query.after().map(str::to_string);
    let mut entries = Vec::new();
    let mut scanned = 0;
    loop {
        // A keyset cursor cannot start in the middle of a page, so each read asks for no more
        // than are still wanted: every entry read is either shown or passed over, never lost
        // between two pages.
        let wanted = limit - entries.len();
        let page = queue
            .bounded(browse.page(view.section(), cursor.as_deref(), wanted))
            .await
            .map_err(|e| ApiError::engine(&queue.name, &e))?;
        scanned += page.entries.len();
        entries.extend(
            page.entries
                .iter()
                .map(EntryView::listed)
                .filter(|e| view.holds(e) && query.filter.matches(e)),
        );
        cursor = page.next;
        if cursor.is_none()
            || entries.len() >= limit
            || scanned >= SCAN_MAX
            || started.elapsed() >= SCAN_TIME
        {
            break;
        }
    }
    Ok(ViewPage {
        view: view.name(),
        entries,
        next: cursor,
        scanned,
        browsable: true,
    })
}

/// An engine without [`Browse`](signalqueue::engine::Browse): its oldest pending entries
/// (scheduled ones among them) and dead letters, as the console showed before browsing.
async fn read_unbrowsable(
    queue: &ServedQueue,
    view: View,
    filter: &Filter,
    limit: usize,
) -> Result<ViewPage, ApiError> {
    let on_queue = |e| ApiError::engine(&queue.name, &e);
    let entries: Vec<EntryView> = match view {
        View::Pending => queue
            .bounded(queue.engine.pending(limit))
            .await
            .map_err(on_queue)?
            .iter()
            .map(EntryView::pending)
            .collect(),
        View::Dead => queue
            .bounded(queue.engine.dead(limit))
            .await
            .map_err(on_queue)?
            .iter()
            .map(EntryView::dead)
            .collect(),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!(
                    "the {} engine cannot list its entries one by one, so there is no {} view; its counts are above",
                    queue.engine.kind(),
                    view.name()
                ),
            ))
        }
    };
    let scanned = entries.len();
    Ok(ViewPage {
        view: view.name(),
        entries: entries.into_iter().filter(|e| filter.matches(e)).collect(),
        next: None,
        scanned,
        browsable: false,
    })
}

/// `GET /api/queues/NAME/VIEW?after=CURSOR&limit=N&signal=S&sender=S&id=ID`: one page of a
/// view: `{"queue", "view", "limit", "entries", "next", "scanned", "browsable"}`.
pub(super) async fn api(
    State(app): State<App>,
    Path((name, view)): Path<(String, String)>,
    Query(query): Query<ViewQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let queue = app.queue(&name)?;
    let view = View::named(&view)?;
    let limit = query.limit()?;
    let page = read(queue, view, &query, limit).await?;
    let mut body = serde_json::to_value(&page).expect("a page serializes");
    body["queue"] = name.into();
    body["limit"] = limit.into();
    Ok(Json(body))
}

/// The query naming one entry.
#[derive(Debug, Deserialize)]
pub(super) struct EntryQuery {
    pub(super) key: Option<String>,
}

impl EntryQuery {
    pub(super) fn key(&self) -> Result<&str, ApiError> {
        self.key
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "name the entry with `?key=KEY` (its engine key, as the views list it)",
                )
            })
    }
}

/// `GET /api/queues/NAME/entry?key=KEY`: one entry, wherever it is: the view's fields plus
/// `envelope`, the entry as `dump` shows it.
pub(super) async fn entry_api(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(query): Query<EntryQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let queue = app.queue(&name)?;
    let key = query.key()?;
    let entry = found(queue, key).await?;
    let mut body = serde_json::to_value(&entry.view).expect("an entry serializes");
    body["envelope"] = entry.dump;
    Ok(Json(serde_json::json!({ "queue": name, "entry": body })))
}

/// One entry for the detail view: as the lists show it, and as `dump` does.
pub(super) struct Found {
    pub(super) view: EntryView,
    pub(super) dump: serde_json::Value,
}

/// The entry with `key`, or the 404 that says it left.
pub(super) async fn found(queue: &ServedQueue, key: &str) -> Result<Found, ApiError> {
    let Some(browse) = queue.engine.browse() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "the {} engine cannot look entries up by key; `dump` and `dead list --json` show them",
                queue.engine.kind()
            ),
        ));
    };
    let listed = queue
        .bounded(browse.find(key))
        .await
        .map_err(|e| ApiError::engine(&queue.name, &e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "queue `{}` has no entry with key `{key}` (any more): it was handled, replayed or removed",
                    queue.name
                ),
            )
        })?;
    Ok(Found {
        view: EntryView::listed(&listed),
        dump: crate::commands::render::entry_json(
            &listed.key,
            &listed.payload,
            signalqueue::Registry::global(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use signalqueue::engine::Listed;
    use signalqueue::{Envelope, Payload};

    fn entry(key: &str, attempt: u32, sender: Option<&str>) -> EntryView {
        let mut e = Envelope::new(
            "shop.order_placed",
            sender.map(str::to_string),
            Payload::Json(serde_json::json!({})),
        );
        e.attempt = attempt;
        EntryView::listed(&Listed::new(key, e.encode(), Section::Scheduled))
    }

    fn filter(signal: &str, sender: &str, id: &str) -> Filter {
        let part = |s: &str| Some(s.to_string());
        Filter {
            signal: part(signal),
            sender: part(sender),
            id: part(id),
        }
    }

    #[test]
    fn retries_and_delayed_sends_are_told_apart_by_the_attempt() {
        let first = entry("1", 1, None);
        let retry = entry("2", 3, None);
        assert!(View::Scheduled.holds(&first) && !View::Scheduled.holds(&retry));
        assert!(View::Retries.holds(&retry) && !View::Retries.holds(&first));
        // Undecodable bytes are shown with the delayed sends, never lost between the two.
        let garbage = EntryView::listed(&Listed::new("3", b"junk".to_vec(), Section::Scheduled));
        assert!(View::Scheduled.holds(&garbage) && !View::Retries.holds(&garbage));
    }

    #[test]
    fn a_filter_matches_every_part_given() {
        let e = entry("17", 1, Some("shop.Cart"));
        let id = e.id.clone().unwrap();
        assert!(Filter::default().matches(&e));
        assert!(filter(" ", "", "").is_empty());
        assert!(filter("order", "", "").matches(&e));
        assert!(filter("order", "Cart", "").matches(&e));
        assert!(!filter("order", "Web", "").matches(&e));
        assert!(
            filter("", "", &id[..10].to_lowercase()).matches(&e),
            "an id's start, any case"
        );
        assert!(filter("", "", "17").matches(&e), "the exact key");
        assert!(!filter("", "", "1").matches(&e), "not part of a key");
        assert!(!filter("email", "", "").matches(&e));
        let anonymous = entry("18", 1, None);
        assert!(!filter("", "shop", "").matches(&anonymous));
    }
}
