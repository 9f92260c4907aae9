//! A private Redis primary with one replica, for `send_64_replicas`: two `redis-server`
//! processes on free loopback ports, started for the measurement and killed after it, so
//! `WAIT` has a replica to count on and nothing else shares the servers.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The two servers; killed on drop.
pub(crate) struct ReplicaPair {
    primary_port: u16,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl ReplicaPair {
    /// Starts the primary, then the replica, and returns once the replica is in sync.
    pub(crate) fn start() -> Result<ReplicaPair, String> {
        let dir = tempfile::Builder::new()
            .prefix("sq-bench-replicas-")
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        let mut pair = ReplicaPair {
            primary_port: free_port()?,
            children: Vec::new(),
            _dir: dir,
        };
        let primary = pair.primary_port;
        pair.spawn(primary, None)?;
        let replica = free_port()?;
        pair.spawn(replica, Some(primary))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info = info_replication(replica).unwrap_or_default();
            // The replica's side says it is in sync before the primary counts it: after a
            // diskless sync the primary puts a replica online at its first `REPLCONF ACK`, up
            // to a second later, and until then `WAIT` counts 0 replicas (sends with
            // `replicas=1` would time out).
            let online = info_replication(primary)
                .unwrap_or_default()
                .contains("state=online");
            if info.contains("master_link_status:up")
                && info.contains("master_sync_in_progress:0")
                && online
            {
                warm_up(primary)?;
                return Ok(pair);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the replica on port {replica} did not sync: {info}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis://127.0.0.1:PORT/0` of the primary.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.primary_port)
    }

    fn spawn(&mut self, port: u16, replica_of: Option<u16>) -> Result<(), String> {
        let dir = self._dir.path().join(port.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"));
        if let Some(primary) = replica_of {
            cmd.args(["--replicaof", "127.0.0.1"])
                .arg(primary.to_string());
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run redis-server (is it installed?): {e}"))?;
        self.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while info_replication(port).is_err() {
            if Instant::now() > deadline {
                return Err(format!("redis-server on port {port} did not start"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for ReplicaPair {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One write and a `WAIT` for it, long enough to outlast a replica just put online: on Redis
/// 7.0 the first `WAIT` after a sync is answered only at the replica's periodic `REPLCONF ACK`
/// (about a second later), whatever the client, seen with raw sockets too (3 of 6 fresh pairs
/// by hand: ~580 ms and 0 replicas for `WAIT 1 500`; none once one write had been confirmed).
/// The measurement is of `WAIT` on a settled pair, as in production between failovers.
fn warm_up(primary: u16) -> Result<(), String> {
    let client =
        redis::Client::open(format!("redis://127.0.0.1:{primary}/0")).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    let (_, confirmed): ((), i64) = redis::pipe()
        .cmd("SET")
        .arg("sq-bench:warm-up")
        .arg(1)
        .cmd("WAIT")
        .arg(1)
        .arg(10_000)
        .query(&mut conn)
        .map_err(|e| e.to_string())?;
    if confirmed < 1 {
        return Err("the replica did not confirm a first write within 10 s".into());
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// `INFO replication` of the server on `port`, through the `redis` crate's blocking client.
fn info_replication(port: u16) -> Result<String, String> {
    let client =
        redis::Client::open(format!("redis://127.0.0.1:{port}/0")).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    redis::cmd("INFO")
        .arg("replication")
        .query(&mut conn)
        .map_err(|e| e.to_string())
}
