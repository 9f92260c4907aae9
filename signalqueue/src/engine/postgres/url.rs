//! `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=...&schema=...`: what the URL may say.
//!
//! The URL is handed to tokio-postgres (which reads libpq's URL form) once our own `schema`
//! parameter is taken out. Only a few query parameters are accepted, so that a typo such as
//! `?shcema=` is an error at start-up rather than a queue in the wrong schema.

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::SslMode;

/// The schema used when the URL names none.
pub(crate) const DEFAULT_SCHEMA: &str = "signalqueue";

/// The longest schema name accepted: the wake-up channel is `SCHEMA.entries`, and PostgreSQL
/// channel names (like identifiers) are at most 63 bytes.
const MAX_SCHEMA_LEN: usize = 50;

/// The query parameters a queue URL may carry.
const ALLOWED_PARAMS: &str = "`sslmode` (disable, prefer, require), `sslrootcert` (a PEM file), `schema`, `connect_timeout` (seconds), `application_name`";

/// How long opening one connection may take before the call fails with `Unavailable`, unless
/// the URL says `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed `postgres://` queue URL.
#[derive(Clone, Debug)]
pub(crate) struct PgUrl {
    /// How to connect: everything but the schema.
    pub(crate) config: tokio_postgres::Config,
    /// The schema holding the tables (a plain identifier, checked).
    pub(crate) schema: String,
    /// The URL with its password replaced by `***`, for logs and errors.
    pub(crate) shown: String,
    /// `sslrootcert`: the certificate (PEM) that signed the server's, trusted besides the
    /// system's store.
    // Read only by the TLS connector, which builds without `postgres-tls` do not have.
    #[cfg_attr(not(feature = "postgres-tls"), allow(dead_code))]
    pub(crate) root_cert: Option<PathBuf>,
}

/// Parses a `postgres://` or `postgresql://` URL; the error says what is wrong and what is
/// allowed, and never contains the password.
pub(crate) fn parse(url: &str) -> Result<PgUrl, String> {
    let shown = crate::engine::redact_url(url);
    if url.contains('#') {
        return Err(format!(
            "`{shown}` has a `#fragment`, which a PostgreSQL URL does not take"
        ));
    }
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut schema = DEFAULT_SCHEMA.to_string();
    let mut kept: Vec<(String, String)> = Vec::new();
    let mut connect_timeout = false;
    let mut root_cert = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "schema" => schema = value.into_owned(),
            "sslrootcert" => root_cert = Some(PathBuf::from(&*value)),
            "sslmode" => {
                match &*value {
                    "disable" | "prefer" | "require" => {}
                    other => {
                        return Err(format!(
                            "`sslmode={other}` in `{shown}` is not supported; use `disable`, `prefer` or `require`"
                        ))
                    }
                }
                kept.push((key.into_owned(), value.into_owned()));
            }
            "connect_timeout" => {
                connect_timeout = true;
                kept.push((key.into_owned(), value.into_owned()));
            }
            "application_name" => kept.push((key.into_owned(), value.into_owned())),
            other => {
                return Err(format!(
                    "unknown parameter `{other}` in `{shown}`; a queue URL takes {ALLOWED_PARAMS}"
                ))
            }
        }
    }
    check_schema(&schema).map_err(|e| format!("{e} (in `{shown}`)"))?;

    let mut rebuilt = base.to_string();
    if !kept.is_empty() {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in &kept {
            query.append_pair(key, value);
        }
        rebuilt.push('?');
        rebuilt.push_str(&query.finish());
    }
    // tokio-postgres knows only `postgresql://` and `postgres://`, in lower case.
    let rebuilt = match rebuilt.split_once("://") {
        Some((_, rest)) => format!("postgresql://{rest}"),
        None => rebuilt,
    };
    let mut config: tokio_postgres::Config = rebuilt.parse().map_err(|e| {
        format!("`{shown}` is not a PostgreSQL URL ({e}); write `postgres://USER:PASSWORD@HOST:PORT/DATABASE`")
    })?;
    if config.get_hosts().is_empty() {
        return Err(format!(
            "`{shown}` names no host; write `postgres://USER@HOST:PORT/DATABASE`"
        ));
    }
    if config.get_user().is_none() {
        return Err(format!(
            "`{shown}` names no user; write `postgres://USER@HOST:PORT/DATABASE`"
        ));
    }
    let tls = config.get_ssl_mode() == SslMode::Require;
    if tls && !cfg!(feature = "postgres-tls") {
        return Err(format!(
            "`sslmode=require` in `{shown}` needs TLS, which this build does not include; enable the cargo feature `postgres-tls` of `signalqueue` (it needs `libssl-dev` to build), or use `sslmode=disable`"
        ));
    }
    if root_cert.is_some() && !tls {
        return Err(format!(
            "`sslrootcert` in `{shown}` is only used with `sslmode=require`; add that, or remove `sslrootcert`"
        ));
    }
    if !connect_timeout {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    // A server that vanished without closing the socket (a crashed machine, a cut network)
    // must still end the calls waiting on it; keepalives and the user timeout notice within
    // about half a minute instead of the kernel's two hours.
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(15))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(30));
    if config.get_application_name().is_none() {
        config.application_name("signalqueue");
    }
    Ok(PgUrl {
        config,
        schema,
        shown,
        root_cert,
    })
}

