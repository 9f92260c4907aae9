//! `cargo run -p signalqueue-worker`: the worker with the example app linked in.

#[cfg(feature = "example-app")]
use examples as _;

fn main() -> std::process::ExitCode {
    signalqueue_worker::main()
}
