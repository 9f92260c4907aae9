//! An engine written outside signalqueue, from its public API only, passes the engine contract.
//!
//! The engine's values (`Claimed`, `Entry`, `DeadEntry`, `Counts`, `Beat`, `EngineError`) are
//! `#[non_exhaustive]`, so another crate cannot write them as struct literals: it builds them
//! with their constructors. This engine keeps its entries in the memory engine, but rebuilds
//! every value it hands back through those constructors, so the suite fails if a constructor
//! drops or mixes up a field. It is registered under a scheme of its own and opened by URL, as
//! a third-party engine would be.

#[path = "support/contract.rs"]
mod contract;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use signalqueue::engine::heartbeats::Beat;
use signalqueue::engine::memory::MemoryEngine;
use signalqueue::engine::{
    ClaimToken, Claimed, Colocation, Counts, DeadEntry, DeadLetter, Engine, EngineError,
    EngineOptions, Entry, Heartbeats, Outgoing, SharedEngine, Ticks,
};

/// The engine of "another crate": the memory engine behind constructors.
struct Outside {
    inner: SharedEngine,
}

signalqueue::register_engine! {
    schemes: ["outside"],
    form: "outside://NAME",
    open: |request| Box::pin(async move {
        let name = format!("outside-{}", request.parsed.rest);
        let inner = MemoryEngine::named(&name, request.options);
        Ok(Arc::new(Outside { inner }) as SharedEngine)
    }),
}

/// Rebuilds an error the way another crate makes its own. Both variants are
/// `#[non_exhaustive]`, so reading their fields takes `..`, and the enum is too, so a match
/// needs its wildcard arm.
fn rebuilt(error: EngineError) -> EngineError {
    match error {
        EngineError::Unavailable {
            engine, message, ..
        } => EngineError::unavailable(engine, message),
        EngineError::Failed {
            engine, message, ..
        } => EngineError::failed(engine, message),
        other => other,
    }
}

