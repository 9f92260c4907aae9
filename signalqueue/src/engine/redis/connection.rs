//! Reaching Redis: URL forms, timeouts, and one connection type over a single server or a
//! cluster.
//!
//! Both kinds multiplex: concurrent requests from many tasks share one socket and are pipelined
//! by the `redis` crate, which is what lets many concurrent `send`s cost little more than one.
//! Both reconnect by themselves after the server went away; every request is bounded by a
//! response timeout, and the engine bounds each whole operation on top of that, so nothing
//! waits forever on a server that is gone or stalled.
//!
//! A single server's connection also makes sure that a request is never the one that finds a
//! dead connection (see [`SingleServer`]): without that, the first call after a Redis restart
//! fails although Redis is back, and the error cannot tell whether the request reached Redis.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{
    Cmd, ErrorKind, IntoConnectionInfo, Pipeline, ProtocolVersion, PushInfo, PushKind, RedisError,
    RedisFuture, RedisResult, ServerErrorKind, Value,
};

use crate::engine::EngineUrl;

/// How long one connection attempt may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one request may wait for its answer (blocking reads add their block time).
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest one blocking read waits before the claim loop looks again. Retries scheduled
/// while a claimer blocks become visible to it within this time (a new entry wakes it at once).
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(1);

/// How long a request waits, at most, for a connection that dropped to be confirmed alive
/// again. Shorter than the engine's bound on a whole operation (5 s), so that while Redis
/// stays away the caller gets the reason (connection refused, ...) rather than a bare timeout.
const CONFIRM_WITHIN: Duration = Duration::from_secs(4);

/// The pause after the first failed confirmation; it doubles up to [`CONFIRM_MAX_PAUSE`].
const CONFIRM_FIRST_PAUSE: Duration = Duration::from_millis(25);
const CONFIRM_MAX_PAUSE: Duration = Duration::from_millis(400);

/// What a queue URL names: where Redis is, and whether pending entries are deduplicated.
pub(crate) struct Target {
    /// `redis-set` semantics: identical pending signals collapse.
    pub(crate) dedup: bool,
    server: Server,
}

// Made once per engine and never moved in a hot path: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Server {
    /// One server; `resp3` unless the URL asked for RESP2.
    Single {
        client: redis::Client,
        resp3: bool,
    },
    Cluster(ClusterClient),
}

impl Target {
    /// Reads a URL whose scheme `url.rs` already recognised as one of the Redis ones. The error
    /// says what is wrong and what is allowed.
    pub(crate) fn parse(url: &str, parsed: &EngineUrl) -> Result<Target, String> {
        let shown = crate::engine::redact_url(url);
        let (dedup, cluster, tls) = match parsed.scheme.as_str() {
            "redis" => (false, false, false),
            "rediss" => (false, false, true),
            "redis-set" => (true, false, false),
            "rediss-set" => (true, false, true),
            "redis-cluster" => (false, true, false),
            "redis-set-cluster" => (true, true, false),
            other => return Err(format!("`{other}://` is not a Redis engine")),
        };
        if tls && !cfg!(feature = "redis-tls") {
            return Err(format!(
                "`{shown}` asks for TLS, which this build lacks; enable the cargo feature `redis-tls` of `signalqueue`"
            ));
        }
        let server = if cluster {
            Server::Cluster(cluster_client(&parsed.rest, &shown)?)
        } else {
            let scheme = if tls { "rediss" } else { "redis" };
            let (client, resp3) = single_client(&format!("{scheme}://{}", parsed.rest), &shown)?;
            Server::Single { client, resp3 }
        };
        Ok(Target { dedup, server })
    }

    /// A connection for ordinary requests; it connects on first use. `block` is added to the
    /// response timeout for connections that serve blocking reads.
    pub(crate) fn connect(&self, block: Duration) -> redis::RedisResult<Connection> {
        match &self.server {
            Server::Single { client, resp3 } => {
                let doubts = Arc::new(Doubts::default());
                let on_push = Arc::clone(&doubts);
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT + block))
                    // Few, quick reconnection attempts per request: a sender learns that Redis
                    // is down within a bounded time, and the next request tries again.
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                // Called by the `redis` crate when the socket closes, even while idle. Only a
                // RESP3 connection has pushes; on RESP2 only failed calls raise doubts.
                let config = if *resp3 {
                    config.set_push_sender(move |push: PushInfo| {
                        if push.kind == PushKind::Disconnection {
                            on_push.raise();
                        }
                        Ok::<(), std::convert::Infallible>(())
                    })
                } else {
                    config
                };
                let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
                Ok(Connection::Single(SingleServer { manager, doubts }))
            }
            Server::Cluster(client) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT + block);
                Ok(Connection::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }
}

