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

/// What a queue URL names: where Redis is, whether pending entries are deduplicated, and
/// whether a send waits for replicas.
pub(crate) struct Target {
    /// `redis-set` semantics: identical pending signals collapse.
    pub(crate) dedup: bool,
    /// `?replicas=N&replica_timeout_ms=T`: a send returns `Ok` only once N replicas hold it.
    pub(crate) replication: Option<Replication>,
    server: Server,
}

/// How many replicas must confirm each send, and how long the primary waits for them (the
/// arguments of `WAIT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Replication {
    pub(crate) replicas: u32,
    pub(crate) timeout: Duration,
}

/// The wait for replicas when the URL names `replicas` but no `replica_timeout_ms`.
const DEFAULT_REPLICA_TIMEOUT: Duration = Duration::from_millis(500);

/// The longest `replica_timeout_ms` accepted: a send blocked longer than this by missing
/// replicas is better told it failed.
const MAX_REPLICA_TIMEOUT_MS: u64 = 60_000;

/// What a single server's URL may carry after `?` (`protocol` is read by the `redis` crate); a
/// cluster's takes only the replication pair.
const SINGLE_PARAMS: &str = "`replicas`, `replica_timeout_ms`, `protocol` (resp2, resp3)";
const CLUSTER_PARAMS: &str = "`replicas`, `replica_timeout_ms`";

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
        let (rest, replication) = take_replication(&parsed.rest, cluster, &shown)?;
        let server = if cluster {
            Server::Cluster(cluster_client(&rest, &shown)?)
        } else {
            let scheme = if tls { "rediss" } else { "redis" };
            let (client, resp3) = single_client(&format!("{scheme}://{rest}"), &shown)?;
            Server::Single { client, resp3 }
        };
        Ok(Target {
            dedup,
            replication,
            server,
        })
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

/// Takes `replicas` and `replica_timeout_ms` out of the query of `rest` (the URL after
/// `scheme://`), checks every other parameter against what the URL form allows (so that a typo
/// such as `?replica=1` is an error at start-up, not a queue that silently does not wait), and
/// returns the rest of the URL for the `redis` crate.
fn take_replication(
    rest: &str,
    cluster: bool,
    shown: &str,
) -> Result<(String, Option<Replication>), String> {
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (rest, None),
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let allowed = if cluster {
        CLUSTER_PARAMS
    } else {
        SINGLE_PARAMS
    };
    let mut replicas: Option<u32> = None;
    let mut timeout_ms: Option<u64> = None;
    let mut kept = url::form_urlencoded::Serializer::new(String::new());
    let mut seen = std::collections::HashSet::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if !seen.insert(key.clone()) {
            return Err(format!("`{shown}` gives `{key}` twice; give it once"));
        }
        match &*key {
            "replicas" => {
                replicas = Some(value.parse().map_err(|_| {
                    format!(
                        "`replicas={value}` in `{shown}` is not a number of replicas; use a whole number such as `replicas=1` (how many replicas must hold each send before it returns), or leave it out"
                    )
                })?);
            }
            "replica_timeout_ms" => {
                let ms: u64 = value.parse().map_err(|_| {
                    format!(
                        "`replica_timeout_ms={value}` in `{shown}` is not a number of milliseconds; use a whole number from 1 to {MAX_REPLICA_TIMEOUT_MS}, such as `replica_timeout_ms=500`"
                    )
                })?;
                if ms == 0 || ms > MAX_REPLICA_TIMEOUT_MS {
                    return Err(format!(
                        "`replica_timeout_ms={ms}` in `{shown}` is out of range; use 1 to {MAX_REPLICA_TIMEOUT_MS} (0 would make a send wait forever for a replica that is gone)"
                    ));
                }
                timeout_ms = Some(ms);
            }
            "protocol" if !cluster => {
                kept.append_pair(&key, &value);
            }
            other => {
                return Err(format!(
                    "`{shown}` has the unknown parameter `{other}`; a {} URL takes {allowed}",
                    if cluster { "Redis Cluster" } else { "Redis" }
                ));
            }
        }
    }
    let replication = match (replicas, timeout_ms) {
        (None | Some(0), Some(_)) => {
            return Err(format!(
                "`{shown}` gives `replica_timeout_ms` without `replicas`; add `replicas=N` (how many replicas must hold each send), or leave both out"
            ))
        }
        (None | Some(0), None) => None,
        (Some(replicas), ms) => Some(Replication {
            replicas,
            timeout: ms.map_or(DEFAULT_REPLICA_TIMEOUT, Duration::from_millis),
        }),
    };
    let kept = kept.finish();
    let mut rest = base.to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept);
    }
    if let Some(fragment) = fragment {
        rest.push('#');
        rest.push_str(fragment);
    }
    Ok((rest, replication))
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
    fn replicas_are_read_from_every_form() {
        let want = |replicas, ms| {
            Some(Replication {
                replicas,
                timeout: Duration::from_millis(ms),
            })
        };
        for (url, expected) in [
            ("redis://h:1/0", None),
            ("redis://h:1/0?replicas=1", want(1, 500)),
            (
                "redis://h:1/0?replicas=2&replica_timeout_ms=50",
                want(2, 50),
            ),
            ("redis://h:1/0?replicas=0", None),
            (
                "redis-set://:pw@h:1/3?protocol=resp2&replicas=1",
                want(1, 500),
            ),
            (
                "redis-cluster://h:1,h:2?replicas=1&replica_timeout_ms=900",
                want(1, 900),
            ),
            ("redis-set-cluster://h:1/0?replicas=1", want(1, 500)),
        ] {
            assert_eq!(target(url).unwrap().replication, expected, "{url}");
        }
    }

    #[test]
    fn the_other_parameters_still_reach_the_redis_crate() {
        let t = target("redis://h:1/4?replicas=1&protocol=resp2").unwrap();
        match t.server {
            Server::Single { client, resp3 } => {
                assert!(!resp3);
                assert_eq!(client.get_connection_info().redis_settings().db(), 4);
            }
            Server::Cluster(_) => panic!("a single server"),
        }
    }

    #[test]
    fn bad_replication_parameters_say_what_to_use() {
        for (url, says) in [
            ("redis://h:1/0?replicas=one", "is not a number of replicas"),
            ("redis://h:1/0?replicas=-1", "is not a number of replicas"),
            (
                "redis://h:1/0?replicas=1&replica_timeout_ms=0",
                "wait forever",
            ),
            (
                "redis://h:1/0?replicas=1&replica_timeout_ms=61000",
                "use 1 to 60000",
            ),
            (
                "redis://h:1/0?replicas=1&replica_timeout_ms=.5",
                "not a number of milliseconds",
            ),
            ("redis://h:1/0?replica_timeout_ms=500", "without `replicas`"),
            (
                "redis://h:1/0?replicas=1&replicas=2",
                "gives `replicas` twice",
            ),
            (
                "redis://:secret@h:1/0?replica=1",
                "unknown parameter `replica`",
            ),
            (
                "redis-cluster://:secret@h:1?protocol=resp3",
                "unknown parameter `protocol`",
            ),
        ] {
            let err = target(url)
                .err()
                .unwrap_or_else(|| panic!("{url} was accepted"));
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn bad_urls_say_what_is_allowed_without_the_password() {
        let err = target("redis://:secret@host:notaport/0").err().unwrap();
        assert!(err.contains("redis://[:PASSWORD@]HOST:PORT/DB"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
