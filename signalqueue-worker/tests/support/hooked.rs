//! An engine for tests that forwards every call to a real one, except the renewals and
//! acknowledgements a test intercepts through [`Hooks`] (to make them race, or lose a lease, at
//! a moment of its choosing). One forwarding implementation, so a method added to `Engine`
//! is forwarded in one place.

use std::time::{Duration, SystemTime};

use signalqueue::engine::{
    ClaimToken, Claimed, Counts, DeadEntry, DeadLetter, Engine, EngineError, Entry, Outgoing,
    SharedEngine,
};

/// What a test does instead of forwarding; by default, forwarding.
#[async_trait::async_trait]
pub(crate) trait Hooks: Send + Sync + 'static {
    async fn renew(
        &self,
        inner: &SharedEngine,
        tokens: &[ClaimToken],
        lease: Duration,
    ) -> Result<Vec<bool>, EngineError> {
        inner.renew(tokens, lease).await
    }

    async fn ack(
        &self,
        inner: &SharedEngine,
        tokens: &[ClaimToken],
    ) -> Result<Vec<bool>, EngineError> {
        inner.ack(tokens).await
    }
}

/// `inner`, with renewals and acknowledgements through `hooks`.
pub(crate) struct Hooked<H> {
    pub(crate) inner: SharedEngine,
    pub(crate) hooks: H,
}

#[async_trait::async_trait]
impl<H: Hooks> Engine for Hooked<H> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn ping(&self) -> Result<(), EngineError> {
        self.inner.ping().await
    }
    async fn enqueue(&self, batch: &[Outgoing]) -> Result<(), EngineError> {
        self.inner.enqueue(batch).await
    }
    async fn claim(
        &self,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Claimed>, EngineError> {
        self.inner.claim(max, lease, wait).await
    }
    async fn renew(
        &self,
        tokens: &[ClaimToken],
        lease: Duration,
    ) -> Result<Vec<bool>, EngineError> {
        self.hooks.renew(&self.inner, tokens, lease).await
    }
    async fn ack(&self, tokens: &[ClaimToken]) -> Result<Vec<bool>, EngineError> {
        self.hooks.ack(&self.inner, tokens).await
    }
    async fn retry(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        not_before: SystemTime,
    ) -> Result<bool, EngineError> {
        self.inner.retry(token, payload, not_before).await
    }
    async fn dead_letter(
        &self,
        token: &ClaimToken,
        payload: &[u8],
        reason: &str,
    ) -> Result<bool, EngineError> {
        self.inner.dead_letter(token, payload, reason).await
    }
    async fn split(
        &self,
        token: &ClaimToken,
        entries: &[Outgoing],
        dead: &[DeadLetter],
    ) -> Result<bool, EngineError> {
        self.inner.split(token, entries, dead).await
    }
    async fn release(&self, tokens: &[ClaimToken]) -> Result<(), EngineError> {
        self.inner.release(tokens).await
    }
    async fn counts(&self) -> Result<Counts, EngineError> {
        self.inner.counts().await
    }
    async fn pending(&self, limit: usize) -> Result<Vec<Entry>, EngineError> {
        self.inner.pending(limit).await
    }
    async fn dead(&self, limit: usize) -> Result<Vec<DeadEntry>, EngineError> {
        self.inner.dead(limit).await
    }
    async fn purge_pending(&self) -> Result<u64, EngineError> {
        self.inner.purge_pending().await
    }
    async fn purge_dead(&self) -> Result<u64, EngineError> {
        self.inner.purge_dead().await
    }
    async fn replay_dead(&self, keys: Option<&[String]>) -> Result<u64, EngineError> {
        self.inner.replay_dead(keys).await
    }
}
