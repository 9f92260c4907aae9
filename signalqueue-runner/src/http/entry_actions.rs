//! The `POST` actions on chosen entries of a view: delete (pending, scheduled, retries, dead)
//! and run now (scheduled, retries), one entry or a selection. They need the admin token, as
//! every action does; replaying chosen dead letters is `POST .../dead/replay` with their keys
//! (`actions.rs`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use signalqueue::engine::Browse;

use super::api_error::ApiError;
use super::auth::authorize;
use super::views::View;
use super::{App, ServedQueue};

/// The body of an action on chosen entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Chosen {
    keys: Vec<String>,
}

/// `POST /api/queues/NAME/VIEW/delete` and `POST /api/queues/NAME/VIEW/run_now` with
/// `{"keys": ["KEY", ...]}`: answers `{"queue", "view", "deleted": N}` or `{..., "moved": N}`.
/// Keys no longer in the view are skipped, so N says how many were acted on.
pub(super) async fn act(
    State(app): State<App>,
    Path((name, view, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(app.admin.token.as_deref(), &headers)?;
    let queue = app.queue(&name)?;
    let view = View::named(&view)?;
    let chosen: Chosen = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be `{{\"keys\": [\"KEY\", ...]}}`, the keys as the views list them: {e}"),
        )
    })?;
    if chosen.keys.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`keys` is empty: choose at least one entry",
        ));
    }
    let browse = browse(queue)?;
    let keys = &chosen.keys;
    let (field, n) = match (action.as_str(), view) {
        ("delete", View::InFlight) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "an entry in flight belongs to the worker holding it and cannot be deleted; wait for it to finish, or to come back when its lease ends",
            ))
        }
        ("delete", _) => (
            "deleted",
            queue
                .bounded(browse.delete(view.section(), keys))
                .await
                .map_err(|e| ApiError::engine(&name, &e))?,
        ),
        ("run_now", View::Scheduled | View::Retries) => (
            "moved",
            queue
                .bounded(browse.run_now(keys))
                .await
                .map_err(|e| ApiError::engine(&name, &e))?,
        ),
        ("run_now", _) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "`run_now` moves scheduled entries and retries to pending; `{}` entries are not waiting for a time",
                    view.name()
                ),
            ))
        }
        (other, _) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no action `{other}`; the actions on chosen entries are `delete` and `run_now` (and `replay` for dead letters)"),
            ))
        }
    };
    tracing::info!(queue = %name, view = view.name(), action = %action, asked = keys.len(), done = n, "entries acted on from the admin API");
    Ok(Json(
        serde_json::json!({ "queue": name, "view": view.name(), field: n }),
    ))
}

fn browse(queue: &ServedQueue) -> Result<&dyn Browse, ApiError> {
    queue.engine.browse().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "the {} engine cannot act on entries one by one; `dead replay` and `purge` still work",
                queue.engine.kind()
            ),
        )
    })
}
