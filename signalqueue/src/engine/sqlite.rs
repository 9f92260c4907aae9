//! `sqlite://PATH`: the embedded default engine (being written).

use crate::engine::{EngineOptions, EngineUrl, SharedEngine};
use crate::error::Error;

/// Opens the SQLite engine at the URL's path.
pub(crate) async fn open(_url: &EngineUrl, _options: EngineOptions) -> Result<SharedEngine, Error> {
    Err(Error::Config { origin: "queue URL".into(), message: "the sqlite engine is not built yet".into() })
}
