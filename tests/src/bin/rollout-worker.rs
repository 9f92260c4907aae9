//! The next release's two-line worker: the shop's receivers plus the `rollout` crate's new
//! signal and receivers (`shop-worker` is the release before it).
use audit_receivers as _;
use rollout as _;
use shop_receivers as _;
fn main() -> std::process::ExitCode {
    signalqueue_runner::main()
}
