//! signalqueue: typed signals, sent now, handled later by a worker, through a durable queue.

pub mod codec;
pub mod engine;
pub mod envelope;
mod error;

pub use crate::codec::Codec;
pub use crate::envelope::{Envelope, EnvelopeId, Payload};
pub use crate::error::Error;
