//! Redis's own figures on this machine, now: `redis-benchmark -t lpush,rpop -q` against the
//! same server, unpipelined (50 clients), pipelined 16 deep, and with one client awaiting each
//! reply. On a shared machine, ratios to figures measured in the same run are what compare.

use std::collections::BTreeMap;
use std::process::Command;

use crate::report::median;

/// The baselines, by name (`lpush`, `rpop`, `lpush_p16`, `rpop_p16`, `lpush_c1`): the median
/// operations per second over the runs, and each run's figure.
pub(crate) type Baselines = BTreeMap<String, Vec<f64>>;

/// One way of running `redis-benchmark`.
struct Config {
    suffix: &'static str,
    args: &'static [&'static str],
    tests: &'static str,
    /// Requests per run in a full and in a quick bench.
    n: (u64, u64),
}

const CONFIGS: [Config; 3] = [
    Config {
        suffix: "",
        args: &[],
        tests: "lpush,rpop",
        n: (200_000, 5_000),
    },
    Config {
        suffix: "_p16",
        args: &["-P", "16"],
        tests: "lpush,rpop",
        n: (2_000_000, 50_000),
    },
    Config {
        suffix: "_c1",
        args: &["-c", "1"],
        // rpop too, so the list `redis-benchmark` fills is emptied again.
        tests: "lpush,rpop",
        n: (50_000, 2_000),
    },
];

/// Runs the baselines `runs` times; `Err` says why there are none (no `redis-benchmark`...).
pub(crate) fn measure(redis_url: &str, runs: usize, quick: bool) -> Result<Baselines, String> {
    let url = url::Url::parse(redis_url).map_err(|e| format!("`{redis_url}`: {e}"))?;
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = url.port().unwrap_or(6379).to_string();
    let db = url.path().trim_start_matches('/');
    let db = if db.is_empty() { "0" } else { db }.to_string();
    let mut common = vec!["-h".to_string(), host, "-p".to_string(), port];
    common.extend(["--dbnum".to_string(), db]);
    if let Some(password) = url.password() {
        common.extend([
            "-a".to_string(),
            password.to_string(),
            "--no-auth-warning".into(),
        ]);
    }
    let mut out = Baselines::new();
    for _ in 0..runs {
        for config in &CONFIGS {
            let n = if quick { config.n.1 } else { config.n.0 };
            let output = Command::new("redis-benchmark")
                .args(&common)
                .args(config.args)
                .args(["-t", config.tests, "-n", &n.to_string(), "-q"])
                .output()
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        "redis-benchmark is not installed (Debian: redis-tools)".to_string()
                    }
                    _ => format!("cannot run redis-benchmark: {e}"),
                })?;
            if !output.status.success() {
                return Err(format!(
                    "redis-benchmark failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let parsed = parse(&text);
            if parsed.is_empty() {
                return Err(format!("cannot read redis-benchmark's output: {text:?}"));
            }
            for (test, rate) in parsed {
                out.entry(format!("{test}{}", config.suffix))
                    .or_default()
                    .push(rate);
            }
        }
    }
    Ok(out)
}

/// The median of one baseline.
pub(crate) fn get(baselines: &Baselines, name: &str) -> Option<f64> {
    baselines.get(name).map(|v| median(v))
}

/// `LPUSH: 98039.22 requests per second, p50=0.263 msec` lines (after the `\r`-separated
/// progress updates of `-q`): test name in lower case, requests per second.
fn parse(text: &str) -> Vec<(String, f64)> {
    text.split(['\r', '\n'])
        .filter_map(|line| {
            let (name, rest) = line.trim().split_once(": ")?;
            let rate = rest.strip_suffix(" requests per second").or_else(|| {
                rest.split_once(" requests per second")
                    .map(|(rate, _)| rate)
            })?;
            Some((name.to_ascii_lowercase(), rate.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quiet_output() {
        let text = "LPUSH: rps=0.0 (overall: nan) avg_msec=nan (overall: nan)\rLPUSH: 116279.07 requests per second, p50=0.223 msec\nRPOP: 120481.93 requests per second, p50=0.215 msec\n";
        assert_eq!(
            parse(text),
            vec![
                ("lpush".to_string(), 116279.07),
                ("rpop".to_string(), 120481.93)
            ]
        );
    }
}
