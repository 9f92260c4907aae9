//! The bearer token that guards the `POST` actions.
//!
//! Without a configured token the actions are disabled outright (403), so that a worker started
//! without thinking about it never exposes "purge every dead letter" to whoever can reach the
//! port. A configured token is compared in constant time so its bytes cannot be guessed one by
//! one from response times.

use axum::http::{header, HeaderMap, StatusCode};

use super::api_error::ApiError;

/// Checks the request's `Authorization: Bearer TOKEN` against the configured token.
pub(super) fn authorize(configured: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = configured.filter(|t| !t.trim().is_empty()) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "actions are disabled: set SIGNALQUEUE_ADMIN_TOKEN on the worker",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 7235); the token is not.
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this action needs `Authorization: Bearer TOKEN` with the worker's SIGNALQUEUE_ADMIN_TOKEN",
        )),
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong admin token; use the worker's SIGNALQUEUE_ADMIN_TOKEN",
        )),
    }
}

/// `a == b` in time that depends only on the lengths: every byte is looked at whatever the
/// first difference is. The length itself is not secret enough to hide (it leaks through
/// the request size anyway).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    // Keeps the optimiser from turning the loop back into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    fn status(r: Result<(), ApiError>) -> Option<u16> {
        use axum::response::IntoResponse;
        r.err().map(|e| e.into_response().status().as_u16())
    }

    #[test]
    fn compares_whole_tokens() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn token_rules() {
        assert_eq!(status(authorize(None, &with_auth("Bearer x"))), Some(403));
        // A blank configured token is no token: an empty bearer must not get in.
        assert_eq!(
            status(authorize(Some(" "), &with_auth("Bearer "))),
            Some(403)
        );
        assert_eq!(status(authorize(Some("s3"), &HeaderMap::new())), Some(401));
        assert_eq!(
            status(authorize(Some("s3"), &with_auth("Bearer nope"))),
            Some(401)
        );
        assert_eq!(
            status(authorize(Some("s3"), &with_auth("Basic s3"))),
            Some(401)
        );
        assert_eq!(status(authorize(Some("s3"), &with_auth("bearer s3"))), None);
        assert_eq!(status(authorize(Some("s3"), &with_auth("Bearer s3"))), None);
    }
}
