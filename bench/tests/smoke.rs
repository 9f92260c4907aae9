//! `sq-bench --quick` runs, prints one well-formed JSON object per measurement, and leaves no
//! key or schema behind. No figure is checked: speed on a shared machine is not a test result.
//! Without a Redis on 127.0.0.1:6379 it measures no Redis (CI starts one); without a PostgreSQL
//! on 127.0.0.1:5432 (trust auth, database `test`) no PostgreSQL, unless
//! `SIGNALQUEUE_REQUIRE_POSTGRES=1`, which makes that a failure.

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sq-bench");
const REDIS: &str = "redis://127.0.0.1:6379/0";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn redis_up() -> bool {
    std::net::TcpStream::connect(("127.0.0.1", 6379)).is_ok()
}

/// Whether PostgreSQL answers a query (a port that accepts is not enough: it may refuse us).
fn postgres_up() -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let Ok(Ok((client, connection))) = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio_postgres::connect(POSTGRES, tokio_postgres::NoTls),
        )
        .await
        else {
            return false;
        };
        tokio::spawn(connection);
        client.simple_query("SELECT 1").await.is_ok()
    })
}

/// The schemas named `sqbench_PID_...` left on the server.
fn postgres_schemas_left(pid: u32) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(POSTGRES, tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        tokio::spawn(connection);
        client
            .query(
                "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)",
                &[&format!("sqbench_{pid}_")],
            )
            .await
            .expect("list schemas")
            .iter()
            .map(|row| row.get(0))
            .collect()
    })
}

#[test]
fn quick_bench_prints_json_measurements_and_cleans_up() {
    let redis = redis_up();
    if !redis {
        eprintln!("note: no Redis on 127.0.0.1:6379; not measuring Redis");
    }
    let postgres = postgres_up();
    if !postgres {
        assert!(
            std::env::var("SIGNALQUEUE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "no PostgreSQL answers at {POSTGRES}, and SIGNALQUEUE_REQUIRE_POSTGRES=1 requires it"
        );
        eprintln!("note: no PostgreSQL at {POSTGRES}; not measuring PostgreSQL (SIGNALQUEUE_REQUIRE_POSTGRES=1 makes this a failure)");
    }
    let mut cmd = Command::new(BIN);
    cmd.args(["--quick", "--redis", REDIS, "--postgres", POSTGRES]);
    let mut engines = vec!["sqlite"];
    if redis {
        engines.insert(0, "redis");
    }
    if postgres {
        engines.push("postgres");
    }
    cmd.args(["--only", &engines.join(",")]);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sq-bench");
    let pid = child.id();
    let out = child.wait_with_output().expect("run sq-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sq-bench failed:\n{stderr}");

    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut names = Vec::new();
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for field in ["name", "engine", "unit"] {
            assert!(v[field].is_string(), "`{field}` missing in {line}");
        }
        for field in ["n", "median", "runs", "load1"] {
            assert!(v[field].is_number(), "`{field}` missing in {line}");
        }
        // Latencies in ms carry their distribution; `send_in_*_added_ms` is a difference of two
        // medians per run (what `send_in` adds to a transaction), which has none.
        let added = v["name"].as_str().is_some_and(|n| n.ends_with("_added_ms"));
        if v["unit"] == "ms" && !added {
            for field in ["p50", "p99", "p999"] {
                assert!(v[field].is_number(), "`{field}` missing in {line}");
            }
        }
        names.push(format!(
            "{}/{}",
            v["engine"].as_str().unwrap(),
            v["name"].as_str().unwrap()
        ));
    }
    for engine in &engines {
        for name in [
            "send_seq",
            "send_64",
            "send_many",
            "drain_noop",
            "drain_fanout4",
            "drain_1kib",
            "drain_noop_worker_rss_peak",
            "drain_noop_worker_cpu",
            "worker_rss_idle",
            "latency_5k",
            "idle_wakeup",
        ] {
            let want = format!("{engine}/{name}");
            assert!(names.contains(&want), "no {want} in:\n{stdout}\n{stderr}");
        }
    }

    if postgres {
        let mut wanted = vec![
            "drain_noop_postgres_cpu",
            "send_in_seq_app_only",
            "send_in_seq",
            "send_in_seq_added",
            "send_in_8_app_only",
            "send_in_8",
            "send_in_8_added",
            "outbox_relay",
        ];
        // The baseline needs `pgbench` (Debian's postgresql-client); without it the bench says
        // so and measures the rest.
        let pgbench = Command::new("pgbench").arg("--version").output().is_ok()
            || std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.path().join("bin/pgbench").exists());
        if pgbench {
            wanted.push("pgbench_insert_c1");
        }
        for name in wanted {
            let want = format!("postgres/{name}");
            assert!(names.contains(&want), "no {want} in:\n{stdout}\n{stderr}");
        }
        let left = postgres_schemas_left(pid);
        assert!(left.is_empty(), "schemas left behind: {left:?}");
    }

    if redis {
        let mut wanted = vec!["drain_noop_redis_cpu"];
        // The baseline needs `redis-benchmark` (Debian's redis-tools, which redis-server
        // depends on); without it the bench says so and measures the rest.
        if Command::new("redis-benchmark")
            .arg("--version")
            .output()
            .is_ok()
        {
            wanted.push("redis_benchmark_lpush");
        }
        for name in wanted {
            let want = format!("redis/{name}");
            assert!(names.contains(&want), "no {want} in:\n{stdout}\n{stderr}");
        }
        // Every queue of that run was named `sqbench-PID-...`: none of its keys may remain.
        let client = redis::Client::open(REDIS).unwrap();
        let mut conn = client.get_connection().unwrap();
        let left: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{sq:sqbench-{pid}-*"))
            .query(&mut conn)
            .unwrap();
        assert!(left.is_empty(), "keys left behind: {left:?}");
    }
}
