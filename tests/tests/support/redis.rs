//! A private `redis-server` per test, for driving the worker binary against Redis.
//!
//! The server itself is the engine tests' helper (`signalqueue/tests/support/redis_server.rs`),
//! compiled in here too rather than copied: a free loopback port, its files in a temp directory,
//! `--appendonly yes --appendfsync always` on request, SIGKILL when dropped. It never touches a
//! Redis the machine runs (6379 or any other) and never stops a server it did not start.

#[path = "../../../signalqueue/tests/support/redis_server.rs"]
mod server;

// Only the test crates that run Redis use these.
#[allow(unused_imports)]
pub(crate) use server::{Persistence, RedisCluster, RedisServer};

/// Whether `redis-server` can be run here. When it cannot, says so loudly on stderr, naming
/// `test`, so a skipped test is never mistaken for a passing one (CI installs Redis).
pub fn available(test: &str) -> bool {
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!(
            "\n!!!!!!!! SKIPPED {test}: `redis-server` is not installed (apt-get install redis-server) !!!!!!!!\n"
        );
    }
    found
}
