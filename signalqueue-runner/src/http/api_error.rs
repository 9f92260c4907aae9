//! Errors of the JSON API: an HTTP status and a JSON body `{"error": "..."}` that says what to
//! do next, like every error of signalqueue.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use signalqueue::engine::EngineError;

use super::ServedQueue;

/// A failed API request.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
    /// For an unknown queue: the queues there are, so the caller can correct the URL.
    known_queues: Option<Vec<String>>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            known_queues: None,
        }
    }

    /// What went wrong, for a page that shows the error in place.
    pub(super) fn message(&self) -> &str {
        &self.message
    }

    pub(super) fn unknown_queue(name: &str, queues: &[ServedQueue]) -> Self {
        let known: Vec<String> = queues.iter().map(|q| q.name.clone()).collect();
        let listed = if known.is_empty() {
            "this worker serves no queue".to_string()
        } else {
            format!(
                "known queues: {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("unknown queue `{name}`; {listed}"),
            known_queues: Some(known),
        }
    }

    pub(super) fn engine(queue: &str, err: &EngineError) -> Self {
        // An unreachable engine is the server's dependency being down, not a bug here.
        let status = if err.is_unavailable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError::new(status, format!("queue `{queue}`: {err}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(known) = self.known_queues {
            body["known_queues"] = known.into();
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: tell the client which scheme to use.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"signalqueue-admin\""),
            );
        }
        response
    }
}
