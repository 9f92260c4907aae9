//! Run with: `cargo run -p examples --example send_demo` (then `cargo run -p signalqueue-worker`
//! handles what it queued). Sends a few signals to the configured default queue
//! (`sqlite://signalqueue.db` when nothing is configured).

use examples::{Order, FORM_SUBMIT, TWO_ARGS};

#[tokio::main]
async fn main() -> Result<(), signalqueue::Error> {
    // Loads signalqueue.toml / SIGNALQUEUE_* and opens the queues; fails here, not later.
    signalqueue::init().await?;
    let n: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    for id in 1..=n {
        let sent = FORM_SUBMIT
            .send(Order {
                id,
                total_cents: id * 1000,
            })
            .await?;
        println!("sent examples.form_submit {}", sent.id());
    }
    let sent = TWO_ARGS.send(7, "x".into()).await?;
    println!("sent demo.two_args {}", sent.id());
    Ok(())
}
