//! A private PostgreSQL server for tests that stop and start it (crash and restart).
//!
//! `initdb` makes a cluster in a temporary directory and `pg_ctl` runs it on a free loopback
//! port, with its socket and log in that directory, so it shares nothing with a PostgreSQL the
//! machine runs. PostgreSQL refuses to run as root; when the tests run as root the commands run
//! as the `postgres` user (`runuser`), which then owns the directory. The server is stopped
//! (`pg_ctl stop -m immediate`) when dropped. Needs the server binaries of Debian's
//! `postgresql-NN` package (`/usr/lib/postgresql/NN/bin`).

// Each test crate uses a different subset of the helpers.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a server may take to start (crash recovery included) on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One private PostgreSQL server.
pub(crate) struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Run the commands as the `postgres` user (the tests run as root).
    as_postgres: bool,
    /// Accepts TLS connections only, with the certificate `cert.pem` for `localhost`.
    tls: bool,
    running: bool,
}

impl PostgresServer {
    /// Makes a cluster and starts it; `None` (after saying why) when the server binaries are
    /// not installed, unless `SIGNALQUEUE_REQUIRE_POSTGRES=1`, which makes that a panic.
    pub(crate) fn start() -> Option<PostgresServer> {
        PostgresServer::start_with(false)
    }

    /// Like [`PostgresServer::start`], but the server accepts TCP connections over TLS only,
    /// with a self-signed certificate for `localhost` made by the `openssl` command (its PEM
    /// file is [`PostgresServer::certificate`]).
    pub(crate) fn start_tls() -> Option<PostgresServer> {
        PostgresServer::start_with(true)
    }

    fn start_with(tls: bool) -> Option<PostgresServer> {
        let Some(bin) = find_bin() else {
            let why = "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)";
            if std::env::var("SIGNALQUEUE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (SIGNALQUEUE_REQUIRE_POSTGRES=1): {why}");
            }
            eprintln!("\n*** SKIPPED: {why} ***\n");
            return None;
        };
        let dir = tempfile::tempdir().expect("temporary directory for PostgreSQL");
        let as_postgres = is_root();
        if as_postgres {
            let out = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .output()
                .expect("run chown");
            assert!(out.status.success(), "chown: {}", text(&out));
        }
        let mut server = PostgresServer {
            bin,
            dir,
            port: 0,
            as_postgres,
            tls,
            running: false,
        };
        let data = server.data();
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        if tls {
            server.make_certificate();
        }
        // A free port can be taken between the probe and the server's bind: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.launch() {
                Ok(()) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!("PostgreSQL did not start: {last_error}");
    }

    /// The server's port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres?schema=SCHEMA`.
    pub(crate) fn url(&self, schema: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?schema={schema}",
            self.port
        )
    }

    /// The PEM file of the server's certificate (TLS servers only).
    pub(crate) fn certificate(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The server's log so far, for assertion messages.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`): no checkpoint,
    /// so the next start replays the write-ahead log.
    pub(crate) fn kill(&mut self) {
        if !self.running {
            return;
        }
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .expect("run pg_ctl stop");
        assert!(out.status.success(), "pg_ctl stop failed: {}", text(&out));
        self.running = false;
    }

    /// Starts the server again on the same port and data directory.
    pub(crate) fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.launch() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("PostgreSQL did not restart: {e}"),
                // Right after a stop the port may not be bindable yet for a moment.
                Err(_) => sleep(Duration::from_millis(200)),
            }
        }
    }

    /// A self-signed certificate for `localhost`, and a `pg_hba.conf` that refuses TCP
    /// connections without TLS.
    fn make_certificate(&self) {
        let dir = self.dir.path();
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
            ])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stdin(Stdio::null())
            .output()
            .expect("cannot run openssl (is it installed?)");
        assert!(out.status.success(), "openssl req failed: {}", text(&out));
        std::fs::write(
            self.data().join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostssl all all ::1/128 trust\n\
             hostnossl all all 0.0.0.0/0 reject\n\
             hostnossl all all ::/0 reject\n",
        )
        .expect("write pg_hba.conf");
        // PostgreSQL wants its key readable by its own user only.
        for file in ["key.pem", "cert.pem"] {
            let path = dir.join(file);
            if self.as_postgres {
                let out = Command::new("chown")
                    .arg("postgres:")
                    .arg(&path)
                    .output()
                    .expect("run chown");
                assert!(out.status.success(), "chown: {}", text(&out));
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn launch(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            dir.display()
        );
        if self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            ));
        }
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(dir.join("server.log"))
            .args([
                "-w",
                "-t",
                &START_TIMEOUT.as_secs().to_string(),
                "-o",
                &options,
            ])
            .arg("start")
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if !out.status.success() {
            return Err(format!("pg_ctl start: {}\n{}", text(&out), self.log()));
        }
        self.running = true;
        Ok(())
    }

    /// A command of the server's binaries, run as `postgres` when the tests run as root.
    fn command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        };
        // pg_ctl's server keeps running after pg_ctl exits: it must not hold the test's pipes.
        cmd.stdin(Stdio::null()).current_dir(self.dir.path());
        cmd
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

/// The newest `/usr/lib/postgresql/NN/bin` holding `initdb`.
fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a probe socket");
    listener.local_addr().expect("probe address").port()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