/// A client for one server, speaking RESP3 (`HELLO 3`) unless the URL says
/// `?protocol=resp2`; the second value says which.
///
/// RESP3 is what makes the `redis` crate report a connection that closed while idle (a
/// disconnection push), which [`SingleServer`] needs; the engine needs Redis 6.2 anyway, and
/// every reply the engine reads is the same in RESP2 and RESP3 (the scripts return integers,
/// strings and arrays of them, never booleans, maps or doubles). RESP2 stays possible for what
/// cannot speak RESP3 (some proxies in front of Redis), at the price documented in
/// `docs/engines.md`: a connection that dropped while idle is found dead by the next call,
/// which fails once.
fn single_client(url: &str, shown: &str) -> Result<(redis::Client, bool), String> {
    let usage = "use `redis://[:PASSWORD@]HOST:PORT/DB`";
    let asks_resp2 = url::Url::parse(url).is_ok_and(|u| {
        u.query_pairs()
            .any(|(key, value)| key == "protocol" && (value == "2" || value == "resp2"))
    });
    let info = url
        .into_connection_info()
        .map_err(|e| format!("`{shown}` is not a valid Redis URL ({e}); {usage}"))?;
    let protocol = if asks_resp2 {
        ProtocolVersion::RESP2
    } else {
        ProtocolVersion::RESP3
    };
    let settings = info.redis_settings().clone().set_protocol(protocol);
    let client = redis::Client::open(info.set_redis_settings(settings))
        .map_err(|e| format!("`{shown}` is not a valid Redis URL ({e}); {usage}"))?;
    Ok((client, !asks_resp2))
}

/// `HOST:PORT,HOST:PORT[/0]`, with an optional `[USER]:PASSWORD@` before the first host that
/// applies to every node.
fn cluster_client(rest: &str, shown: &str) -> Result<ClusterClient, String> {
    let usage = "use `redis-cluster://[:PASSWORD@]HOST:PORT,HOST:PORT`";
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path),
        None => (rest, ""),
    };
    if !(path.is_empty() || path == "0") {
        return Err(format!(
            "`{shown}` names database `{path}`, but Redis Cluster has only database 0; {usage}"
        ));
    }
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("redis://{h}"))
        .collect();
    if nodes.is_empty() {
        return Err(format!("`{shown}` names no node; {usage}"));
    }
    let mut builder = ClusterClient::builder(nodes)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .retries(2);
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, password),
            None => ("", userinfo),
        };
        if !user.is_empty() {
            builder = builder.username(user);
        }
        builder = builder.password(password);
    }
    builder
        .build()
        .map_err(|e| format!("`{shown}` is not a valid Redis Cluster URL ({e}); {usage}"))
}

/// A multiplexed connection to one server or to a cluster; cheap to clone, and every clone
/// shares the same socket(s).
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server, reconnecting on its own.
    Single(SingleServer),
    /// A cluster: routes each request by its key's slot, follows MOVED/ASK, reconnects. Left as
    /// the `redis` crate makes it, without the check of [`SingleServer`]: the crate itself
    /// sends a request again after its node's connection dropped (so one whose answer was lost
    /// can be applied twice, see `docs/engines.md`), which a `PING` before it cannot undo; and
    /// its `PING` goes to every node, a check of other nodes than the queue's.
    Cluster(ClusterConnection),
}

