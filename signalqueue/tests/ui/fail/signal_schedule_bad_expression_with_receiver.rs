use signalqueue::{async_signal, receiver, BoxError, Delivery};

#[async_signal(schedule = "*/10 * * * * * *")]
pub static SWEEP_CARTS: SweepCarts;

#[receiver(SWEEP_CARTS)]
async fn sweep(delivery: &Delivery) -> Result<(), BoxError> {
    let _ = delivery.scheduled_for();
    Ok(())
}

async fn send() {
    let _ = SWEEP_CARTS.send().await;
}

fn main() {
    let _ = send;
}
