use signalqueue::async_signal;

#[async_signal(schedule = "0 61 * * * *")]
pub static SWEEP_CARTS: SweepCarts;

fn main() {}
