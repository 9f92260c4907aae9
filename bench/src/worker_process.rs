//! The worker under test: this same executable, re-executed as a real worker process
//! (`signalqueue_runner::main()` with the bench's receivers linked in), configured through a
//! temporary `signalqueue.toml` to serve the run's private queue.
//!
//! It is an ordinary `run`: banner, admin server (on a free port), default concurrency, the
//! reliable path (claims under lease, acknowledgements after the receivers).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::signals::{INCR_KEY_ENV, INCR_URL_ENV, SAMPLES_ENV};
use crate::target::Target;

/// Set in the environment of the re-executed process: it then runs as the worker.
pub(crate) const ROLE_ENV: &str = "SQ_BENCH_ROLE";

/// How long a worker may take to print its banner.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running worker process; killed if dropped without [`WorkerProcess::stop`].
pub(crate) struct WorkerProcess {
    child: Child,
    /// When its banner was complete: it claims from then on.
    pub(crate) ready_at: Instant,
    /// The file its receivers append latency samples to.
    pub(crate) samples: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// How the worker is run.
#[derive(Clone, Debug)]
pub(crate) struct WorkerSettings {
    /// `RUST_LOG` for the worker (its default is `info`: one line per signal).
    pub(crate) log: String,
    /// `[worker] concurrency`; `None`: the worker's default.
    pub(crate) concurrency: Option<usize>,
}

/// Peak and current resident memory of a process, in MiB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Memory {
    pub(crate) peak_mib: f64,
    pub(crate) now_mib: f64,
}

impl WorkerProcess {
    /// Starts a worker on `target`'s queue and waits for its banner.
    pub(crate) fn start(target: &Target, settings: &WorkerSettings) -> Result<Self, String> {
        WorkerProcess::start_with_outbox(target, settings, None)
    }

    /// [`WorkerProcess::start`], relaying the outbox at `outbox` (`[outbox] url`) too.
    pub(crate) fn start_with_outbox(
        target: &Target,
        settings: &WorkerSettings,
        outbox: Option<&str>,
    ) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("sq-bench-worker-")
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        let config = dir.path().join("signalqueue.toml");
        // `default` must exist in every configuration; an in-memory one touches nothing.
        let mut text = format!(
            "[queues.default]\nurl = \"memory://sq-bench-unused\"\n\n[queues.\"{}\"]\nurl = \"{}\"\n",
            target.queue,
            toml_string(&target.url)
        );
        if let Some(url) = outbox {
            text.push_str(&format!("\n[outbox]\nurl = \"{}\"\n", toml_string(url)));
        }
        if let Some(n) = settings.concurrency {
            text.push_str(&format!("\n[worker]\nconcurrency = {n}\n"));
        }
        std::fs::write(&config, text).map_err(|e| format!("cannot write {config:?}: {e}"))?;
        let samples = dir.path().join("samples");
        let log = dir.path().join("worker.log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("cannot create {log:?}: {e}"))?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find sq-bench: {e}"))?;
        let mut command = Command::new(exe);
        if let Some(url) = target.redis_url() {
            // For the `INCR` receiver (`drain_incr`): the same Redis, a key of the queue's.
            command
                .env(INCR_URL_ENV, url)
                .env(INCR_KEY_ENV, target.incr_key());
        }
        let mut child = command
            .env(ROLE_ENV, "worker")
            .env("SIGNALQUEUE_CONFIG", &config)
            .env_remove("SIGNALQUEUE_URL")
            .env_remove("SIGNALQUEUE_RUNMODE")
            .env_remove("SIGNALQUEUE_CODEC")
            .env("RUST_LOG", &settings.log)
            .env(SAMPLES_ENV, &samples)
            .args(["run", "127.0.0.1:0", "-n", &target.queue])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start the worker: {e}"))?;

        // The banner's last line says the worker is about to claim. Read on a thread, which
        // then keeps draining stdout so the worker never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.trim_start().starts_with("concurrency") {
                    let _ = tx.send(());
                }
            }
        });
        let ready = rx.recv_timeout(START_TIMEOUT);
        let mut worker = WorkerProcess {
            child,
            ready_at: Instant::now(),
            samples,
            log,
            _dir: dir,
        };
        if ready.is_err() {
            let log = worker.log_tail();
            let _ = worker.child.kill();
            let _ = worker.child.wait();
            return Err(format!("the worker did not start; its log ends:\n{log}"));
        }
        Ok(worker)
    }

    /// The process's peak (`VmHWM`) and current (`VmRSS`) resident memory.
    pub(crate) fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        };
        Some(Memory {
            peak_mib: field("VmHWM:")?,
            now_mib: field("VmRSS:")?,
        })
    }

    /// CPU time the process has used so far (user and system, every thread), in seconds.
    pub(crate) fn cpu_secs(&self) -> Option<f64> {
        process_cpu_secs(self.child.id())
    }

    /// Stops the worker as an operator would (SIGTERM, a graceful stop), killing it if it
    /// has not exited within 15 s. Errors if it exited with a failure.
    pub(crate) fn stop(mut self) -> Result<(), String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(format!(
                        "the worker exited with {status}; its log ends:\n{}",
                        self.log_tail()
                    ))
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = self.child.kill();
                    return Err("the worker did not stop within 15 s of SIGTERM".into());
                }
            }
        }
    }

    /// The last lines of the worker's log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        tail(&self.log, 20)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        // Never leave a worker behind, whatever went wrong.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `utime + stime` of process `pid` from `/proc/PID/stat`, in seconds.
pub(crate) fn process_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file; `rest` starts at field 3.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Clock ticks of USER_HZ, which the kernel's ABI fixes at 100 on Linux.
    Some(ticks as f64 / 100.0)
}

/// `text` escaped for a TOML basic string.
fn toml_string(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
