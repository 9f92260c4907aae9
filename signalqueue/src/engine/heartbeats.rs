//! Heartbeats of the workers serving a queue, so that the console can list the live ones.
//!
//! A worker beats every few seconds with a short time to live; a worker that dies stops
//! beating and drops out by itself once its last beat expires, with no one to clean up after
//! it. The engine stores what the worker says about itself as opaque bytes (the worker writes
//! JSON), like it stores envelopes: the shape is the worker's business, documented in
//! `docs/worker.md`.

use std::time::Duration;

use async_trait::async_trait;

use crate::engine::EngineError;

/// One live worker, as it last described itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Beat {
    /// The worker's identity ([`consumer_id`](crate::engine::consumer_id)).
    pub worker: String,
    /// What it said about itself (JSON from `signalqueue-worker`).
    pub info: Vec<u8>,
}

impl Beat {
    /// The beat of `worker`, described by `info`: what [`Heartbeats::workers`] returns.
    pub fn new(worker: impl Into<String>, info: impl Into<Vec<u8>>) -> Beat {
        Beat {
            worker: worker.into(),
            info: info.into(),
        }
    }
}

/// Keeping and listing the heartbeats of the workers that serve a queue.
#[async_trait]
pub trait Heartbeats: Send + Sync {
    /// Records that `worker` is alive, described by `info`, for `ttl` from now (replacing
    /// its previous beat). Beats that expired may be dropped meanwhile.
    async fn beat(&self, worker: &str, info: &[u8], ttl: Duration) -> Result<(), EngineError>;

    /// The workers whose last beat has not expired, in no particular order.
    async fn workers(&self) -> Result<Vec<Beat>, EngineError>;

    /// Removes `worker`'s beat at once (a clean stop), so that it leaves the list now rather
    /// than when its beat expires.
    async fn leave(&self, worker: &str) -> Result<(), EngineError>;
}
