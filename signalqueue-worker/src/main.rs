//! `cargo run -p signalqueue-worker`: the worker with the example app linked in. A worker of your
//! own is this file without the `examples` line: depend on `signalqueue-runner` and link your
//! crates instead.

// Linked for its signals and receivers (registered at link time); nothing is called by name.
use examples as _;

fn main() -> std::process::ExitCode {
    signalqueue_runner::main()
}
