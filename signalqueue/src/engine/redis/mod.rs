//! `redis://`, `redis-set://`: the production engines (being written).

use crate::engine::{EngineOptions, EngineUrl, SharedEngine};
use crate::error::Error;

/// Opens a Redis engine.
pub(crate) async fn open(_url: &str, _parsed: &EngineUrl, _options: EngineOptions) -> Result<SharedEngine, Error> {
    Err(Error::Config { origin: "queue URL".into(), message: "the redis engines are not built yet".into() })
}
