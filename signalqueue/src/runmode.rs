//! Runmodes: whether `send` queues the signal or runs its receivers at once.

use std::fmt;
use std::str::FromStr;

/// Whether `send` queues a signal for the worker or runs its receivers inline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runmode {
    /// `send` runs every receiver here, now, like `send_now` (tests, scripts, debugging).
    Sync,
    /// `send` queues the signal and returns once it is durably queued (the default).
    #[default]
    Async,
}

/// The values a runmode may take, for error messages.
pub(crate) const ALLOWED_RUNMODES: &str =
    "`sync` or `async` (or the original's names: `SQ_SYNC`, `SQ_ASYNC_MGMT` mean sync; `SQ_ASYNC_REQUEST`, `SQ_ASYNC_DAEMON` mean async)";

impl FromStr for Runmode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "sync" | "SQ_SYNC" | "SQ_ASYNC_MGMT" => Ok(Runmode::Sync),
            "async" | "SQ_ASYNC_REQUEST" | "SQ_ASYNC_DAEMON" => Ok(Runmode::Async),
            other => Err(format!("unknown runmode `{other}`; use {ALLOWED_RUNMODES}")),
        }
    }
}

impl fmt::Display for Runmode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runmode::Sync => "sync",
            Runmode::Async => "async",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_new_and_legacy_names() {
        for (s, m) in [
            ("sync", Runmode::Sync),
            ("SQ_SYNC", Runmode::Sync),
            ("SQ_ASYNC_MGMT", Runmode::Sync),
            ("async", Runmode::Async),
            ("SQ_ASYNC_REQUEST", Runmode::Async),
            ("SQ_ASYNC_DAEMON", Runmode::Async),
        ] {
            assert_eq!(s.parse::<Runmode>().unwrap(), m, "{s}");
        }
        let err = "4".parse::<Runmode>().unwrap_err();
        assert!(err.contains("unknown runmode `4`"), "{err}");
        assert!(err.contains("SQ_ASYNC_REQUEST"), "{err}");
    }
}
