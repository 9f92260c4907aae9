//! A two-line worker that links only the `clock` crate's every-second periodic signal.
use clock as _;
fn main() -> std::process::ExitCode {
    signalqueue_runner::main()
}