/// One server's connection: the `redis` crate's `ConnectionManager`, which reconnects after a
/// failure, plus a check that no request of ours is the one to find the connection dead.
///
/// A request written to a connection that closed while idle fails with "broken pipe", and so
/// does a request whose answer was lost when the connection died under it (redis-rs #1415): the
/// error cannot say whether Redis applied it, so a failed request is never sent again. Instead,
/// once there is reason to think the connection dropped, the next request first sends `PING`
/// (harmless however often it is repeated) until one is answered, within [`CONFIRM_WITHIN`],
/// and only then itself. A request that was already on its way when Redis died still fails,
/// with an effect unknown to us; nothing else fails for a Redis that is back.
#[derive(Clone)]
pub(crate) struct SingleServer {
    manager: ConnectionManager,
    doubts: Arc<Doubts>,
}

/// Reasons to think the connection dropped: counted as they come, and the count last confirmed
/// away by a `PING`. Counting (rather than a flag) keeps a drop reported while a `PING` is on
/// its way from being cleared by that `PING`'s answer.
#[derive(Default)]
struct Doubts {
    raised: AtomicU64,
    cleared: AtomicU64,
}

impl Doubts {
    fn raise(&self) {
        self.raised.fetch_add(1, Ordering::AcqRel);
    }
}

impl SingleServer {
    /// Returns once the connection answered a `PING` since the last reason to doubt it, or at
    /// once if there is none (the common case: one atomic load).
    async fn confirm(&mut self) -> RedisResult<()> {
        let raised = self.doubts.raised.load(Ordering::Acquire);
        if self.doubts.cleared.load(Ordering::Acquire) >= raised {
            return Ok(());
        }
        let deadline = Instant::now() + CONFIRM_WITHIN;
        let mut pause = CONFIRM_FIRST_PAUSE;
        loop {
            // Through the manager, which replaces a dead or failed connection when a request
            // finds it so: the next `PING` goes to a fresh one.
            let ping = redis::cmd("PING");
            match ping.query_async::<Value>(&mut self.manager).await {
                Ok(_) => {
                    self.doubts.cleared.fetch_max(raised, Ordering::AcqRel);
                    return Ok(());
                }
                Err(e) if !worth_another_ping(&e) || Instant::now() + pause > deadline => {
                    return Err(e)
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(CONFIRM_MAX_PAUSE);
                }
            }
        }
    }

    /// Raises a doubt when a request failed without an answer from Redis: the connection may be
    /// gone (or, failing to connect, never was), and the next request should not find out.
    fn observe<T>(&self, result: &RedisResult<T>) {
        if let Err(e) = result {
            if e.is_io_error() || e.is_unrecoverable_error() {
                self.doubts.raise();
            }
        }
    }
}

/// Whether a failed `PING` may succeed on a later try: the connection is down or being made
/// again, or Redis is still loading its data after a restart. Anything else (a wrong password)
/// will not change by waiting.
fn worth_another_ping(e: &RedisError) -> bool {
    e.is_io_error() || matches!(e.kind(), ErrorKind::Server(ServerErrorKind::BusyLoading))
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => Box::pin(async move {
                c.confirm().await?;
                let result = c.manager.req_packed_command(cmd).await;
                c.observe(&result);
                result
            }),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => Box::pin(async move {
                c.confirm().await?;
                let result = c.manager.req_packed_commands(pipeline, offset, count).await;
                c.observe(&result);
                result
            }),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.manager.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<Target, String> {
        Target::parse(url, &EngineUrl::parse(url)?)
    }

    #[test]
    fn reads_every_redis_form() {
        assert!(!target("redis://127.0.0.1:6379/0").unwrap().dedup);
        assert!(target("redis-set://:pw@127.0.0.1:6379/2").unwrap().dedup);
        assert!(target("redis-cluster://127.0.0.1:7000,127.0.0.1:7001").is_ok());
        assert!(
            target("redis-set-cluster://:pw@127.0.0.1:7000/0")
                .unwrap()
                .dedup
        );
    }

    #[test]
    fn cluster_urls_name_nodes_and_database_zero_only() {
        let err = target("redis-cluster://").err().unwrap();
        assert!(err.contains("names no node"), "{err}");
        let err = target("redis-cluster://:secret@h:1/3").err().unwrap();
        assert!(err.contains("only database 0"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn bad_urls_say_what_is_allowed_without_the_password() {
        let err = target("redis://:secret@host:notaport/0").err().unwrap();
        assert!(err.contains("redis://[:PASSWORD@]HOST:PORT/DB"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
