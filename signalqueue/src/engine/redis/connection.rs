//! Reaching Redis: URL forms, timeouts, and one connection type over a single server or a
//! cluster.
//!
//! Both kinds multiplex: concurrent requests from many tasks share one socket and are pipelined
//! by the `redis` crate, which is what lets many concurrent `send`s cost little more than one.
//! Both reconnect by themselves after the server went away; every request is bounded by a
//! response timeout, and the engine bounds each whole operation on top of that, so nothing
//! waits forever on a server that is gone or stalled.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::engine::EngineUrl;

/// How long one connection attempt may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one request may wait for its answer (blocking reads add their block time).
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest one blocking read waits before the claim loop looks again. Retries scheduled
/// while a claimer blocks become visible to it within this time (a new entry wakes it at once).
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(1);

/// What a queue URL names: where Redis is, and whether pending entries are deduplicated.
pub(crate) struct Target {
    /// `redis-set` semantics: identical pending signals collapse.
    pub(crate) dedup: bool,
    server: Server,
}

// Made once per engine and never moved in a hot path: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Server {
    Single(redis::Client),
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
            let client = redis::Client::open(format!("{scheme}://{}", parsed.rest))
                .map_err(|e| format!("`{shown}` is not a valid Redis URL ({e}); use `redis://[:PASSWORD@]HOST:PORT/DB`"))?;
            Server::Single(client)
        };
        Ok(Target { dedup, server })
    }

    /// A connection for ordinary requests; it connects on first use. `block` is added to the
    /// response timeout for connections that serve blocking reads.
    pub(crate) fn connect(&self, block: Duration) -> redis::RedisResult<Connection> {
        match &self.server {
            Server::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT + block))
                    // Few, quick reconnection attempts per request: a sender learns that Redis
                    // is down within a bounded time, and the next request tries again.
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
                Ok(Connection::Single(manager))
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
    Single(ConnectionManager),
    /// A cluster: routes each request by its key's slot, follows MOVED/ASK, reconnects.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
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
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
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
