//! Waking waiting claims without polling: one `LISTEN` connection per engine.
//!
//! The trigger on `entries` sends `NOTIFY "SCHEMA.entries", 'QUEUE'` when a transaction that
//! inserted entries commits, whoever inserted them; retries and releases notify too. A task
//! keeps one connection listening on the channel and wakes this engine's waiting claims when
//! their queue is named. When that connection breaks (the server restarted, the network
//! dropped), the task reconnects with a backoff, and wakes every waiting claim once it listens
//! again, because notifications sent while it was away are lost.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Socket};

use super::schema;
use super::tls::Tls;

/// The first wait before reconnecting a broken listener; doubled at each failure.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The listening task of one engine; stopped when dropped.
pub(crate) struct Listener {
    task: JoinHandle<()>,
}

impl Listener {
    /// Starts listening for inserts into `queue` of `schema`, waking `arrived`'s waiters; the
    /// first connection is made in the background.
    pub(crate) fn spawn(
        config: tokio_postgres::Config,
        tls: Tls,
        schema: &str,
        queue: String,
        shown: String,
        arrived: Arc<Notify>,
    ) -> Listener {
        Listener::spawn_on(
            config,
            tls,
            schema::channel(schema),
            Some(queue),
            shown,
            arrived,
        )
    }

    /// Starts listening on `channel`, waking `arrived` at every notification whose payload is
    /// `payload` (any payload when `None`: the outbox's channel). Waiters are woken with
    /// `notify_waiters`, and one permit is also left with `notify_one`, so that a single
    /// waiter that was busy when the notification came (the outbox relay, between two
    /// batches) does not miss it.
    pub(crate) fn spawn_on(
        config: tokio_postgres::Config,
        tls: Tls,
        channel: String,
        payload: Option<String>,
        shown: String,
        arrived: Arc<Notify>,
    ) -> Listener {
        let task = tokio::spawn(listen(config, tls, channel, payload, shown, arrived));
        Listener { task }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens until aborted, reconnecting after every failure.
async fn listen(
    config: tokio_postgres::Config,
    tls: Tls,
    channel: String,
    payload: Option<String>,
    shown: String,
    arrived: Arc<Notify>,
) {
    let mut backoff = MIN_BACKOFF;
    let mut was_up = false;
    loop {
        let mut up = false;
        let ended = match &tls {
            Tls::Plain => {
                session(
                    &config,
                    tokio_postgres::NoTls,
                    &channel,
                    payload.as_deref(),
                    &arrived,
                    &mut up,
                )
                .await
            }
            #[cfg(feature = "postgres-tls")]
            Tls::Native(connector) => {
                session(
                    &config,
                    connector.clone(),
                    &channel,
                    payload.as_deref(),
                    &arrived,
                    &mut up,
                )
                .await
            }
        };
        if up {
            backoff = MIN_BACKOFF;
        }
        // One warning per outage, not one per attempt while the server is down.
        if up || was_up {
            tracing::warn!(
                engine = %shown,
                error = %ended,
                "the PostgreSQL wake-up connection broke; reconnecting (waiting claims look every poll interval meanwhile)"
            );
        } else {
            tracing::debug!(engine = %shown, error = %ended, "cannot open the PostgreSQL wake-up connection yet");
        }
        was_up = up;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life: connect, `LISTEN`, then pass notifications on until it breaks.
/// Returns why it ended; sets `up` once it listened.
async fn session<T>(
    config: &tokio_postgres::Config,
    tls: T,
    channel: &str,
    payload: Option<&str>,
    arrived: &Notify,
    up: &mut bool,
) -> String
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, mut connection) = match config.connect(tls).await {
        Ok(pair) => pair,
        Err(e) => return e.to_string(),
    };
    // The connection must be polled for the LISTEN to be answered, so both are driven here.
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let wake = |message: AsyncMessage| {
        if let AsyncMessage::Notification(n) = message {
            if payload.is_none_or(|p| n.payload() == p) {
                arrived.notify_waiters();
                if payload.is_none() {
                    arrived.notify_one();
                }
            }
        }
    };
    {
        let listen_sql = format!("LISTEN {}", schema::quoted(channel));
        let listen = client.batch_execute(&listen_sql);
        tokio::pin!(listen);
        loop {
            tokio::select! {
                done = &mut listen => match done {
                    Ok(()) => break,
                    Err(e) => return e.to_string(),
                },
                message = messages.next() => match message {
                    Some(Ok(message)) => wake(message),
                    Some(Err(e)) => return e.to_string(),
                    None => return "the connection closed".into(),
                },
            }
        }
    }
    *up = true;
    // Whatever was inserted while nobody listened is found by looking again.
    arrived.notify_waiters();
    while let Some(message) = messages.next().await {
        match message {
            Ok(message) => wake(message),
            Err(e) => return e.to_string(),
        }
    }
    drop(client);
    "the connection closed".into()
}
