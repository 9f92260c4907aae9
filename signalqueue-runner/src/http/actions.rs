//! The `POST` actions on dead letters: replay and purge. Both need the admin token.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;

use super::api_error::ApiError;
use super::auth::authorize;
use super::App;

/// The optional body of a replay: which dead letters (by key, as the dead list shows them).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    keys: Option<Vec<String>>,
}

/// `POST /api/queues/NAME/dead/replay`: moves dead letters back to the queue, all of them or
/// those whose keys the body lists; answers `{"replayed": N}`.
pub(super) async fn replay_dead(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(app.admin.token.as_deref(), &headers)?;
    let queue = app.queue(&name)?;
    // An empty body means "all"; parsing by hand keeps the error in our words, and does not
    // insist on a content type from a `curl -X POST` without one.
    let keys = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let request: ReplayRequest = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be empty (replay all) or `{{\"keys\": [\"KEY\", ...]}}`: {e}"
                ),
            )
        })?;
        request.keys
    };
    let replayed = queue
        .bounded(queue.engine.replay_dead(keys.as_deref()))
        .await
        .map_err(|e| ApiError::engine(&name, &e))?;
    tracing::info!(queue = %name, replayed, "dead letters replayed from the admin API");
    Ok(Json(
        serde_json::json!({ "queue": name, "replayed": replayed }),
    ))
}

/// `POST /api/queues/NAME/dead/purge`: removes every dead letter; answers `{"purged": N}`.
pub(super) async fn purge_dead(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(app.admin.token.as_deref(), &headers)?;
    let queue = app.queue(&name)?;
    let purged = queue
        .bounded(queue.engine.purge_dead())
        .await
        .map_err(|e| ApiError::engine(&name, &e))?;
    tracing::warn!(queue = %name, purged, "dead letters purged from the admin API");
    Ok(Json(serde_json::json!({ "queue": name, "purged": purged })))
}