/// Checks that `schema` is a plain identifier: letters, digits and `_`, not starting with a
/// digit, so that it can be quoted into SQL and named in a `LISTEN` without escaping.
pub(crate) fn check_schema(schema: &str) -> Result<(), String> {
    let plain = !schema.is_empty()
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if !plain {
        return Err(format!(
            "the schema `{schema}` is not a plain identifier; use letters, digits and `_`, not starting with a digit"
        ));
    }
    if schema.len() > MAX_SCHEMA_LEN {
        return Err(format!(
            "the schema `{schema}` is longer than {MAX_SCHEMA_LEN} characters; use a shorter name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_defaults_and_can_be_chosen() {
        let u = parse("postgres://postgres@127.0.0.1:5432/test").expect("valid");
        assert_eq!(u.schema, "signalqueue");
        assert_eq!(u.config.get_dbname(), Some("test"));
        assert_eq!(u.config.get_ports(), [5432]);
        assert_eq!(u.config.get_user(), Some("postgres"));
        let u = parse("postgresql://me@db/app?schema=jobs_2&sslmode=disable").expect("valid");
        assert_eq!(u.schema, "jobs_2");
        assert_eq!(u.config.get_ssl_mode(), SslMode::Disable);
        let u = parse("postgres://me@db/app?sslmode=prefer").expect("valid");
        assert_eq!(u.config.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(u.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let u = parse("postgres://me@db/app?connect_timeout=2").expect("valid");
        assert_eq!(
            u.config.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
    }

    #[test]
    fn passwords_are_read_and_never_shown() {
        let u = parse("postgres://app:s3cret@db:5433/shop?schema=q").expect("valid");
        assert_eq!(u.config.get_password(), Some(b"s3cret".as_slice()));
        assert_eq!(u.shown, "postgres://app:***@db:5433/shop?schema=q");
        for bad in [
            "postgres://app:s3cret@db/shop?schema=no-dash",
            "postgres://app:s3cret@db/shop?nope=1",
            "postgres://app:s3cret@db/shop?sslrootcert=/x",
            "postgres://app:s3cret@db/shop?sslmode=verify-full",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("app:***@db"), "{err}");
        }
    }

    #[test]
    fn sslmode_require_needs_the_tls_feature() {
        let parsed = parse("postgres://u@h/d?sslmode=require&sslrootcert=/etc/ca.pem");
        if cfg!(feature = "postgres-tls") {
            let u = parsed.expect("valid with the feature");
            assert_eq!(u.config.get_ssl_mode(), SslMode::Require);
            assert_eq!(u.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        } else {
            let err = parsed.unwrap_err();
            assert!(err.contains("needs TLS"), "{err}");
            assert!(err.contains("feature `postgres-tls`"), "{err}");
        }
    }

    #[test]
    fn bad_schemas_and_parameters_are_named() {
        let err = parse("postgres://u@h/d?schema=a.b").unwrap_err();
        assert!(err.contains("`a.b` is not a plain identifier"), "{err}");
        let err = parse("postgres://u@h/d?schema=1abc").unwrap_err();
        assert!(err.contains("not a plain identifier"), "{err}");
        let err = parse(&format!("postgres://u@h/d?schema={}", "x".repeat(51))).unwrap_err();
        assert!(err.contains("longer than 50"), "{err}");
        let err = parse("postgres://u@h/d?shcema=q").unwrap_err();
        assert!(err.contains("unknown parameter `shcema`"), "{err}");
        assert!(err.contains("`sslmode`"), "{err}");
        assert!(err.contains("`schema`"), "{err}");
        let err = parse("postgres://u@h/d?sslrootcert=/ca.pem").unwrap_err();
        assert!(err.contains("only used with `sslmode=require`"), "{err}");
        let err = parse("postgres:///d").unwrap_err();
        assert!(err.contains("names no host"), "{err}");
    }
}
