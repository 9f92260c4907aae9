//! Choosing an engine by URL: the scheme names a registered engine kind
//! ([`schemes`](crate::engine::schemes): `memory://`, `sqlite://PATH`, `redis://...`,
//! `redis-set://...`, `postgres://...`, and any other crate's).

use crate::engine::schemes::{self, OpenRequest};
use crate::engine::{EngineOptions, SharedEngine};
use crate::error::Error;

/// A queue URL, split into the engine kind and the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineUrl {
    /// The scheme: `memory`, `sqlite`, `redis`, `rediss`, `redis-set`, ...
    pub scheme: String,
    /// Everything after `scheme://`.
    pub rest: String,
}

impl EngineUrl {
    /// Splits `url` at `://` and checks that an engine is registered for its scheme; an error
    /// says which forms are allowed (or which cargo feature compiles the engine in).
    pub fn parse(url: &str) -> Result<EngineUrl, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "`{url}` is not a queue URL; use one of {}",
                schemes::known_forms()
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if schemes::find(&scheme).is_none() {
            return Err(schemes::unknown(&scheme, url));
        }
        if scheme == "sqlite" && rest.is_empty() {
            return Err("`sqlite://` needs a file path, e.g. `sqlite://signalqueue.db`".into());
        }
        Ok(EngineUrl {
            scheme,
            rest: rest.to_string(),
        })
    }
}

/// `url` with the password (if any) replaced by `***`, safe for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // Userinfo ends at the last '@' before the path, query or fragment (a cluster URL may have
    // no path: `redis-cluster://:pw@h:1,h:2?replicas=1`).
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            // A lone userinfo is a user name in PostgreSQL's URLs, but often a password in
            // Redis's (`redis://SECRET@host`), so only PostgreSQL's is shown.
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else if scheme.to_ascii_lowercase().starts_with("postgres") {
                user.to_string()
            } else {
                "***".to_string()
            };
            format!("{scheme}://{masked}{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

/// Opens the engine a URL names. Nothing is sent over the network before the first use, except
/// where the engine must connect to exist; use [`Engine::ping`](crate::engine::Engine::ping) to
/// check reachability.
pub async fn open(url: &str, options: EngineOptions) -> Result<SharedEngine, Error> {
    let parsed = EngineUrl::parse(url).map_err(|message| Error::Config {
        origin: "queue URL".into(),
        message,
    })?;
    if let Some(message) = schemes::ambiguous(&parsed.scheme) {
        return Err(Error::Config {
            origin: "queue URL".into(),
            message,
        });
    }
    let kind = schemes::find(&parsed.scheme).expect("parse checked that the scheme is registered");
    (kind.open)(OpenRequest {
        url: url.to_string(),
        parsed,
        options,
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("redis://:secret@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("rediss://user:pw@h:1/2"),
            "rediss://user:***@h:1/2"
        );
        assert_eq!(redact_url("sqlite://q.db"), "sqlite://q.db");
        assert_eq!(
            redact_url("postgres://app@db:5432/shop"),
            "postgres://app@db:5432/shop"
        );
        assert_eq!(redact_url("redis://secret@h:1/0"), "redis://***@h:1/0");
        assert_eq!(
            redact_url("redis-cluster://:pw@h:1,h:2?replicas=1&replica_timeout_ms=500"),
            "redis-cluster://:***@h:1,h:2?replicas=1&replica_timeout_ms=500"
        );
        assert_eq!(
            redact_url("postgres://app:pw@db:5432/shop?schema=q"),
            "postgres://app:***@db:5432/shop?schema=q"
        );
    }

    #[test]
    fn rejects_unknown_schemes_with_the_allowed_ones() {
        let err = EngineUrl::parse("mysql://x").unwrap_err();
        assert!(err.contains("unknown engine `mysql://`"), "{err}");
        assert!(err.contains("sqlite://PATH"), "{err}");
        assert!(err.contains("postgres://USER@HOST"), "{err}");
        for known in ["postgres://u@h/d", "postgresql://u@h/d", "POSTGRES://u@h/d"] {
            assert!(EngineUrl::parse(known).is_ok(), "{known}");
        }
        let err = EngineUrl::parse("just-a-path").unwrap_err();
        assert!(err.contains("is not a queue URL"), "{err}");
    }
}
