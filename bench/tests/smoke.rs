//! `sq-bench --quick` runs, prints one well-formed JSON object per measurement, and leaves no
//! key behind. No figure is checked: speed on a shared machine is not a test result.
//! Without a Redis on 127.0.0.1:6379 it runs the SQLite half only (CI starts one).

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sq-bench");
const REDIS: &str = "redis://127.0.0.1:6379/0";

fn redis_up() -> bool {
    std::net::TcpStream::connect(("127.0.0.1", 6379)).is_ok()
}

#[test]
fn quick_bench_prints_json_measurements_and_cleans_up() {
    let redis = redis_up();
    if !redis {
        eprintln!("note: no Redis on 127.0.0.1:6379; measuring SQLite only");
    }
    let mut cmd = Command::new(BIN);
    cmd.args(["--quick", "--redis", REDIS]);
    if !redis {
        cmd.args(["--only", "sqlite"]);
    }
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
        if v["unit"] == "ms" {
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
    let engines: &[&str] = if redis {
        &["redis", "sqlite"]
    } else {
        &["sqlite"]
    };
    for engine in engines {
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