#[async_trait]
impl Engine for Outside {
    fn kind(&self) -> &'static str {
        "outside"
    }

    fn describe(&self) -> String {
        self.inner.describe().replace("memory://", "outside://")
    }

    async fn ping(&self) -> Result<(), EngineError> {
        self.inner.ping().await.map_err(rebuilt)
    }

    fn colocation(&self) -> Option<Colocation> {
        None
    }

    fn ticks(&self) -> Option<&dyn Ticks> {
        self.inner.ticks()
    }

    fn heartbeats(&self) -> Option<&dyn Heartbeats> {
        Some(self)
    }

    async fn enqueue(&self, batch: &[Outgoing]) -> Result<(), EngineError> {
        let batch: Vec<Outgoing> = batch
            .iter()
            .map(|o| Outgoing::new(o.id, o.payload.clone()).not_before(o.not_before))
            .collect();
        self.inner.enqueue(&batch).await.map_err(rebuilt)
    }

    async fn claim(
        &self,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Claimed>, EngineError> {
        let claimed = self.inner.claim(max, lease, wait).await.map_err(rebuilt)?;
        Ok(claimed
            .into_iter()
            .map(|c| {
                // A claim token is a plain key and fence, built as a literal.
                let token = ClaimToken {
                    key: c.token.key,
                    fence: c.token.fence,
                };
                Claimed::new(token, c.payload, c.deliveries)
            })
            .collect())
    }

    async fn renew(
        &self,
        tokens: &[ClaimToken],
        lease: Duration,
    ) -> Result<Vec<bool>, EngineError> {
        self.inner.renew(tokens, lease).await.map_err(rebuilt)
    }

    async fn ack(&self, tokens: &[ClaimToken]) -> Result<Vec<bool>, EngineError> {
        self.inner.ack(tokens).await.map_err(rebuilt)
    }

    async fn retry(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        not_before: SystemTime,
    ) -> Result<bool, EngineError> {
        self.inner
            .retry(token, payload, not_before)
            .await
            .map_err(rebuilt)
    }

    async fn dead_letter(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        reason: &str,
    ) -> Result<bool, EngineError> {
        self.inner
            .dead_letter(token, payload, reason)
            .await
            .map_err(rebuilt)
    }

    async fn split(
        &self,
        token: &ClaimToken,
        entries: &[Outgoing],
        dead: &[DeadLetter],
    ) -> Result<bool, EngineError> {
        let dead: Vec<DeadLetter> = dead
            .iter()
            .map(|d| DeadLetter::new(d.payload.clone(), d.reason.clone()))
            .collect();
        self.inner
            .split(token, entries, &dead)
            .await
            .map_err(rebuilt)
    }

    async fn release(&self, tokens: &[ClaimToken]) -> Result<(), EngineError> {
        self.inner.release(tokens).await.map_err(rebuilt)
    }

    async fn counts(&self) -> Result<Counts, EngineError> {
        let c = self.inner.counts().await.map_err(rebuilt)?;
        Ok(Counts::new(c.pending, c.scheduled, c.in_flight, c.dead))
    }

    async fn pending(&self, limit: usize) -> Result<Vec<Entry>, EngineError> {
        let entries = self.inner.pending(limit).await.map_err(rebuilt)?;
        Ok(entries
            .into_iter()
            .map(|e| Entry::new(e.key, e.payload))
            .collect())
    }

    async fn dead(&self, limit: usize) -> Result<Vec<DeadEntry>, EngineError> {
        let dead = self.inner.dead(limit).await.map_err(rebuilt)?;
        Ok(dead
            .into_iter()
            .map(|d| DeadEntry::new(d.key, d.payload, d.reason, d.died_at))
            .collect())
    }

    async fn purge_pending(&self) -> Result<u64, EngineError> {
        self.inner.purge_pending().await.map_err(rebuilt)
    }

    async fn purge_dead(&self) -> Result<u64, EngineError> {
        self.inner.purge_dead().await.map_err(rebuilt)
    }

    async fn replay_dead(&self, keys: Option<&[String]>) -> Result<u64, EngineError> {
        self.inner.replay_dead(keys).await.map_err(rebuilt)
    }
}

#[async_trait]
impl Heartbeats for Outside {
    async fn beat(&self, worker: &str, info: &[u8], ttl: Duration) -> Result<(), EngineError> {
        let inner = self
            .inner
            .heartbeats()
            .expect("the memory engine keeps heartbeats");
        inner.beat(worker, info, ttl).await.map_err(rebuilt)
    }

    async fn workers(&self) -> Result<Vec<Beat>, EngineError> {
        let inner = self
            .inner
            .heartbeats()
            .expect("the memory engine keeps heartbeats");
        let beats = inner.workers().await.map_err(rebuilt)?;
        Ok(beats
            .into_iter()
            .map(|b| Beat::new(b.worker, b.info))
            .collect())
    }

    async fn leave(&self, worker: &str) -> Result<(), EngineError> {
        let inner = self
            .inner
            .heartbeats()
            .expect("the memory engine keeps heartbeats");
        inner.leave(worker).await.map_err(rebuilt)
    }
}

/// Opens queues of `outside://contract` by URL, as the configuration would.
struct OutsideFixture;

impl contract::Fixture for OutsideFixture {
    async fn open(&self, options: EngineOptions) -> SharedEngine {
        // The options as another crate builds them: the contract's, set field by field.
        let options = EngineOptions::new(options.queue.clone())
            .with_poll_interval(options.poll_interval)
            .with_dead_max(options.dead_max)
            .with_dead_ttl(options.dead_ttl);
        let engine = signalqueue::engine::open("outside://contract", options)
            .await
            .expect("a registered scheme opens");
        assert_eq!(engine.kind(), "outside");
        engine
    }
}

async fn fixture() -> OutsideFixture {
    OutsideFixture
}

contract::engine_contract_tests!(fixture);
