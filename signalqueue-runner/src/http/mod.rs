//! The admin HTTP server: health, status page, JSON API, metrics, dead-letter actions.
//!
//! Routes (all answers are computed at request time from the engines and the worker's
//! [`Metrics`]):
//! - `GET /`: health, a short JSON object (status, version, uptime, queues);
//! - `GET /status`: the status page, one self-contained HTML document that updates itself
//!   from `GET /events` (Server-Sent Events: a JSON snapshot of counts and rates about every
//!   500 ms);
//! - `GET /api/queues`: JSON;
//! - `GET /api/queues/NAME/VIEW?after=CURSOR&limit=N&signal=S&sender=S&id=ID` for the views
//!   `pending`, `scheduled`, `retries`, `in_flight`, `dead` (keyset pages, filtered), and
//!   `GET /api/queues/NAME/entry?key=KEY` (one entry, with its history): JSON;
//! - `POST /api/queues/NAME/dead/replay` (optional body `{"keys": [...]}`),
//!   `POST /api/queues/NAME/dead/purge`, and `POST /api/queues/NAME/VIEW/delete|run_now` (body
//!   `{"keys": [...]}`): need `Authorization: Bearer TOKEN`, see [`AdminState::token`];
//! - `GET /api/outboxes`, `GET /api/schedules`: the outboxes the worker relays and the periodic
//!   signals it links, JSON;
//! - `GET /api/receivers` (runs, failures, run times, last error per receiver) and
//!   `GET /api/history` (handled and failed per second over the last hour), `GET /api/workers`
//!   (the live workers, from their heartbeats): JSON;
//! - `GET /metrics`: OpenMetrics text.
//!
//! `docs/operations.md` describes what each answer holds and how to expose the server safely.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use signalqueue::engine::{Counts, EngineError, SharedEngine};
use tokio::sync::watch;

use crate::metrics::Metrics;

mod actions;
mod api;
mod api_error;
mod auth;
mod charts;
mod entries;
mod entry_actions;
mod events;
mod host;
mod outboxes;
mod prometheus;
mod receivers;
mod schedules;
mod status_page;
mod view_html;
mod views;
mod workers;

/// The environment variable holding the token that enables the `POST` actions.
pub const TOKEN_ENV: &str = "SIGNALQUEUE_ADMIN_TOKEN";

/// How long a request waits for an engine before answering with an error. Short: a page an
/// operator opens while Redis is down must render at once and say so (an engine that is
/// reconnecting takes seconds to give up by itself).
const ENGINE_DEADLINE: Duration = Duration::from_millis(1500);

/// What the admin server reads.
#[derive(Clone)]
pub struct AdminState {
    /// The queues (engines) and settings.
    pub runtime: signalqueue::Runtime,
    /// The queues this worker serves, by name; the server shows these. Empty means every
    /// queue of `runtime`. Names missing from `runtime` are skipped with a warning.
    pub queues: Vec<String>,
    /// The worker's counters.
    pub metrics: Arc<Metrics>,
    /// The token `POST` actions require; `None` (or an empty string) disables them. Usually
    /// [`token_from_env`].
    pub token: Option<String>,
    /// Host names the server answers to besides IP addresses and `localhost` (the
    /// configuration's `admin_hosts`); requests naming any other host are refused, so that a
    /// web page cannot read the admin routes through DNS rebinding.
    pub hosts: Vec<String>,
}

/// The admin token from `SIGNALQUEUE_ADMIN_TOKEN`, or `None` when it is unset or blank (a
/// blank token would let an empty `Authorization: Bearer ` header in).
pub fn token_from_env() -> Option<String> {
    std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
}

/// Logs a warning when `addr` is reachable from other machines: the status page shows signal
/// arguments, which may hold personal data, and nothing but the token guards the actions.
/// [`serve`] calls it with the listener's address.
pub fn warn_if_public(addr: &SocketAddr) {
    if !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "the admin server listens on a non-loopback address: anyone who can reach it sees \
             queued signals and their arguments; bind 127.0.0.1 and put an authenticating \
             reverse proxy in front, or firewall the port"
        );
    }
}

/// Serves the admin pages on `listener` until `shutdown` completes.
///
/// When `shutdown` completes the server stops accepting connections, ends the live streams of
/// open status pages (so that a browser left open cannot hold the shutdown up), and returns
/// once the requests in progress are answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        warn_if_public(&addr);
    }
    let queues = served_queues(&state);
    let (snapshots, live) = watch::channel(Arc::new(events::Snapshot::empty(&queues)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listeners = events::Listeners::default();
    let sampler = tokio::spawn(events::sample(
        queues.clone(),
        state.metrics.clone(),
        listeners.clone(),
        snapshots,
        stopped,
    ));
    let app = App {
        queues,
        live,
        listeners,
        admin: state,
    };
    let result = axum::serve(listener, router(app))
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Dropping the snapshot sender (the sampler returns) ends every `/events` stream.
            let _ = stop.send(());
        })
        .await;
    sampler.abort();
    result
}

