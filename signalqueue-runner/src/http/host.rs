//! The `Host` check: the admin server answers only requests addressed to it by an IP address,
//! by `localhost`, or by a name the configuration lists (`admin_hosts`).
//!
//! The read routes need no token on loopback, and they show queued arguments. A page on
//! another site, open in an operator's browser, could point its own host name at 127.0.0.1
//! (DNS rebinding) and read them as same-origin; its requests then carry that name in `Host`.
//! Refusing names the worker was not told about (as Django's `ALLOWED_HOSTS` does) closes that.
//! An IP literal cannot be rebound, so it is always accepted.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api_error::ApiError;

/// The host names accepted besides IP addresses and `localhost`, lowercase, without ports.
#[derive(Clone, Debug, Default)]
pub(super) struct AllowedHosts(Arc<[String]>);

impl AllowedHosts {
    pub(super) fn new(names: &[String]) -> AllowedHosts {
        AllowedHosts(
            names
                .iter()
                .map(|n| strip_port(n.trim()).to_ascii_lowercase())
                .collect(),
        )
    }

    /// Whether a request with this `Host` header may be answered.
    pub(super) fn allows(&self, host: &str) -> bool {
        let name = strip_port(host.trim()).to_ascii_lowercase();
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.0.contains(&name)
    }
}

/// `host:port` without the port (`[::1]:80` keeps its brackets).
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.find(']') {
            Some(end) => &host[..end + 2],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Refuses requests whose `Host` names this server by a name it was not given. A request
/// without `Host` (HTTP/1.0 tools) did not come from a browser and is answered.
pub(super) async fn check(
    State(allowed): State<AllowedHosts>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("<not text>").to_string());
    match host {
        Some(host) if !allowed.allows(&host) => {
            tracing::warn!(%host, path = %request.uri().path(), "refused a request for another host name (DNS rebinding?)");
            ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this worker does not answer to the host name `{host}`; reach it by its IP address or `localhost`, or add the name to `admin_hosts` in signalqueue.toml"
                ),
            )
            .into_response()
        }
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_localhost_and_listed_names_only() {
        let allowed = AllowedHosts::new(&["Queue.Internal:11231".to_string()]);
        for ok in [
            "127.0.0.1:11231",
            "127.0.0.1",
            "[::1]:11231",
            "10.1.2.3:80",
            "localhost:11231",
            "LOCALHOST",
            "queue.internal",
            "queue.internal:9999",
        ] {
            assert!(allowed.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example:11231",
            "evil.example",
            "127.0.0.1.evil.example",
            "queue.internal.evil",
        ] {
            assert!(!allowed.allows(refused), "{refused}");
        }
    }
}
