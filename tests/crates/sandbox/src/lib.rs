//! Running worker binaries in a sandbox: a temp directory as working directory (so the default
//! `sqlite://signalqueue.db` lands there), none of the caller's SIGNALQUEUE_* variables, and
//! a generous deadline on every process so a hung one fails the test instead of hanging it.
//!
//! Shared by the integration tests of `signalqueue-worker` and of `signalqueue-tests`.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signalqueue::engine::{EngineOptions, SharedEngine};

/// Long enough for a loaded 2-core machine; only reached when something is broken.
pub const DEADLINE: Duration = Duration::from_secs(180);

/// A temporary working directory for the processes of one test.
pub struct Sandbox {
    /// The directory; removed when the sandbox is dropped.
    pub dir: tempfile::TempDir,
}

/// A finished process.
#[derive(Debug)]
pub struct Out {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Out {
    /// The exit code; -1 when ended by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Asserts success, showing everything the process said if not.
    pub fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "process failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Sandbox {
    /// A sandbox with `signalqueue.toml` holding `config`, or none (the defaults).
    pub fn new(config: Option<&str>) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        if let Some(text) = config {
            std::fs::write(dir.path().join("signalqueue.toml"), text).expect("write config");
        }
        Sandbox { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `name` in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A command running `bin` in the sandbox.
    pub fn command(&self, bin: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("SIGNALQUEUE_CONFIG")
            .env_remove("SIGNALQUEUE_URL")
            .env_remove("SIGNALQUEUE_RUNMODE")
            .env_remove("SIGNALQUEUE_CODEC")
            .env("RUST_LOG", "info")
            .env("SQ_TEST_JOURNAL", self.file("journal.txt"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `bin` to completion (within [`DEADLINE`]).
    pub fn run(&self, bin: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Out {
        let child = self.command(bin, args).spawn().expect("spawn");
        Running::new(child).wait()
    }

    /// Runs `bin` to completion (within [`DEADLINE`]) with these environment variables added.
    pub fn run_env(
        &self,
        bin: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Out {
        let mut cmd = self.command(bin, args);
        cmd.envs(env.iter().copied());
        Running::new(cmd.spawn().expect("spawn")).wait()
    }

    /// Starts `bin` and returns at once.
    pub fn start(&self, bin: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Running {
        Running::spawn(self.command(bin, args))
    }

    /// The sandbox's default queue, opened from this process (SQLite is shared by file).
    pub async fn engine(&self, queue: &str) -> SharedEngine {
        let url = format!("sqlite://{}", self.file("signalqueue.db").display());
        signalqueue::engine::open(&url, EngineOptions::new(queue))
            .await
            .expect("open the sandbox's queue")
    }

    /// The journal's lines (what the test receivers recorded).
    pub fn journal(&self) -> Vec<String> {
        std::fs::read_to_string(self.file("journal.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until `cond` holds on the journal (within [`DEADLINE`]).
    pub fn wait_journal(&self, what: &str, cond: impl Fn(&[String]) -> bool) {
        self.wait_journal_showing(what, cond, String::new);
    }

    /// [`Sandbox::wait_journal`], and on a timeout `more()` too (what a process logged, say).
    pub fn wait_journal_showing(
        &self,
        what: &str,
        cond: impl Fn(&[String]) -> bool,
        more: impl Fn() -> String,
    ) {
        let start = Instant::now();
        loop {
            if cond(&self.journal()) {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; journal:\n{}\n{}",
                self.journal().join("\n"),
                more()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The line of a worker's banner that counts what it links (`registered: N signals, M
/// receivers`), as this process's registry counts it: a test binary links the same crates as
/// the worker binary it runs.
pub fn registered_banner() -> String {
    let registry = signalqueue::Registry::global();
    format!(
        "registered: {} signals, {} receivers",
        registry.signals().count(),
        registry.receiver_count()
    )
}

/// A running process whose output is collected as it comes (so a full pipe never blocks it).
pub struct Running {
    /// The process.
    pub child: Child,
    /// Taken by [`Running::wait`].
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
    stderr_so_far: Arc<Mutex<String>>,
}

/// A test that fails while its processes run (a timed-out wait panics) would otherwise leave
/// them running after it, polling their queues for the rest of the test run.
impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    /// Starts `cmd` (made by [`Sandbox::command`], perhaps with more settings) and returns at
    /// once.
    pub fn spawn(mut cmd: Command) -> Running {
        Running::new(cmd.spawn().expect("spawn"))
    }

    fn new(mut child: Child) -> Running {
        let mut out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let stderr_so_far = Arc::new(Mutex::new(String::new()));
        let sink = stderr_so_far.clone();
        Running {
            stderr_so_far,
            child,
            stdout: Some(std::thread::spawn(move || {
                let mut s = String::new();
                let _ = out.read_to_string(&mut s);
                s
            })),
            stderr: Some(std::thread::spawn(move || {
                let mut lines = std::io::BufReader::new(err);
                let mut line = String::new();
                while matches!(lines.read_line(&mut line), Ok(n) if n > 0) {
                    sink.lock().unwrap().push_str(&line);
                    line.clear();
                }
                let all = sink.lock().unwrap().clone();
                all
            })),
        }
    }

    /// What the process has written to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr_so_far.lock().unwrap().clone()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits until the process has written `text` to stderr (within [`DEADLINE`]).
    pub fn wait_stderr(&self, text: &str) {
        let start = Instant::now();
        while !self.stderr_so_far.lock().unwrap().contains(text) {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {text:?} on stderr:\n{}",
                self.stderr_so_far.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to end (within [`DEADLINE`], else kills it and fails).
    pub fn wait(mut self) -> Out {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "process did not end within {DEADLINE:?}\n--- stdout\n{}\n--- stderr\n{}",
                    joined(self.stdout.take()),
                    joined(self.stderr.take())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Out {
            status,
            stdout: joined(self.stdout.take()),
            stderr: joined(self.stderr.take()),
        }
    }
}

/// What a reader thread collected (nothing if it panicked or was taken already).
fn joined(reader: Option<std::thread::JoinHandle<String>>) -> String {
    reader.and_then(|r| r.join().ok()).unwrap_or_default()
}
