//! Engines by URL scheme: one registry, filled at link time, that `engine::open` consults. The
//! engines of this crate register their schemes here like any other crate's would, so an
//! engine from another crate is named in `signalqueue.toml`, `SIGNALQUEUE_URL` and on the
//! worker's command line exactly as the built-in ones are:
//!
//! ```ignore
//! signalqueue::register_engine! {
//!     schemes: ["toy"],
//!     form: "toy://NAME",
//!     open: |request| Box::pin(async move { Ok(ToyEngine::open(&request)?) as _ }),
//! }
//! ```

use std::future::Future;
use std::pin::Pin;

use crate::engine::{EngineOptions, EngineUrl, SharedEngine};
use crate::error::Error;

/// What an engine's opener is given.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OpenRequest {
    /// The URL as configured (with its password: do not log it; see
    /// [`redact_url`](crate::engine::redact_url)).
    pub url: String,
    /// The URL split at `://`, scheme in lower case.
    pub parsed: EngineUrl,
    /// The queue's options.
    pub options: EngineOptions,
}

/// What an opener returns.
pub type OpenFuture = Pin<Box<dyn Future<Output = Result<SharedEngine, Error>> + Send>>;

/// One engine kind, registered with [`register_engine!`](crate::register_engine).
#[derive(Debug)]
pub struct EngineScheme {
    /// The URL schemes it answers to, lower case, without `://` (`["redis", "rediss"]`).
    pub schemes: &'static [&'static str],
    /// The URL's form, for messages that list what may be written (`redis://HOST:PORT/DB`).
    pub form: &'static str,
    /// Opens a queue on it.
    pub open: fn(OpenRequest) -> OpenFuture,
}

inventory::collect!(EngineScheme);

/// Registers an engine kind under its URL schemes (see the module docs). Expands to a
/// link-time registration, so it goes at item level, anywhere in a crate the binary links.
#[macro_export]
macro_rules! register_engine {
    (schemes: [$($scheme:literal),+ $(,)?], form: $form:literal, open: $open:expr $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::__private::EngineScheme {
                schemes: &[$($scheme),+],
                form: $form,
                open: $open,
            }
        }
    };
}

/// Schemes of this crate's engines whose cargo feature is off in this build, with that
/// feature, so the error can say what to enable rather than "unknown".
const BEHIND_FEATURES: &[(&str, &str)] = &[
    ("sqlite", "sqlite"),
    ("redis", "redis"),
    ("rediss", "redis-tls"),
    ("redis-set", "redis"),
    ("rediss-set", "redis-tls"),
    ("redis-cluster", "redis"),
    ("redis-set-cluster", "redis"),
    ("postgres", "postgres"),
    ("postgresql", "postgres"),
];

/// The registered engine kinds.
pub fn all() -> impl Iterator<Item = &'static EngineScheme> {
    inventory::iter::<EngineScheme>.into_iter()
}

/// The engine kind registered for `scheme` (lower case).
pub fn find(scheme: &str) -> Option<&'static EngineScheme> {
    all().find(|e| e.schemes.contains(&scheme))
}

/// The forms that may be written, for error messages: `` `sqlite://PATH`, `memory://NAME` ``.
pub fn known_forms() -> String {
    let mut forms: Vec<&str> = all().map(|e| e.form).collect();
    forms.sort_unstable();
    forms
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `scheme` cannot be opened in this build: not compiled in (which feature), or unknown.
pub(crate) fn unknown(scheme: &str, url: &str) -> String {
    match BEHIND_FEATURES.iter().find(|(s, _)| *s == scheme) {
        Some((_, feature)) => format!(
            "engine `{scheme}://` is not compiled into this build; enable the cargo feature `{feature}` of `signalqueue`"
        ),
        None => format!(
            "unknown engine `{scheme}://` in `{}`; use one of {} (an engine from another crate registers its scheme with `signalqueue::register_engine!` in a crate this binary links)",
            crate::engine::redact_url(url),
            known_forms()
        ),
    }
}

/// Two registrations of one scheme: refused when the scheme is used, naming both forms.
pub(crate) fn ambiguous(scheme: &str) -> Option<String> {
    let claiming: Vec<&str> = all()
        .filter(|e| e.schemes.contains(&scheme))
        .map(|e| e.form)
        .collect();
    (claiming.len() > 1).then(|| {
        format!(
            "the scheme `{scheme}://` is registered by more than one engine ({}); link only one of the crates that register it",
            claiming.join(", ")
        )
    })
}

crate::register_engine! {
    schemes: ["memory"],
    form: "memory://NAME",
    open: |r| Box::pin(async move {
        Ok(crate::engine::memory::MemoryEngine::named(&r.parsed.rest, r.options) as SharedEngine)
    }),
}

#[cfg(feature = "sqlite")]
crate::register_engine! {
    schemes: ["sqlite"],
    form: "sqlite://PATH",
    open: |r| Box::pin(async move { crate::engine::sqlite::open(&r.parsed, r.options).await }),
}

#[cfg(feature = "redis")]
fn open_redis(r: OpenRequest) -> OpenFuture {
    Box::pin(async move { crate::engine::redis::open(&r.url, &r.parsed, r.options).await })
}

#[cfg(feature = "redis")]
crate::register_engine! { schemes: ["redis", "rediss"], form: "redis://HOST:PORT/DB", open: open_redis }
#[cfg(feature = "redis")]
crate::register_engine! { schemes: ["redis-set", "rediss-set"], form: "redis-set://HOST:PORT/DB", open: open_redis }
#[cfg(feature = "redis")]
crate::register_engine! {
    schemes: ["redis-cluster", "redis-set-cluster"],
    form: "redis-cluster://HOST:PORT,HOST:PORT",
    open: open_redis,
}

#[cfg(feature = "postgres")]
crate::register_engine! {
    schemes: ["postgres", "postgresql"],
    form: "postgres://USER@HOST:PORT/DATABASE",
    open: |r| Box::pin(async move { crate::engine::postgres::open(&r.url, r.options).await }),
}
