use signalqueue::async_signal;

#[async_signal(every = "30 seconds please")]
pub static SWEEP_CARTS: SweepCarts;

fn main() {}