/// The routes, over the state every handler shares.
fn router(app: App) -> Router {
    let hosts = host::AllowedHosts::new(&app.admin.hosts);
    Router::new()
        .route("/", get(api::health))
        .route("/status", get(status_page::page))
        .route("/status/queues/{queue}/entry", get(view_html::detail))
        .route("/status/queues/{queue}/{view}", get(view_html::rows))
        .route("/status/receivers", get(receivers::rows))
        .route("/status/chart", get(charts::fragment))
        .route("/status/workers", get(workers::rows))
        .route("/events", get(events::stream))
        .route("/metrics", get(prometheus::metrics))
        .route("/api/queues", get(api::queues))
        .route("/api/outboxes", get(outboxes::api))
        .route("/api/schedules", get(schedules::api))
        .route("/api/receivers", get(receivers::api))
        .route("/api/history", get(charts::api))
        .route("/api/workers", get(workers::api))
        .route("/api/queues/{queue}/entry", get(views::entry_api))
        .route("/api/queues/{queue}/{view}", get(views::api))
        .route(
            "/api/queues/{queue}/{view}/{action}",
            post(entry_actions::act),
        )
        .route(
            "/api/queues/{queue}/dead/replay",
            post(actions::replay_dead),
        )
        .route("/api/queues/{queue}/dead/purge", post(actions::purge_dead))
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(hosts, host::check))
}

/// The handlers' shared state: the caller's [`AdminState`] plus what the server derives.
#[derive(Clone)]
struct App {
    admin: AdminState,
    /// The served queues, resolved once (the runtime's queues do not change while it runs).
    queues: Arc<[ServedQueue]>,
    /// The latest snapshot of counts and rates, for `/events` and the rates shown elsewhere.
    live: watch::Receiver<Arc<events::Snapshot>>,
    /// How many `/events` streams are open.
    listeners: events::Listeners,
}

/// One queue the server shows.
#[derive(Clone)]
struct ServedQueue {
    name: String,
    engine: SharedEngine,
}

impl ServedQueue {
    /// The engine's counts, or why they cannot be read. Bounded in time so that an engine
    /// that hangs makes the page show an error instead of hanging it.
    async fn counts(&self) -> Result<Counts, EngineError> {
        self.bounded(self.engine.counts()).await
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(ENGINE_DEADLINE, call).await {
            Ok(result) => result,
            Err(_) => Err(EngineError::unavailable(
                self.engine.describe(),
                format!("no answer within {} ms", ENGINE_DEADLINE.as_millis()),
            )),
        }
    }
}

impl App {
    /// Whether the actions are enabled (a token is configured), for the page's buttons.
    fn actions_enabled(&self) -> bool {
        self.admin
            .token
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty())
    }

    /// The served queue called `name`, or the 404 that names the known ones.
    fn queue(&self, name: &str) -> Result<&ServedQueue, api_error::ApiError> {
        self.queues
            .iter()
            .find(|q| q.name == name)
            .ok_or_else(|| api_error::ApiError::unknown_queue(name, &self.queues))
    }
}

fn served_queues(state: &AdminState) -> Arc<[ServedQueue]> {
    if state.queues.is_empty() {
        return state
            .runtime
            .queues()
            .map(|(name, engine)| ServedQueue {
                name: name.to_string(),
                engine: engine.clone(),
            })
            .collect();
    }
    let mut served = Vec::new();
    for name in &state.queues {
        if served.iter().any(|q: &ServedQueue| &q.name == name) {
            continue;
        }
        match state.runtime.queue(name) {
            Some(engine) => served.push(ServedQueue {
                name: name.clone(),
                engine: engine.clone(),
            }),
            None => tracing::warn!(
                queue = %name,
                "the admin server was asked to show queue `{name}`, which is not configured; \
                 it is left out"
            ),
        }
    }
    served.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::layer::{Context, SubscriberExt};

    /// Counts warnings.
    struct Warnings(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            if *event.metadata().level() == tracing::Level::WARN {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn warnings_for(addr: &str) -> usize {
        // A process-wide subscriber interested in everything, so that the warning's callsite
        // is never cached as disabled by another test's thread reaching it first with no
        // subscriber (`tracing` caches that per callsite, process-wide).
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
        });
        let count = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry().with(Warnings(count.clone()));
        tracing::subscriber::with_default(subscriber, || {
            warn_if_public(&addr.parse().unwrap());
        });
        count.load(Ordering::SeqCst)
    }

    #[test]
    fn warns_only_for_addresses_other_machines_reach() {
        assert_eq!(warnings_for("127.0.0.1:11231"), 0);
        assert_eq!(warnings_for("[::1]:11231"), 0);
        assert_eq!(warnings_for("0.0.0.0:11231"), 1);
        assert_eq!(warnings_for("10.1.2.3:11231"), 1);
        assert_eq!(warnings_for("[::]:11231"), 1);
    }
}
