//! Support for the worker's integration tests: the shared process sandbox, and the examples
//! crate's binaries.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub mod pg_schema;

/// The shared PostgreSQL server of the tests (each test in a schema of its own, `pg_schema`).
pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

// Each test crate uses some of these.
#[allow(unused_imports)]
pub use sandbox::{registered_banner, Out, Running, Sandbox, DEADLINE};

/// The built example `name` of the `examples` crate (`cargo run -p examples --example NAME`).
/// `cargo test` builds examples, so it is usually there; it is built here when missing or
/// older than the sources it is made of. (Building it every time would not be free: under
/// `cargo test --workspace` the dev-dependencies' features differ from a plain build, so a
/// plain build would recompile half the workspace.)
pub fn example(name: &str) -> PathBuf {
    // One build at a time: tests of one binary run in parallel.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    // This test binary is TARGET/PROFILE/deps/NAME-HASH.
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("profile dir");
    let target_dir = profile_dir.parent().expect("target dir");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources =
        ["examples", "signalqueue/src", "signalqueue-macros/src"].map(|d| workspace.join(d));
    let fresh = modified(&path).is_some_and(|built| sources.iter().all(|d| newest(d) <= built));
    if !fresh {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "examples", "--example", name, "--target-dir"])
            .arg(target_dir)
            .arg("--manifest-path")
            .arg(workspace.join("Cargo.toml"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "cannot build the {name} example");
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of any file under `dir`.
fn newest(dir: &Path) -> std::time::SystemTime {
    let mut latest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest(&path)
        } else {
            modified(&path).unwrap_or(latest)
        };
        latest = latest.max(t);
    }
    latest
}
