//! The two-line worker a user writes: it links the crates whose receivers it runs.
use audit_receivers as _;
use shop_receivers as _;
fn main() -> std::process::ExitCode {
    signalqueue_runner::main()
}
