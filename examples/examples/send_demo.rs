//! Run with: `cargo run -p examples --example send_demo` (then `cargo run -p signalqueue-worker`
//! handles what it queued). Places a few orders in the demo database (`demo.db` next to the
//! queue file) and sends `FORM_SUBMIT` for each, by reference, to the configured default queue
//! (`sqlite://signalqueue.db` when nothing is configured).

use std::process::ExitCode;

use examples::{DemoDb, TWO_ARGS};
use signalqueue::BoxError;

#[tokio::main]
async fn main() -> ExitCode {
    // Not `main() -> Result`: that prints the error's `Debug` form (`Config { origin: ... }`);
    // a user should read its message.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    // Loads signalqueue.toml / SIGNALQUEUE_* and opens the queues; fails here, not later.
    signalqueue::init().await?;
    let db = DemoDb::get().await?;
    let n: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    for i in 1..=n {
        let (order, signal) = db
            .checkout("send_demo".into(), "Sample".into(), i, i * 1000)
            .await?;
        println!("sent examples.form_submit {signal} (order {})", order.id);
    }
    let sent = TWO_ARGS.send(7, "x".into()).await?;
    println!("sent demo.two_args {}", sent.id());
    Ok(())
}
