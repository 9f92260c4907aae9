//! PostgreSQL's own figures on this machine, now: `pgbench` against the same server, each
//! transaction one prepared `INSERT` of one row (a 48-byte `bytea`, the size of an encoded
//! `bench.noop`) into a table shaped like the queue's, committed: what one awaited send asks of
//! the server. With 1 client, 16 (the engine's pool size) and 64. The table lives in a private
//! schema, dropped afterwards; nothing else on the server is touched (no `pgbench -i`).

use std::path::PathBuf;

use crate::baseline::Baselines;
use crate::target::{drop_schema, pg_connect, pg_error};

/// One way of running `pgbench`: the name suffix, the clients, and the length of a run.
struct Config {
    name: &'static str,
    clients: u32,
    /// Seconds per run in a full bench; transactions per client in a quick one.
    secs: u32,
    quick_txs: u32,
}

const CONFIGS: [Config; 3] = [
    Config {
        name: "insert_c1",
        clients: 1,
        secs: 5,
        quick_txs: 50,
    },
    Config {
        name: "insert_c16",
        clients: 16,
        secs: 5,
        quick_txs: 5,
    },
    Config {
        name: "insert_c64",
        clients: 64,
        secs: 5,
        quick_txs: 5,
    },
];

/// Runs the baselines `runs` times against `url`; `Err` says why there are none.
pub(crate) async fn measure(url: &str, runs: usize, quick: bool) -> Result<Baselines, String> {
    let exe = find_pgbench()?;
    let schema = format!(
        "sqbench_{}_{:08x}_pgbench",
        std::process::id(),
        rand::random::<u32>()
    );
    let client = pg_connect(url).await?;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{schema}\";
             CREATE TABLE \"{schema}\".t (
                 id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 payload bytea  NOT NULL
             );"
        ))
        .await
        .map_err(|e| format!("cannot make the pgbench table: {}", pg_error(e)))?;
    drop(client);
    let result = run_all(&exe, url, &schema, runs, quick).await;
    drop_schema(url, &schema).await?;
    result
}

async fn run_all(
    exe: &PathBuf,
    url: &str,
    schema: &str,
    runs: usize,
    quick: bool,
) -> Result<Baselines, String> {
    let dir = tempfile::Builder::new()
        .prefix("sq-bench-pgbench-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let script = dir.path().join("insert.sql");
    let payload = "78".repeat(48);
    std::fs::write(
        &script,
        format!("INSERT INTO \"{schema}\".t (payload) VALUES ('\\x{payload}'::bytea);\n"),
    )
    .map_err(|e| format!("cannot write {script:?}: {e}"))?;
    let mut out = Baselines::new();
    for _ in 0..runs {
        for config in &CONFIGS {
            let clients = config.clients.to_string();
            // Two threads, as the machine has two cores; never more threads than clients.
            let threads = config.clients.min(2).to_string();
            let length = if quick {
                ["-t".to_string(), config.quick_txs.to_string()]
            } else {
                ["-T".to_string(), config.secs.to_string()]
            };
            let output = tokio::process::Command::new(exe)
                .args(["-n", "-M", "prepared", "-j", &threads, "-c", &clients])
                .args(&length)
                .arg("-f")
                .arg(&script)
                .arg(url)
                .output()
                .await
                .map_err(|e| format!("cannot run {exe:?}: {e}"))?;
            let text = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                return Err(format!(
                    "pgbench failed: {}{}",
                    String::from_utf8_lossy(&output.stderr).trim(),
                    text.trim()
                ));
            }
            let tps = parse_tps(&text)
                .ok_or_else(|| format!("cannot read pgbench's output: {text:?}"))?;
            out.entry(config.name.to_string()).or_default().push(tps);
        }
    }
    Ok(out)
}

/// `pgbench` on the `PATH`, else the newest under `/usr/lib/postgresql/*/bin` (Debian's).
fn find_pgbench() -> Result<PathBuf, String> {
    if std::process::Command::new("pgbench")
        .arg("--version")
        .output()
        .is_ok()
    {
        return Ok(PathBuf::from("pgbench"));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pgbench"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| "pgbench is not installed (Debian: postgresql-client)".to_string())
}

/// `tps = 1234.567890 (without initial connection time)`.
fn parse_tps(text: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("tps = ")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tps_line() {
        let text = "number of failed transactions: 0 (0.000%)\nlatency average = 1.161 ms\ninitial connection time = 2.335 ms\ntps = 861.238152 (without initial connection time)\n";
        assert_eq!(parse_tps(text), Some(861.238152));
    }
}
