//! Private `redis-server` processes for tests: one server, a primary with a replica, or a Redis
//! Cluster (3 primaries, with or without a replica each).
//!
//! Each server listens on a free loopback port, keeps its files in a temporary directory, logs
//! there rather than to the test's output, and is killed when dropped, so tests never share
//! state with each other or with a Redis the machine runs. Needs `redis-server` and `redis-cli`
//! on `PATH` (Debian: `apt-get install redis-server redis-tools`).

// Each test crate uses a different subset of the helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a server may take to start answering (a loaded machine can be slow).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How one server persists what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Persistence {
    /// Nothing on disk: a restart starts empty.
    None,
    /// An append-only file synced at every write (`appendfsync always`), so even `kill -9`
    /// loses nothing a client was told is written.
    AofAlways,
}

/// One private `redis-server`.
pub(crate) struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    persistence: Persistence,
    cluster: bool,
    /// `cluster-node-timeout` (ms) of a cluster node: how long a primary may stay silent before
    /// its replica takes over.
    node_timeout_ms: u64,
    /// Serves TLS only, with a self-signed certificate made for it.
    tls: bool,
    /// The port of the primary this server replicates (`--replicaof`), not in a cluster.
    replica_of: Option<u16>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server that keeps nothing on disk.
    pub(crate) fn start() -> RedisServer {
        RedisServer::start_with(Persistence::None)
    }

    /// Starts a server with the given persistence.
    pub(crate) fn start_with(persistence: Persistence) -> RedisServer {
        RedisServer::start_on_free_port(persistence, false, false)
    }

    /// Starts a server that speaks only TLS, with a self-signed certificate for `localhost`
    /// made by the `openssl` command; clients must skip verification (`rediss://...#insecure`).
    pub(crate) fn start_tls() -> RedisServer {
        RedisServer::start_on_free_port(Persistence::None, false, true)
    }

    /// Starts a server that replicates `primary` (`--replicaof`); returns once the replication
    /// link is up, so the primary's `WAIT` counts it.
    pub(crate) fn start_replica_of(primary: &RedisServer) -> RedisServer {
        let server =
            RedisServer::start_custom(Persistence::None, false, false, 0, Some(primary.port));
        server.wait_for_link();
        server
    }

    /// Waits until this replica's link to its primary is up and the first sync is over.
    pub(crate) fn wait_for_link(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let info = command(self.port, &["INFO", "replication"]).unwrap_or_default();
            if info.contains("master_link_status:up") && info.contains("master_sync_in_progress:0")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica on {} did not sync: {info}",
                self.port
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn start_on_free_port(persistence: Persistence, cluster: bool, tls: bool) -> RedisServer {
        RedisServer::start_custom(persistence, cluster, tls, 5000, None)
    }

    /// Starts a server on a free port: `node_timeout_ms` is its `cluster-node-timeout` (for a
    /// cluster node), `replica_of` the port of the primary it replicates.
    fn start_custom(
        persistence: Persistence,
        cluster: bool,
        tls: bool,
        node_timeout_ms: u64,
        replica_of: Option<u16>,
    ) -> RedisServer {
        // A free port can be taken by another process between the probe and the server's bind;
        // a server that does not come up is retried on another port.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port(cluster);
            let dir = tempfile::tempdir().expect("temporary directory for redis-server");
            let mut server = RedisServer {
                port,
                dir,
                persistence,
                cluster,
                node_timeout_ms,
                tls,
                replica_of,
                child: None,
            };
            if tls {
                server.make_certificate();
            }
            match server.launch() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    /// The server's port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0` with `scheme` in place of `redis`.
    pub(crate) fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// The directory holding the server's files (its log is `redis.log`).
    pub(crate) fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Kills the server at once (SIGKILL: no chance to save anything on the way out).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the running server.
    pub(crate) fn freeze(&self, frozen: bool) {
        let child = self.child.as_ref().expect("the server runs");
        let status = Command::new("kill")
            .arg(if frozen { "-STOP" } else { "-CONT" })
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -STOP/-CONT {}", child.id());
    }

    /// Starts the server again on the same port and directory, so it reloads its files.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // Right after a kill the port may not be bindable yet for a moment.
            match self.launch() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("redis-server did not restart: {e}"),
                Err(_) => sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Sends one command (as its words) and returns the raw reply.
    pub(crate) fn command(&self, words: &[&str]) -> String {
        command(self.port, words).unwrap_or_else(|e| panic!("redis on {}: {e}", self.port))
    }

    fn make_certificate(&self) {
        let dir = self.dir.path();
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stdin(Stdio::null())
            .output()
            .expect("cannot run openssl (is it installed?)");
        assert!(
            out.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn launch(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let mut cmd = Command::new("redis-server");
        if self.tls {
            cmd.args(["--port", "0", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(dir.join("cert.pem"))
                .arg("--tls-key-file")
                .arg(dir.join("key.pem"))
                .arg("--tls-ca-cert-file")
                .arg(dir.join("cert.pem"))
                .args(["--tls-auth-clients", "no"]);
        } else {
            cmd.arg("--port").arg(self.port.to_string());
        }
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"));
        match self.persistence {
            Persistence::None => {
                cmd.args(["--appendonly", "no"]);
            }
            Persistence::AofAlways => {
                cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
            }
        }
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-node-timeout"])
                .arg(self.node_timeout_ms.to_string())
                .arg("--cluster-config-file")
                .arg(dir.join("nodes.conf"));
        }
        if self.cluster || self.replica_of.is_some() {
            // A replica (re)joining syncs at once, rather than after Redis's default 5 s wait
            // for more replicas to share one transfer.
            cmd.args(["--repl-diskless-sync-delay", "0"]);
        }
        if let Some(primary) = self.replica_of {
            cmd.arg("--replicaof")
                .arg("127.0.0.1")
                .arg(primary.to_string());
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // A restart appends to the same log: only what this start writes tells it is ready.
        let log_start = std::fs::metadata(dir.join("redis.log")).map_or(0, |m| m.len() as usize);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run redis-server (is it installed?): {e}"))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
                return Err(format!("redis-server exited with {status}: {log}"));
            }
            // Answers `-LOADING` while it reads its files back: only PONG means ready. A TLS
            // server cannot be asked in plain text; its log says when it is ready.
            let ready = if self.tls {
                std::fs::read(dir.join("redis.log")).is_ok_and(|log| {
                    String::from_utf8_lossy(log.get(log_start..).unwrap_or_default())
                        .contains("Ready to accept connections")
                })
            } else {
                command(self.port, &["PING"]).is_ok_and(|r| r.starts_with("+PONG"))
            };
            if ready {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "no PONG on port {} within {START_TIMEOUT:?}",
                    self.port
                ));
            }
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Private `redis-server`s joined into one cluster: three primaries, and a replica for each
/// when asked.
pub(crate) struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes and creates the cluster with `redis-cli --cluster create`; returns once
    /// every node reports the cluster up.
    pub(crate) fn start() -> RedisCluster {
        RedisCluster::start_with(0, 5000)
    }

    /// Six nodes, three primaries with a replica each, where a primary silent for
    /// `node_timeout_ms` is failed over to its replica; returns once the cluster is up and
    /// every replica synced.
    pub(crate) fn start_with_replicas(node_timeout_ms: u64) -> RedisCluster {
        RedisCluster::start_with(1, node_timeout_ms)
    }

    fn start_with(replicas: usize, node_timeout_ms: u64) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3 * (1 + replicas))
            .map(|_| {
                RedisServer::start_custom(Persistence::None, true, false, node_timeout_ms, None)
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .arg("--cluster-replicas")
            .arg(replicas.to_string())
            .arg("--cluster-yes")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run redis-cli (is it installed?)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_healthy(replicas);
        cluster
    }

    /// Waits until every live node reports the cluster up, and each primary has `replicas`
    /// replicas online (synced, acknowledging).
    pub(crate) fn wait_until_healthy(&self, replicas: usize) {
        let deadline = Instant::now() + START_TIMEOUT;
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                let info = command(node.port, &["CLUSTER", "INFO"]).unwrap_or_default();
                let repl = command(node.port, &["INFO", "replication"]).unwrap_or_default();
                let up =
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384");
                let replicated = if repl.contains("role:master") {
                    repl.matches(",state=online,").count() >= replicas
                } else {
                    repl.contains("master_link_status:up")
                        && repl.contains("master_sync_in_progress:0")
                };
                if up && replicated {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not come up: {info}{repl}"
                );
                sleep(Duration::from_millis(100));
            }
        }
    }

    /// The nodes, in the order they were given to `--cluster create`.
    pub(crate) fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The node `i`, to kill and restart (a restarted node keeps its `nodes.conf`, so it
    /// rejoins the cluster; a former primary whose slots were taken over comes back as a
    /// replica).
    pub(crate) fn node_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.nodes[i]
    }

    /// The index of the live node that is primary for `key`'s slot now.
    pub(crate) fn primary_of(&self, key: &str) -> Option<usize> {
        self.nodes.iter().position(|n| {
            n.child.is_some()
                && command(n.port, &["INFO", "replication"])
                    .is_ok_and(|r| r.contains("role:master"))
                && command(n.port, &["EXISTS", key]).is_ok_and(|r| r.starts_with(':'))
        })
    }

    /// The index of the live node that replicates node `primary`.
    pub(crate) fn replica_of(&self, primary: usize) -> Option<usize> {
        let link = format!("master_port:{}\r\n", self.nodes[primary].port);
        self.nodes.iter().position(|n| {
            n.child.is_some()
                && command(n.port, &["INFO", "replication"])
                    .is_ok_and(|r| r.contains("role:slave") && r.contains(&link))
        })
    }

    /// `SCHEME://127.0.0.1:P1,127.0.0.1:P2,...`: every node.
    pub(crate) fn url(&self, scheme: &str) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("{scheme}://{}", hosts.join(","))
    }
}

/// A port free on 127.0.0.1 right now; for a cluster node, its bus port (+10000) is free too.
fn free_port(cluster: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a probe socket");
        let port = listener.local_addr().expect("probe address").port();
        if !cluster {
            return port;
        }
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Sends one command in RESP and returns what came back within a short time, raw.
fn command(port: u16, words: &[&str]) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut request = format!("*{}\r\n", words.len());
    for w in words {
        request.push_str(&format!("${}\r\n{w}\r\n", w.len()));
    }
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if complete(&reply) {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Whether `reply` holds one whole simple reply (status, error, integer or bulk string).
fn complete(reply: &[u8]) -> bool {
    let Some(line_end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    if reply[0] != b'$' {
        return true;
    }
    let len: i64 = std::str::from_utf8(&reply[1..line_end])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1);
    len < 0 || reply.len() >= line_end + 2 + len as usize + 2
}
